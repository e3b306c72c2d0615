use std::fmt::Write as _;
use std::path::PathBuf;

use anyhow::{Context, Result};
use ardent_data::Source;
use ardent_exporter::sweep::{
    self, CheckpointSweep, Method, SweepJob, SweepObserver, SweepPoint, Thresholds,
};
use ardent_plot::{Chart, Format, Mark, Reference, Series};

use ardent_runtime::args::{fraction, int_in, open_unit};

use super::export::StorageArg;
use super::train::CsvArgs;
use crate::fmt::thousands;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// Trained checkpoints (.safetensors); several (e.g. runs with different KL weights) are
    /// swept one after another and drawn together.
    #[arg(required = true)]
    checkpoints: Vec<PathBuf>,
    /// Labelled data: its test split, or else each checkpoint's validation split.
    #[arg(long)]
    data: String,
    #[command(flatten)]
    csv: CsvArgs,
    /// How many thresholds per checkpoint, chosen so the kept weights are spaced geometrically
    /// from --min-fraction of the collapsed member's weights to all of them. Thresholds are
    /// set in log α = log(σ²/μ²) (λ = exp(−e^(−log α)/2)), so they reach below log α ≈ −7.3,
    /// where λ underflows to 0 (printed as 0).
    #[arg(long, default_value_t = 30, value_parser = int_in::<1, 1000>)]
    points: usize,
    /// The smallest fraction of weights the automatic thresholds keep.
    #[arg(long, default_value_t = MIN_FRACTION, value_parser = fraction)]
    min_fraction: f64,
    /// Explicit thresholds instead of --points, e.g. `0.5,0.9,0.975,0.999`.
    #[arg(long, value_delimiter = ',', value_parser = open_unit)]
    lambdas: Option<Vec<f64>>,
    /// How the exports store weight matrices. `sparse` (the default) makes the exported
    /// parameters the kept weights plus biases and constants, which grow with λ; `auto` and
    /// `dense` count the zeros a dense matrix stores.
    #[arg(long, value_enum, default_value_t = StorageArg::Sparse)]
    storage: StorageArg,
    /// Leave out the magnitude-pruning baseline.
    #[arg(long)]
    no_magnitude: bool,
    /// Draw published results: `darts-cc` (Bakhteev's DARTS-CC on Fashion-MNIST: 88.9 % at
    /// 11.5 K, 92.1 % at 30 K, 93.7 % at 73 K parameters).
    #[arg(long, value_enum)]
    published: Vec<Published>,
    /// A reference point to draw, `PARAMS:ACCURACY_PERCENT:LABEL`. Repeatable.
    #[arg(long, value_parser = parse_reference)]
    reference: Vec<Reference>,
    /// The folder to write sweep.csv, sweep.png and sweep.svg to.
    #[arg(long, short, default_value = "sweep")]
    out: PathBuf,
    /// Picture size in pixels, `WIDTHxHEIGHT`.
    #[arg(long, default_value = "1000x650", value_parser = parse_size)]
    size: (u32, u32),
}

/// The smallest fraction of weights the automatic thresholds keep, unless told otherwise.
pub const MIN_FRACTION: f64 = 0.002;

/// The pictures' size in pixels unless told otherwise (`--size`'s default).
pub const SIZE: (u32, u32) = (1000, 650);

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum Published {
    DartsCc,
}

fn published(p: Published) -> Vec<Reference> {
    match p {
        Published::DartsCc => [(11_500.0, 88.9), (30_000.0, 92.1), (73_000.0, 93.7)]
            .iter()
            .map(|&(x, y)| Reference {
                x,
                y,
                label: "DARTS-CC".into(),
            })
            .collect(),
    }
}

fn parse_reference(s: &str) -> Result<Reference, String> {
    let mut parts = s.splitn(3, ':');
    let (Some(x), Some(y)) = (parts.next(), parts.next()) else {
        return Err(format!("`{s}`: expected PARAMS:ACCURACY_PERCENT[:LABEL]"));
    };
    let x: f64 = x
        .trim()
        .parse()
        .map_err(|_| format!("`{s}`: `{x}` is not a parameter count"))?;
    let y: f64 = y
        .trim()
        .parse()
        .map_err(|_| format!("`{s}`: `{y}` is not an accuracy in percent"))?;
    if !(x > 0.0 && x.is_finite() && (0.0..=100.0).contains(&y)) {
        return Err(format!(
            "`{s}`: parameters must be positive and accuracy within 0–100 %"
        ));
    }
    Ok(Reference {
        x,
        y,
        label: parts.next().unwrap_or("").to_string(),
    })
}

