//! The command-line front end shared by `ardent-run` and `ardent run|bench|info`: argument
//! structs and what each command does. Errors carry the file and the place; the binaries
//! print them after `error:` and exit with code 2.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

use crate::args::{HeaderArgs, SparseArgs, int_in, u64_in};
use crate::bench::{BenchOptions, bench};
use crate::input::{read_labels, read_samples};
use crate::{Model, set_threads};

#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub enum OutputFormat {
    Csv,
    Json,
}

/// `run MODEL --input FILE`: predictions for every sample.
#[derive(clap::Args, Debug)]
pub struct RunArgs {
    /// The ONNX model.
    pub model: PathBuf,
    /// Samples: IDX (gzip or raw), NPY, or CSV (with or without a header line); the first axis
    /// indexes samples.
    #[arg(long)]
    pub input: PathBuf,
    /// Class labels (IDX, NPY, or a CSV's last column); prints the accuracy.
    #[arg(long)]
    pub labels: Option<PathBuf>,
    /// CSV input: the column holding the labels (left out of the features).
    #[arg(long)]
    pub label_column: Option<String>,
    #[arg(long, value_enum, default_value = "csv")]
    pub format: OutputFormat,
    /// Write the predictions here (atomically) instead of to standard output.
    #[arg(long)]
    pub output: Option<PathBuf>,
    #[command(flatten)]
    pub csv: HeaderArgs,
    /// Samples per run of the model.
    #[arg(long, default_value_t = 256, value_parser = int_in::<1, 65_536>)]
    pub batch: usize,
    /// Threads for matrix products.
    #[arg(long, default_value_t = 1, value_parser = int_in::<1, 256>)]
    pub threads: usize,
    #[command(flatten)]
    pub sparse: SparseArgs,
}

/// `bench MODEL`: latency and throughput at several batch sizes.
#[derive(clap::Args, Debug)]
pub struct BenchArgs {
    /// The ONNX model.
    pub model: PathBuf,
    /// Batch sizes, comma-separated.
    #[arg(long, default_value = "1,32,256", value_delimiter = ',', value_parser = int_in::<1, 65_536>)]
    pub batch: Vec<usize>,
    /// Threads for matrix products.
    #[arg(long, default_value_t = 1, value_parser = int_in::<1, 256>)]
    pub threads: usize,
    /// Take the first sample of this file (any `--input` format) instead of a synthetic one.
    #[arg(long)]
    pub input: Option<PathBuf>,
    #[command(flatten)]
    pub csv: HeaderArgs,
    /// Untimed runs per batch size before timing.
    #[arg(long, default_value_t = 10, value_parser = int_in::<0, 100_000>)]
    pub warmup: usize,
    /// Timed runs per batch size, at least.
    #[arg(long, default_value_t = 30, value_parser = int_in::<1, 1_000_000>)]
    pub min_runs: usize,
    /// Time each batch size for at least this many milliseconds.
    #[arg(long, default_value_t = 500, value_parser = u64_in::<0, 3_600_000>)]
    pub min_time_ms: u64,
    /// One JSON object per batch size instead of the table.
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub sparse: SparseArgs,
}

/// `info MODEL`: inputs, outputs, parameters, ardent metadata.
#[derive(clap::Args, Debug)]
pub struct InfoArgs {
    /// The ONNX model.
    pub model: PathBuf,
    #[arg(long)]
    pub json: bool,
    #[command(flatten)]
    pub sparse: SparseArgs,
}

/// [`ardent_data::write_atomic`], its error naming the file.
fn write_atomic(path: &Path, bytes: &[u8]) -> Result<()> {
    ardent_data::write_atomic(path, bytes)
        .with_context(|| format!("{}: cannot write", path.display()))
}

/// Runs every sample of `--input` through the model; prints or writes the predictions and,
/// with labels, the accuracy (to standard error).
/// Lets a closed stdout end the process quietly, as `head` expects of Unix tools. Rust ignores
/// SIGPIPE, so without this every print after the reader has gone panics (exit 101).
#[allow(unsafe_code)]
pub fn quiet_broken_pipe() {
    // SAFETY: restores the default disposition of one signal at start-up, before any thread
    // is spawned; `signal` has no other preconditions.
    #[cfg(unix)]
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }
}

