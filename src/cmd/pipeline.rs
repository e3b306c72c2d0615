//! `ardent pipeline` and `ardent demo`: train (and search) a family with ARD, export the
//! collapsed member dense and compact, fine-tune the compact one, export it again, and compare
//! them in tract. Each stage is the command a user would run, with the same arguments, so the
//! folder it leaves holds exactly what those commands write.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use clap::Parser;
use serde::Serialize;

use ardent_exporter::{ExportOptions, Storage};
use ardent_models::Checkpoint;
use ardent_runtime::args::{int_in, non_negative, term_weight};
use ardent_runtime::bench::{BenchOptions, bench};
use ardent_runtime::{LoadOptions, Model};

use super::train::DataArgs;

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
    #[arg(long, default_value = "elbo")]
    preset: String,
    #[arg(long, default_value_t = 42)]
    seed: u64,
}

#[derive(Parser)]
struct TrainCli {
    #[command(flatten)]
    args: super::train::Args,
}

#[derive(Parser)]
struct FinetuneCli {
    #[command(flatten)]
    args: super::train::FinetuneArgs,
}

#[derive(Parser)]
struct SweepCli {
    #[command(flatten)]
    args: super::sweep::Args,
}

#[derive(Parser)]
struct VizCli {
    #[command(flatten)]
    args: super::viz::Args,
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

/// Parses a command's arguments as its own parser would, naming the stage on failure.
fn parse<P: Parser>(stage: &str, args: Vec<String>) -> Result<P> {
    P::try_parse_from(std::iter::once(format!("ardent {stage}")).chain(args))
        .map_err(|e| anyhow::anyhow!("{stage}: {e}"))
}

/// Exports `checkpoint` as `stage` into `out` (the ONNX file and its JSON report), measured
/// on `data`, with `lambda` and `storage` where the stage asks for them.
fn export(
    stage: &'static str,
    checkpoint: &Path,
    out: &Path,
    data: &DataArgs,
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
        data: Some(super::export::evaluation_samples(
            &data.data, &data.csv, &ck,
        )?),
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

/// Runs the stages; `data` holds the data flags of `train` and `finetune`, `export_data` those
/// of `sweep` (without what only training takes), and `export_from` the data the exports are
/// measured on.
fn run_pipeline(
    spec: &Path,
    data: Vec<String>,
    export_data: Vec<String>,
    export_from: &DataArgs,
    budget: &Budget,
) -> Result<()> {
    let out = &budget.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let trained = out.join("trained.safetensors");
    let finetuned = out.join("finetuned.safetensors");
    let family = ardent_models::Family::from_path(spec)?;
    let searched = family.edges.iter().any(|e| e.structure.is_searched());

    let mut train = vec![path(spec)];
    train.extend(data.iter().cloned());
    train.extend(
        [
            "--epochs",
            &budget.epochs.to_string(),
            "--lr-schedule",
            "cosine",
            "--preset",
            &budget.preset,
            "--kl-weight",
            &budget.kl_weight.to_string(),
            "--seed",
            &budget.seed.to_string(),
            "--out",
            &path(&trained),
            "--metrics",
            &path(&out.join("train.jsonl")),
        ]
        .map(String::from),
    );
    if searched {
        train.extend(["--search-warmup".into(), (budget.epochs / 4).to_string()]);
    }
    if let Some(w) = budget.warmup {
        train.extend(["--warmup".into(), w.to_string()]);
    }
    eprintln!("== train {}", spec.display());
    super::train::run(parse::<TrainCli>("train", train)?.args)?;

    eprintln!("== export, every weight kept");
    // λ just below 1 keeps every weight whose posterior is not centred on 0 exactly.
    let dense = export(
        "dense",
        &trained,
        out,
        export_from,
        Some((0.999999, Storage::Dense)),
    )?;
    eprintln!("== export, pruned");
    let compact = export("compact", &trained, out, export_from, None)?;

    eprintln!("== fine-tune the surviving weights");
    let mut ft = vec![path(&trained)];
    ft.extend(data.iter().cloned());
    ft.extend(
        [
            "--epochs",
            &budget.finetune_epochs.to_string(),
            "--lr",
            "3e-4",
            "--out",
            &path(&finetuned),
        ]
        .map(String::from),
    );
    super::train::run_finetune(parse::<FinetuneCli>("finetune", ft)?.args)?;
    let tuned = export("finetuned", &finetuned, out, export_from, None)?;

    if matches!(family.task, ardent_models::Task::Classification { .. }) {
        eprintln!("== sweep λ over the trained checkpoint, beside the magnitude baseline");
        let mut sweep = vec![path(&trained)];
        sweep.extend(export_data.iter().cloned());
        sweep.extend(["--points", "16", "--out", &path(out)].map(String::from));
        super::sweep::run(parse::<SweepCli>("sweep", sweep)?.args)?;
    }
    if searched {
        eprintln!("== γ per edge over training");
        let viz = [
            "gamma",
            &path(&out.join("train.jsonl")),
            "--model",
            &path(spec),
            "--out",
            &path(&out.join("gamma.png")),
        ]
        .map(String::from)
        .to_vec();
        super::viz::run(parse::<VizCli>("viz", viz)?.args)?;
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
        "data": data,
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
    let mut export_data = vec!["--data".to_string(), a.data.data.clone()];
    export_data.extend(a.data.csv.to_args());
    let mut data = export_data.clone();
    if let Some(n) = a.data.max_samples {
        data.extend(["--max-samples".into(), n.to_string()]);
    }
    run_pipeline(&a.model, data, export_data, &a.data, &a.budget)
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
        preset: "elbo".into(),
        seed: a.seed,
    };
    let out = &budget.out;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    let spec = out.join("mlp-search-weights.toml");
    super::write_file(&spec, DEMO_SPEC.as_bytes())?;
    let data = vec!["--data".to_string(), "digits".to_string()];
    let digits = DataArgs {
        data: "digits".into(),
        csv: Default::default(),
        max_samples: None,
    };
    run_pipeline(&spec, data.clone(), data, &digits, &budget)
}
