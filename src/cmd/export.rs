use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ardent_data::Source;
use ardent_exporter::{ExportOptions, Samples, Storage, WeightType};
use ardent_models::Checkpoint;

use ardent_runtime::args::{input_scale, int_in, open_unit};

use super::train::CsvArgs;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The trained checkpoint (.safetensors).
    checkpoint: PathBuf,
    /// The ONNX file to write (atomically: an existing file is replaced only by a complete one).
    /// A VAE writes two, named after it: `NAME.encoder.onnx` and `NAME.decoder.onnx`.
    #[arg(long, short)]
    out: PathBuf,
    /// Relative-density threshold: a weight is pruned when q(0)/q(μ) = exp(−μ²/2σ²) > λ.
    #[arg(long, default_value_t = ardent_exporter::DEFAULT_LAMBDA, value_parser = open_unit)]
    lambda: f64,
    /// Store weights as f16 (the model's input and output stay f32).
    #[arg(long)]
    f16: bool,
    /// How weight matrices are stored: `dense`, `sparse` (non-zero values and their
    /// positions, expanded when the model loads) or `auto` (per matrix, the smaller).
    #[arg(long, value_enum, default_value_t = StorageArg::Auto)]
    storage: StorageArg,
    /// Append a Softmax to a classifier's output.
    #[arg(long)]
    softmax: bool,
    /// The file takes the training data's values times this factor (`1/255`: pixels in 0–1
    /// instead of 0–255); the normaliser inside is scaled to match. `ardent info` and the
    /// file's metadata say what a model takes.
    #[arg(long, default_value = "1", value_parser = input_scale)]
    input_scale: f32,
    /// Also write the model as an NNEF archive (a gzipped tar, `.nnef.tgz`, that tract and NNEF-only `ardent-run`
    /// builds load), checked like the ONNX file.
    #[arg(long)]
    nnef: Option<PathBuf>,
    /// Data to verify on and to measure the exported model's accuracy with: its test split,
    /// or else the validation split the checkpoint was trained with.
    #[arg(long)]
    data: Option<String>,
    #[command(flatten)]
    csv: CsvArgs,
    /// Samples the built-in check compares with the collapsed model (0 skips it); with
    /// `--data`, at most the samples it has.
    #[arg(long, default_value_t = 256, value_parser = int_in::<0, 100_000>)]
    verify: usize,
    /// Also write the report as JSON to this file.
    #[arg(long)]
    report: Option<PathBuf>,
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
pub(crate) enum StorageArg {
    Dense,
    Sparse,
    Auto,
}

impl From<StorageArg> for Storage {
    fn from(s: StorageArg) -> Storage {
        match s {
            StorageArg::Dense => Storage::Dense,
            StorageArg::Sparse => Storage::Sparse,
            StorageArg::Auto => Storage::Auto,
        }
    }
}

/// The samples to check the export on: the test split, or the trainer's validation split.
fn samples(a: &Args, ck: &Checkpoint) -> Result<Option<Samples>> {
    let Some(data) = &a.data else {
        return Ok(None);
    };
    let source = Source {
        csv: a.csv.options(),
        ..Source::new(data.clone())
    };
    evaluation_samples(&source, ck).map(Some)
}

/// The samples `ck` is measured on ([`ardent_exporter::evaluation_samples`]), with the data
/// readers' notes on stderr.
pub fn evaluation_samples(source: &Source, ck: &Checkpoint) -> Result<Samples> {
    let (samples, notes) = ardent_exporter::evaluation_samples(source, ck)?;
    for n in notes {
        eprintln!("note: {n}");
    }
    Ok(samples)
}

pub fn run(a: Args) -> Result<()> {
    if a.data.is_none() && (a.csv.label.is_some() || a.csv.header.header || a.csv.header.no_header)
    {
        bail!("--label, --header and --no-header say how to read --data, which is not given");
    }
    let ck = Checkpoint::read(&a.checkpoint)?;
    let name = a.checkpoint.display().to_string();
    let vae = matches!(ck.family.task, ardent_models::Task::Vae { .. });
    if vae && a.softmax {
        bail!("--softmax appends a Softmax to a classifier; {name} is a VAE");
    }
    let options = ExportOptions {
        lambda: a.lambda,
        weight_type: if a.f16 {
            WeightType::F16
        } else {
            WeightType::F32
        },
        storage: a.storage.into(),
        softmax: a.softmax,
        nnef: a.nnef.is_some(),
        verify_samples: a.verify,
        data: samples(&a, &ck)?,
        input_scale: a.input_scale,
        output_map: None,
        input_what: None,
    };
    if vae {
        return export_vae_and_write(&ck, &name, &options, &a);
    }
    let to = Outputs {
        model: &a.out,
        nnef: a.nnef.as_deref(),
        report: a.report.as_deref(),
    };
    export_and_write(&ck, &name, &options, to)?;
    Ok(())
}