pub(crate) fn parse_size(s: &str) -> Result<(u32, u32), String> {
    let bad = || format!("`{s}`: expected WIDTHxHEIGHT in pixels, e.g. 1000x650");
    let (w, h) = s.split_once(['x', 'X']).ok_or_else(bad)?;
    let w: u32 = w.trim().parse().map_err(|_| bad())?;
    let h: u32 = h.trim().parse().map_err(|_| bad())?;
    if !(200..=8192).contains(&w) || !(200..=8192).contains(&h) {
        return Err(format!("`{s}`: each side must be 200 to 8192 pixels"));
    }
    Ok((w, h))
}

impl Args {
    /// The sweep these options ask for.
    pub fn job(&self) -> SweepJob {
        SweepJob {
            checkpoints: self.checkpoints.clone(),
            data: Source {
                csv: self.csv.options(),
                ..Source::new(self.data.clone())
            },
            thresholds: match &self.lambdas {
                Some(l) => Thresholds::Lambdas(l.clone()),
                None => Thresholds::Auto {
                    points: self.points,
                    min_fraction: self.min_fraction,
                },
            },
            magnitude: !self.no_magnitude,
            storage: self.storage.into(),
        }
    }

    /// Where and how the results are drawn.
    pub fn outputs(&self) -> Outputs {
        let mut references: Vec<Reference> =
            self.published.iter().flat_map(|&p| published(p)).collect();
        references.extend(self.reference.iter().cloned());
        Outputs {
            folder: self.out.clone(),
            size: self.size,
            references,
        }
    }
}

/// Where a sweep writes `sweep.csv`, `sweep.png` and `sweep.svg`, and what the pictures show
/// beside the sweep.
#[derive(Debug, Clone)]
pub struct Outputs {
    pub folder: PathBuf,
    /// Picture size in pixels.
    pub size: (u32, u32),
    /// Published or other reference points.
    pub references: Vec<Reference>,
}

/// Prints each checkpoint's table as its points are measured.
struct Table;

impl SweepObserver for Table {
    fn start(&mut self, name: &str, thresholds: usize, source: &str, samples: usize) {
        println!("{name}: {thresholds} thresholds on {source} ({samples} samples)");
        println!(
            "{:<10} {:>12} {:>9} {:>12} {:>12} {:>12} {:>9}",
            "method", "λ", "log α", "kept", "params", "bytes", "accuracy"
        );
    }

    fn point(&mut self, p: &SweepPoint) {
        println!(
            "{:<10} {:>12} {:>9} {:>12} {:>12} {:>12} {:>8.2}%",
            p.method.name(),
            p.lambda.map_or("-".into(), |l| if l < 1e-3 {
                format!("{l:.3e}")
            } else {
                format!("{l:.6}")
            }),
            p.log_alpha.map_or("-".into(), |l| format!("{l:.2}")),
            thousands(p.kept_weights as u128),
            thousands(p.params as u128),
            thousands(p.file_bytes as u128),
            100.0 * p.accuracy
        );
    }

    fn note(&mut self, text: &str) {
        eprintln!("note: {text}");
    }
}

pub fn run(a: Args) -> Result<()> {
    sweep_and_write(&a.job(), &a.outputs())
}

