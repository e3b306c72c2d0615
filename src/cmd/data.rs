use anyhow::{Context, Result};
use ardent_data::{Dataset, Source, TargetKind, Targets};

use super::train::CsvArgs;
use crate::fmt::thousands;

#[derive(clap::Args, Debug)]
pub struct Args {
    /// A directory (MNIST IDX layout, train.csv, or x_train.npy + y_train.npy), a CSV file,
    /// or a bundled dataset: `digits` or `wine`.
    source: String,
    /// Read labels as real targets (regression) instead of classes.
    #[arg(long)]
    regression: bool,
    #[command(flatten)]
    csv: CsvArgs,
    /// Accept NaN and inf in features.
    #[arg(long)]
    allow_non_finite: bool,
}

pub fn run(args: Args) -> Result<()> {
    let source = Source {
        name: args.source.clone(),
        csv: args.csv.options(),
        max_samples: None,
        allow_non_finite: args.allow_non_finite,
    };
    let kind = if args.regression {
        TargetKind::Real
    } else {
        TargetKind::Classes
    };
    let s = source
        .load(kind)
        .with_context(|| format!("loading {}", args.source))?;
    let (train, test) = (s.train, s.test);
    print(&train, "train");
    if let Some(t) = &test {
        print(t, "test");
    }
    Ok(())
}

fn print(d: &Dataset, split: &str) {
    println!(
        "{} ({split}): {} samples of shape {:?}",
        d.name,
        thousands(d.len() as u128),
        d.sample_shape
    );
    for n in &d.notes {
        println!("  note: {n}");
    }
    let (lo, hi, sum) = d.features.iter().fold(
        (f32::INFINITY, f32::NEG_INFINITY, 0f64),
        |(lo, hi, s), &x| (lo.min(x), hi.max(x), s + f64::from(x)),
    );
    println!(
        "  features: min {lo}, max {hi}, mean {:.4}",
        sum / d.features.len().max(1) as f64
    );
    match &d.targets {
        Targets::Classes { labels, classes } => {
            let mut counts = vec![0usize; *classes];
            for &l in labels {
                counts[l as usize] += 1;
            }
            let counts: Vec<String> = counts.iter().map(|c| c.to_string()).collect();
            println!("  {classes} classes, counts: {}", counts.join(" "));
        }
        Targets::Real { values, width } => {
            let (lo, hi) = values
                .iter()
                .fold((f32::INFINITY, f32::NEG_INFINITY), |(lo, hi), &x| {
                    (lo.min(x), hi.max(x))
                });
            println!("  {width} real target(s), range {lo} .. {hi}");
        }
    }
}