/// Lets freed memory stay in the process for the next run. tract allocates every op's output
/// afresh on each run, and glibc serves allocations over its mmap threshold (128 KiB at first,
/// raised only as such blocks are freed) with fresh pages: with activations of a few MiB
/// (LeNet-5 at batch 64) every run paid page faults and zeroing, and a process landed in one
/// of two modes by chance (1.1 or 2.7 ms for LeNet-5's first convolution at batch 64). With
/// the threshold at glibc's largest and trimming far off, the blocks are reused.
#[allow(unsafe_code)]
pub fn keep_freed_memory() {
    // SAFETY: `mallopt` sets process-wide allocator parameters; called at start-up, before
    // any thread exists. A refused value (0 returned) leaves glibc's default, which is
    // correct, only slower, so there is nothing to report.
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    unsafe {
        // glibc's ceiling for the threshold: 32 MiB on 64-bit targets, 16 MiB on 32-bit.
        let largest = (4 << 20) * std::mem::size_of::<libc::c_long>() as libc::c_int;
        libc::mallopt(libc::M_MMAP_THRESHOLD, largest);
        libc::mallopt(libc::M_TRIM_THRESHOLD, 1 << 30);
    }
}

pub fn run(a: RunArgs) -> Result<()> {
    set_threads(a.threads);
    let model = Model::load_path(&a.model, a.sparse.load_options(None))?;
    let (samples, csv_labels) = read_samples(&a.input, a.label_column.as_deref(), a.csv.header())?;
    if samples.width != model.input_size() {
        bail!(
            "{}: samples have {} values each, but {} takes {} (shape {:?})",
            a.input.display(),
            samples.width,
            a.model.display(),
            model.input_size(),
            model.info().input_shape
        );
    }
    let labels = match (&a.labels, csv_labels) {
        (Some(p), _) => Some((p.display().to_string(), read_labels(p, a.csv.header())?)),
        (None, Some(l)) => Some((a.input.display().to_string(), l)),
        (None, None) => None,
    };
    if let Some((name, l)) = &labels
        && l.len() != samples.count
    {
        bail!(
            "{name}: {} labels for {} samples in {}",
            l.len(),
            samples.count,
            a.input.display()
        );
    }
    let k = model.output_size();
    let mut outputs = Vec::with_capacity(samples.count * k);
    for chunk in samples.values.chunks(a.batch * samples.width) {
        outputs.extend(model.run(chunk)?);
    }
    let predictions: Vec<usize> = outputs.chunks(k).map(ardent_data::argmax).collect();
    let accuracy = labels.as_ref().map(|(_, l)| {
        let correct = predictions
            .iter()
            .zip(l)
            .filter(|(p, l)| **p as f32 == **l)
            .count();
        (correct, correct as f64 / samples.count as f64)
    });
    let text = match a.format {
        OutputFormat::Csv => {
            let mut s = String::from("sample,prediction");
            for j in 0..k {
                s.push_str(&format!(",output_{j}"));
            }
            s.push('\n');
            for (i, (row, p)) in outputs.chunks(k).zip(&predictions).enumerate() {
                s.push_str(&format!("{i},{p}"));
                for v in row {
                    s.push_str(&format!(",{v}"));
                }
                s.push('\n');
            }
            s
        }
        OutputFormat::Json => {
            let rows: Vec<&[f32]> = outputs.chunks(k).collect();
            let mut v = serde_json::json!({
                "model": a.model.display().to_string(),
                "samples": samples.count,
                "predictions": predictions,
                "outputs": rows,
            });
            if let Some((_, acc)) = accuracy {
                v["accuracy"] = acc.into();
            }
            format!("{v}\n")
        }
    };
    match &a.output {
        Some(p) => write_atomic(p, text.as_bytes())?,
        None => std::io::stdout().write_all(text.as_bytes())?,
    }
    if let Some((correct, acc)) = accuracy {
        eprintln!(
            "accuracy {:.2} % ({correct} of {})",
            100.0 * acc,
            samples.count
        );
    }
    Ok(())
}