/// Runs `job`, printing each point, then writes the CSV and the pictures to `to` and prints
/// the Pareto front.
pub fn sweep_and_write(job: &SweepJob, to: &Outputs) -> Result<()> {
    let runs = sweep::sweep_all(job, &mut Table)?;
    let all: Vec<(usize, f64)> = runs
        .iter()
        .flat_map(|r| r.points.iter().map(|p| (p.params, p.accuracy)))
        .collect();
    let front = sweep::pareto_front(&all);
    let mut on_front = vec![false; all.len()];
    for &i in &front {
        on_front[i] = true;
    }

    std::fs::create_dir_all(&to.folder)
        .with_context(|| format!("{}: cannot create the folder", to.folder.display()))?;
    let csv = to_csv(&runs, &on_front);
    let csv_path = to.folder.join("sweep.csv");
    super::write_file(&csv_path, csv.as_bytes())?;

    let chart = chart(&runs, to.references.clone());
    for (format, file) in [(Format::Png, "sweep.png"), (Format::Svg, "sweep.svg")] {
        let bytes = ardent_plot::charts(std::slice::from_ref(&chart), 1, to.size, format)?;
        super::write_file(&to.folder.join(file), &bytes)?;
    }

    println!("Pareto front (fewest parameters for the accuracy, over every point):");
    let flat: Vec<(&CheckpointSweep, &SweepPoint)> = runs
        .iter()
        .flat_map(|r| r.points.iter().map(move |p| (r, p)))
        .collect();
    for &i in &front {
        let (r, p) = flat[i];
        println!(
            "  {:>10} params {:>7.2}%  {} {}",
            thousands(p.params as u128),
            100.0 * p.accuracy,
            p.method.name(),
            r.label
        );
    }
    println!(
        "wrote {}, sweep.png and sweep.svg in {}",
        csv_path.display(),
        to.folder.display()
    );
    Ok(())
}

fn to_csv(runs: &[CheckpointSweep], on_front: &[bool]) -> String {
    let mut s = String::from(
        "checkpoint,kl_weight,method,lambda,log_alpha,kept_weights,params,flops,file_bytes,accuracy,pareto\n",
    );
    // Shortest round-trip form; tiny thresholds in exponent notation (λ reaches 1e-300).
    let opt = |v: Option<f64>| {
        v.map_or(String::new(), |v| {
            if v != 0.0 && v.abs() < 1e-4 {
                format!("{v:e}")
            } else {
                format!("{v}")
            }
        })
    };
    let mut i = 0;
    for r in runs {
        for p in &r.points {
            let _ = writeln!(
                s,
                "{},{},{},{},{},{},{},{},{},{},{}",
                csv_field(&r.name),
                opt(r.kl_weight),
                p.method.name(),
                opt(p.lambda),
                opt(p.log_alpha),
                p.kept_weights,
                p.params,
                p.flops,
                p.file_bytes,
                p.accuracy,
                u8::from(on_front[i])
            );
            i += 1;
        }
    }
    s
}

fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n']) {
        format!("\"{}\"", s.replace('"', "\"\""))
    } else {
        s.to_string()
    }
}

fn chart(runs: &[CheckpointSweep], references: Vec<Reference>) -> Chart {
    let mut series = Vec::new();
    for (i, r) in runs.iter().enumerate() {
        for method in [Method::Ard, Method::Magnitude] {
            let mut pts: Vec<(f64, f64)> = r
                .points
                .iter()
                .filter(|p| p.method == method)
                .map(|p| (p.params as f64, 100.0 * p.accuracy))
                .collect();
            if pts.is_empty() {
                continue;
            }
            pts.sort_by(|a, b| a.0.total_cmp(&b.0));
            series.push(Series {
                label: match method {
                    Method::Ard => format!("{}: ARD, λ sweep", r.label),
                    Method::Magnitude => format!("{}: magnitude", r.label),
                },
                points: pts,
                mark: Mark::LinePoints,
                color: i,
                faint: method == Method::Magnitude,
            });
        }
    }
    Chart {
        title: "Accuracy against exported parameters".into(),
        x_label: "exported parameters (log scale)".into(),
        y_label: "accuracy in tract, %".into(),
        x_log: true,
        series,
        references,
        y_range: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct SweepCli {
        #[command(flatten)]
        args: Args,
    }

    /// The pipeline's sweep takes `ardent sweep`'s defaults from the same constants.
    #[test]
    fn defaults_are_the_constants() {
        let a = SweepCli::parse_from(["sweep", "c.safetensors", "--data", "digits"]).args;
        assert_eq!(a.size, SIZE);
        assert_eq!(
            a.job().thresholds,
            Thresholds::Auto {
                points: 30,
                min_fraction: MIN_FRACTION
            }
        );
    }
}
