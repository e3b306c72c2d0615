//! `ardent pipeline` and `ardent demo`: train (and search) a family with ARD, export the
//! collapsed member dense and compact, fine-tune the compact one, export it again, and compare
//! them in tract. Each stage calls what its command calls, with the settings that command would
//! be given, so the folder it leaves holds exactly what those commands write.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use serde::Serialize;

use ardent_data::Source;
use ardent_exporter::sweep::{SweepJob, Thresholds};
use ardent_exporter::{ExportOptions, Storage};
use ardent_models::Checkpoint;
use ardent_runtime::args::{int_in, non_negative, term_weight};
use ardent_runtime::bench::{BenchOptions, bench};
use ardent_runtime::{LoadOptions, Model};
use ardent_trainer::job::{self, FinetuneJob, RunOptions, TrainJob};

use super::report::EpochLog;
use super::train::{DataArgs, PresetArg, Printer, summarize};

/// The spec `ardent demo` searches, built in so the demo runs from any directory.
const DEMO_SPEC: &str = include_str!("../../models/zoo/mlp-search-weights.toml");

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model-family spec (TOML).
    #[arg(long)]
    model: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    #[command(flatten)]
    budget: Budget,
}

/// The demo's budget: the pipeline's settings, tuned for the 1,797 digits. The defaults (80
/// epochs, λ_prior^L 0.3, warm-up 20) were chosen by measurement on three seeds: a compact
/// model 7.7–8.5× smaller than the dense one, none less accurate after fine-tuning, in about
/// 30 s (BENCHMARKS.md, "The demo's recipe").
#[derive(clap::Args, Debug)]
pub struct DemoArgs {
    /// The folder for checkpoints, ONNX files, reports and the summary (created).
    #[arg(long, default_value = "ardent-demo")]
    out: PathBuf,
    /// Training epochs (searched edges wait for the first quarter).
    #[arg(long, default_value_t = 80, value_parser = int_in::<1, 1_000_000>)]
    epochs: usize,
    #[arg(long, default_value_t = 10, value_parser = int_in::<1, 1_000_000>)]
    finetune_epochs: usize,
    /// λ_prior^L, the weight of the ARD prior.
    #[arg(long, default_value_t = 0.3, value_parser = term_weight)]
    kl_weight: f64,
    /// Epochs over which the KL weight rises from 0.
    #[arg(long, default_value_t = 20.0, value_parser = non_negative)]
    warmup: f64,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// What every pipeline run shares.
#[derive(clap::Args, Debug, Clone)]
struct Budget {
    /// The folder for checkpoints, ONNX files, reports and the summary (created).
    #[arg(long, default_value = "ardent-out")]
    out: PathBuf,
    /// Training epochs (searched edges wait for the first quarter).
    #[arg(long, default_value_t = 40, value_parser = int_in::<1, 1_000_000>)]
    epochs: usize,
    /// Fine-tuning epochs of the compact member.
    #[arg(long, default_value_t = 10, value_parser = int_in::<1, 1_000_000>)]
    finetune_epochs: usize,
    /// λ_prior^L, the weight of the ARD prior.
    #[arg(long, default_value_t = 0.33, value_parser = term_weight)]
    kl_weight: f64,
    /// Epochs over which the KL weight rises from 0 (default: `train`'s, half the epochs).
    #[arg(long, value_parser = non_negative)]
    warmup: Option<f64>,
    /// The objective's preset, as for `ardent train`.
    #[arg(long, value_enum, default_value = "elbo")]
    preset: PresetArg,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

/// One exported model in the summary.
#[derive(Debug, Serialize)]
struct Row {
    model: &'static str,
    file: PathBuf,
    accuracy: Option<f64>,
    params: usize,
    file_bytes: usize,
    flops: u64,
    /// Median latency of one sample in tract, one thread, microseconds.
    latency_us: f64,
    /// The dense model's latency over this one's (above 1: faster than dense).
    speed_against_dense: f64,
}

fn path(p: &Path) -> String {
    p.display().to_string()
}

/// Exports `checkpoint` as `stage` into `out` (the ONNX file and its JSON report), measured
/// on `data`, with `lambda` and `storage` where the stage asks for them.
fn export(
    stage: &'static str,
    checkpoint: &Path,
    out: &Path,
    data: &Source,
    settings: Option<(f64, Storage)>,
) -> Result<Row> {
    let onnx = out.join(format!("{stage}.onnx"));
    let report = out.join(format!("{stage}.json"));
    let ck = Checkpoint::read(checkpoint)?;
    let defaults = ExportOptions::default();
    let (lambda, storage) = settings.unwrap_or((defaults.lambda, defaults.storage));
    let options = ExportOptions {
        lambda,
        storage,
        data: Some(super::export::evaluation_samples(data, &ck)?),
        ..defaults
    };
    let to = super::export::Outputs {
        model: &onnx,
        nnef: None,
        report: Some(&report),
    };
    let r = super::export::export_and_write(&ck, &path(checkpoint), &options, to)
        .with_context(|| format!("exporting the {stage} model"))?
        .report;
    // Fixed at one sample, as `ardent-run bench --batch 1` plans it for a deployment.
    let model = Model::load_path(
        &onnx,
        LoadOptions {
            batch: Some(1),
            ..LoadOptions::default()
        },
    )?;
    let sample = vec![0.5f32; model.input_size()];
    let timing = bench(&model, &sample, 1, BenchOptions::default())?;
    Ok(Row {
        model: stage,
        file: onnx,
        accuracy: r.accuracy,
        params: r.params_after,
        file_bytes: r.file_bytes,
        flops: r.flops_after,
        latency_us: timing.p50_us,
        speed_against_dense: f64::NAN,
    })
}

/// Runs the stages: training and fine-tuning read `data`, the exports and the sweep measure
/// on all of it (its test split, or each checkpoint's validation split).
fn run_pipeline(spec: &Path, data: &Source, budget: &Budget) -> Result<()> {
    let family = ardent_models::Family::from_path(spec)?;
    if matches!(family.task, ardent_models::Task::Vae { .. }) {
        bail!(
            "{}: the pipeline exports, benchmarks and sweeps one file per stage; a VAE exports as an encoder and a decoder: run `ardent train`, `ardent export` and `ardent viz vae`",
            spec.display()
        );
    }
    let out = &budget.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let trained = out.join("trained.safetensors");
    let finetuned = out.join("finetuned.safetensors");
    let searched = family.edges.iter().any(|e| e.structure.is_searched());
    let export_from = Source {
        max_samples: None,
        ..data.clone()
    };

    eprintln!("== train {}", spec.display());
    let mut train = TrainJob::new(spec, data.clone());
    train.run = RunOptions {
        epochs: budget.epochs,
        seed: budget.seed,
        out: Some(trained.clone()),
        metrics: Some(out.join("train.jsonl")),
        ..train.run
    };
    let train = TrainJob {
        preset: budget.preset.into(),
        kl_weight: Some(budget.kl_weight),
        warmup: budget.warmup,
        search_warmup: if searched { budget.epochs / 4 } else { 0 },
        ..train
    };
    summarize(&job::train(
        &train,
        &mut Printer(EpochLog::new(false, train.run.epochs)),
    )?);

    eprintln!("== export, every weight kept");
    // λ just below 1 keeps every weight whose posterior is not centred on 0 exactly.
    let dense = export(
        "dense",
        &trained,
        out,
        &export_from,
        Some((0.999999, Storage::Dense)),
    )?;
    eprintln!("== export, pruned");
    let compact = export("compact", &trained, out, &export_from, None)?;

    eprintln!("== fine-tune the surviving weights");
    let mut finetune = FinetuneJob::new(&trained, data.clone());
    finetune.run = RunOptions {
        epochs: budget.finetune_epochs,
        lr: 3e-4,
        out: Some(finetuned.clone()),
        ..finetune.run
    };
    summarize(&job::finetune(
        &finetune,
        &mut Printer(EpochLog::new(false, finetune.run.epochs)),
    )?);
    let tuned = export("finetuned", &finetuned, out, &export_from, None)?;

    if matches!(family.task, ardent_models::Task::Classification { .. }) {
        eprintln!("== sweep λ over the trained checkpoint, beside the magnitude baseline");
        let sweep = SweepJob {
            checkpoints: vec![trained.clone()],
            data: export_from.clone(),
            thresholds: Thresholds::Auto {
                points: 16,
                min_fraction: super::sweep::MIN_FRACTION,
            },
            magnitude: true,
            storage: Storage::Sparse,
        };
        let to = super::sweep::Outputs {
            folder: out.clone(),
            size: super::sweep::SIZE,
            references: Vec::new(),
        };
        super::sweep::sweep_and_write(&sweep, &to)?;
    }
    if searched {
        eprintln!("== γ per edge over training");
        super::viz::draw_gamma(&super::viz::GammaPlot {
            metrics: out.join("train.jsonl"),
            model: Some(spec.to_path_buf()),
            out: out.join("gamma.png"),
            size: super::viz::GammaPlot::SIZE,
        })?;
    }

    let mut rows = [dense, compact, tuned];
    let dense_latency = rows[0].latency_us;
    for r in &mut rows {
        r.speed_against_dense = dense_latency / r.latency_us;
    }
    let table = summary_table(&rows);
    println!("{table}");
    let json = serde_json::to_vec_pretty(&serde_json::json!({
        "spec": path(spec),
        "data": { "source": data.name, "max_samples": data.max_samples },
        "models": rows,
    }))?;
    super::write_file(&out.join("summary.json"), &json)?;
    super::write_file(&out.join("summary.md"), table.as_bytes())?;
    eprintln!("wrote {}", out.display());
    Ok(())
}

fn summary_table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| model | accuracy in tract | parameters | file | FLOPs/sample | latency, batch 1 | speed against dense |\n|---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        t.push_str(&format!(
            "| {} | {} | {} | {} B | {} | {:.1} µs | {:.2}× |\n",
            r.model,
            r.accuracy
                .map_or_else(|| "–".into(), |a| format!("{:.2} %", 100.0 * a)),
            r.params,
            r.file_bytes,
            r.flops,
            r.latency_us,
            r.speed_against_dense
        ));
    }
    if let [dense, .., last] = rows {
        t.push_str(&format!(
            "\n{}: {:.1}× fewer parameters and {:.2}× the speed of the dense model, accuracy {}\n",
            last.model,
            dense.params as f64 / last.params.max(1) as f64,
            last.speed_against_dense,
            match (dense.accuracy, last.accuracy) {
                (Some(d), Some(l)) => format!("{:+.2} points", 100.0 * (l - d)),
                _ => "not measured".into(),
            }
        ));
    }
    t
}

/// `ardent pipeline --model SPEC --data SOURCE`.
pub fn run(a: Args) -> Result<()> {
    run_pipeline(&a.model, &a.data.source(), &a.budget)
}

/// `ardent demo`: the pipeline on the bundled digits with the built-in `mlp-search-weights`
/// family.
pub fn demo(a: DemoArgs) -> Result<()> {
    let budget = Budget {
        out: a.out,
        epochs: a.epochs,
        finetune_epochs: a.finetune_epochs,
        kl_weight: a.kl_weight,
        warmup: Some(a.warmup),
        preset: PresetArg::Elbo,
        seed: a.seed,
    };
    let out = &budget.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let spec = out.join("mlp-search-weights.toml");
    super::write_file(&spec, DEMO_SPEC.as_bytes())?;
    run_pipeline(&spec, &Source::new("digits"), &budget)
}