/// Times the model at each batch size (the batch fixed in the plan, as a deployment would).
pub fn bench_cmd(a: BenchArgs) -> Result<()> {
    set_threads(a.threads);
    let probe = Model::load_path(&a.model, a.sparse.load_options(None))?;
    let per = probe.input_size();
    let sample: Vec<f32> = match &a.input {
        Some(p) => {
            let (s, _) = read_samples(p, None, a.csv.header())?;
            if s.width != per {
                bail!(
                    "{}: samples have {} values each, but {} takes {per}",
                    p.display(),
                    s.width,
                    a.model.display()
                );
            }
            s.values[..per].to_vec()
        }
        // Deterministic values in [-1, 1]. Timing depends on them only where a layer skips
        // zero inputs (ArdentMlp's dense layers for a few samples), and about half of a
        // ReLU's outputs are zero on these as on real data; `--input` times a real sample.
        None => (0..per)
            .map(|i| ((i * 7919 % 2003) as f32 / 1001.0) - 1.0)
            .collect(),
    };
    let options = BenchOptions {
        warmup: a.warmup,
        min_runs: a.min_runs,
        min_time: Duration::from_millis(a.min_time_ms),
    };
    if !a.json {
        println!(
            "{}: {} parameters, {} thread(s)",
            a.model.display(),
            probe.info().parameters,
            a.threads
        );
        println!(
            "{:>6} {:>6} {:>12} {:>12} {:>12} {:>14} {:>10}",
            "batch", "runs", "p50 µs", "p90 µs", "p99 µs", "samples/s", "peak MiB"
        );
    }
    for &b in &a.batch {
        if b == 0 {
            bail!("--batch: batch sizes must be at least 1");
        }
        let model = Model::load_path(&a.model, a.sparse.load_options(Some(b)))?;
        let input: Vec<f32> = sample.iter().copied().cycle().take(b * per).collect();
        let r = bench(&model, &input, a.threads, options)?;
        if a.json {
            println!("{}", serde_json::to_string(&r)?);
        } else {
            println!(
                "{:>6} {:>6} {:>12.1} {:>12.1} {:>12.1} {:>14.0} {:>10}",
                r.batch,
                r.runs,
                r.p50_us,
                r.p90_us,
                r.p99_us,
                r.samples_per_second,
                r.peak_rss_bytes
                    .map_or("-".to_string(), |m| format!("{:.1}", m as f64 / 1048576.0))
            );
        }
    }
    Ok(())
}

/// Prints what the model file says about itself.
pub fn info(a: InfoArgs) -> Result<()> {
    let model = Model::load_path(&a.model, a.sparse.load_options(None))?;
    let i = model.info();
    let size = std::fs::metadata(&a.model).map(|m| m.len()).ok();
    if a.json {
        let v = serde_json::json!({
            "model": a.model.display().to_string(),
            "file_bytes": size,
            "input": { "name": i.input_name, "shape": i.input_shape },
            "output": { "name": i.output_name, "shape": i.output_shape },
            "parameters": i.parameters,
            "weight_types": i.weight_types,
            "opset": i.opset,
            "ir_version": i.ir_version,
            "producer": i.producer,
            "format": i.format,
            "metadata": i.metadata,
            "ops": i.ops,
            "rewrites": model.rewrites(),
        });
        println!("{v}");
        return Ok(());
    }
    println!("{}", a.model.display());
    if let Some(s) = size {
        println!("  file        {s} bytes");
    }
    println!(
        "  input       {} [N, {}]",
        i.input_name,
        join(&i.input_shape)
    );
    println!(
        "  output      {} [N, {}]",
        i.output_name,
        join(&i.output_shape)
    );
    println!(
        "  parameters  {} ({})",
        i.parameters,
        i.weight_types.join(", ")
    );
    println!("  format      {}", i.format);
    println!("  ops         {}", i.ops.join(" "));
    for r in model.rewrites() {
        let (what, by) = match r.kind {
            "product" => (
                format!("{}×{}, {} kept", r.k, r.n, r.kept),
                "tract's dense kernel",
            ),
            "conv" => (
                format!("{} taps → {} channels, {} kept", r.k, r.n, r.kept),
                "tract's Conv",
            ),
            "sum" => ("of products".to_string(), "tract's Add"),
            "layers" => (
                format!("{} → {}, {} kept", r.k, r.n, r.kept),
                "tract's products",
            ),
            _ => (format!("{} taps, {} channels", r.k, r.n), "tract's MaxPool"),
        };
        println!(
            "  {:<11} {} ({what}): {}, {}",
            r.kind,
            r.node,
            r.replaced_by.unwrap_or(by),
            r.reason
        );
        if !r.folded_gathers.is_empty() {
            println!(
                "              its input's {} folded into the weight (zero rows for the features dropped)",
                r.folded_gathers.join(" and ")
            );
        }
    }
    for (k, v) in &i.metadata {
        println!("  {k} = {v}");
    }
    Ok(())
}

fn join(dims: &[usize]) -> String {
    dims.iter()
        .map(|d| d.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}