/// Where an export writes: the model, and the NNEF archive and the JSON report when asked.
#[derive(Debug, Clone, Copy)]
pub struct Outputs<'a> {
    pub model: &'a Path,
    pub nnef: Option<&'a Path>,
    pub report: Option<&'a Path>,
}

/// Exports `ck` (named `name` in messages) with `options`, writes what `to` asks for, and
/// prints the report's table and what was written.
pub fn export_and_write(
    ck: &Checkpoint,
    name: &str,
    options: &ExportOptions,
    to: Outputs<'_>,
) -> Result<ardent_exporter::Exported> {
    let start = std::time::Instant::now();
    let exported = ardent_exporter::export(ck, name, options)?;
    ardent_exporter::write(to.model, &exported.bytes)?;
    if let (Some(path), Some(archive)) = (to.nnef, &exported.nnef) {
        ardent_exporter::write(path, archive)?;
    }
    if let Some(path) = to.report {
        let json = serde_json::to_vec_pretty(&exported.report).context("encoding the report")?;
        ardent_exporter::write(path, &json)?;
    }
    print!("{}", exported.report.table());
    println!(
        "wrote {} ({} bytes) in {:.2} s",
        to.model.display(),
        exported.bytes.len(),
        start.elapsed().as_secs_f64()
    );
    Ok(exported)
}

/// `path` with `.PART` before its extension: `vae.onnx` → `vae.encoder.onnx`.
fn part_path(path: &Path, part: &str) -> PathBuf {
    let name = path.file_name().map(|n| n.to_string_lossy().into_owned());
    let name = name.unwrap_or_default();
    let named = match name.split_once('.') {
        Some((stem, ext)) => format!("{stem}.{part}.{ext}"),
        None => format!("{name}.{part}"),
    };
    path.with_file_name(named)
}

/// Exports a VAE's encoder and decoder, both in memory first so that a failure writes
/// neither, then writes them (and their NNEF archives and a joint report when asked).
fn export_vae_and_write(
    ck: &Checkpoint,
    name: &str,
    options: &ExportOptions,
    a: &Args,
) -> Result<()> {
    let start = std::time::Instant::now();
    let vae = ardent_exporter::export_vae(ck, name, options)?;
    let mut written = Vec::new();
    for (part, exported) in [("encoder", &vae.encoder), ("decoder", &vae.decoder)] {
        let model = part_path(&a.out, part);
        ardent_exporter::write(&model, &exported.bytes)?;
        written.push(format!(
            "{} ({} bytes)",
            model.display(),
            exported.bytes.len()
        ));
        if let (Some(path), Some(archive)) = (&a.nnef, &exported.nnef) {
            let path = part_path(path, part);
            ardent_exporter::write(&path, archive)?;
            written.push(format!("{} ({} bytes)", path.display(), archive.len()));
        }
    }
    if let Some(path) = &a.report {
        let json = serde_json::json!({
            "code_dims": vae.dims,
            "code_kept": vae.kept,
            "encoder": vae.encoder.report,
            "decoder": vae.decoder.report,
        });
        let bytes = serde_json::to_vec_pretty(&json).context("encoding the report")?;
        ardent_exporter::write(path, &bytes)?;
    }
    for (part, exported) in [("encoder", &vae.encoder), ("decoder", &vae.decoder)] {
        println!("{part}:");
        print!("{}", exported.report.table());
    }
    let kept: Vec<String> = vae.kept.iter().map(usize::to_string).collect();
    println!(
        "code: {} of {} dimensions kept ({}); parameters {} (encoder {}, decoder {})",
        vae.kept.len(),
        vae.dims,
        kept.join(", "),
        vae.encoder.report.params_after + vae.decoder.report.params_after,
        vae.encoder.report.params_after,
        vae.decoder.report.params_after
    );
    println!(
        "wrote {} in {:.2} s",
        written.join(", "),
        start.elapsed().as_secs_f64()
    );
    Ok(())
}
