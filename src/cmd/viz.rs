use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail};
use ardent_data::{Source, SplitMix64};
use ardent_models::Family;
use ardent_plot::{Chart, Format, ImageRow, Mark, Series, SimplexPanel};
use ardent_runtime::args::{int_in, positive_scale};
use ardent_runtime::{LoadOptions, Model};
use ardent_trainer::dirichlet::dirichlet_ln_pdf;
use ardent_trainer::gamma::concrete_ln_pdf;
use ardent_trainer::history::GammaHistory;

#[derive(clap::Args, Debug)]
pub struct Args {
    #[command(subcommand)]
    what: What,
}

#[derive(clap::Subcommand, Debug)]
enum What {
    /// GS(s, λ_temp) and Dir(λ_temp·s) densities on the 2-simplex, one row per distribution
    /// and one column per temperature (PNG).
    Simplex(SimplexArgs),
    /// γ of every searched edge over training, from a metrics log (`train --metrics`); PNG or
    /// SVG by the output's extension.
    Gamma(GammaArgs),
    /// A VAE's exported encoder and decoder at work (PNG): images, their reconstructions at
    /// the mean code, and samples decoded from codes drawn from the prior N(0, I).
    Vae(VaeArgs),
}

#[derive(clap::Args, Debug)]
struct VaeArgs {
    /// The encoder (`NAME.encoder.onnx` from `ardent export` of a VAE).
    encoder: PathBuf,
    /// The decoder; default: the encoder's path with `encoder` replaced by `decoder`.
    #[arg(long)]
    decoder: Option<PathBuf>,
    /// Images to reconstruct, from the data's test split (else its training set).
    #[arg(long)]
    data: String,
    /// Images per row.
    #[arg(long, default_value_t = 10, value_parser = int_in::<1, 100>)]
    count: usize,
    /// Rows of samples.
    #[arg(long, default_value_t = 2, value_parser = int_in::<0, 20>)]
    sample_rows: usize,
    /// Seed of the sampled codes.
    #[arg(long, default_value_t = 42)]
    seed: u64,
    #[arg(long, short, default_value = "vae.png")]
    out: PathBuf,
}

#[derive(clap::Args, Debug)]
struct SimplexArgs {
    /// Temperatures λ_temp, one column each (small values show the limit λ_temp → 0).
    #[arg(long, value_delimiter = ',', default_value = "0.1,0.995,5", value_parser = positive_scale)]
    temperatures: Vec<f64>,
    /// The concentration s, three positive values.
    #[arg(long, value_delimiter = ',', default_value = "1,1,1", value_parser = positive_scale)]
    concentration: Vec<f64>,
    #[arg(long, short, default_value = "simplex.png")]
    out: PathBuf,
    /// Picture size in pixels, `WIDTHxHEIGHT`.
    #[arg(long, default_value = "1200x820", value_parser = super::sweep::parse_size)]
    size: (u32, u32),
}

#[derive(clap::Args, Debug)]
struct GammaArgs {
    /// The metrics file (JSON lines) of a run with searched edges.
    metrics: PathBuf,
    /// The run's spec, to name each edge's ops (default: `op 0`, `op 1`, ...).
    #[arg(long)]
    model: Option<PathBuf>,
    /// `.png` or `.svg`.
    #[arg(long, short, default_value = "gamma.png")]
    out: PathBuf,
    /// Picture size in pixels, `WIDTHxHEIGHT`.
    #[arg(long, default_value = "1200x800", value_parser = super::sweep::parse_size)]
    size: (u32, u32),
}

pub fn run(a: Args) -> Result<()> {
    match a.what {
        What::Simplex(a) => simplex(a),
        What::Gamma(a) => gamma(a),
        What::Vae(a) => vae(a),
    }
}

/// The height and width an image of `shape` is drawn at: its last two axes, or a square
/// vector, or one row.
fn image_dims(shape: &[usize]) -> (usize, usize) {
    match shape {
        [.., h, w] => (*h, *w),
        [n] => {
            let side = (*n as f64).sqrt().round() as usize;
            if side * side == *n {
                (side, side)
            } else {
                (1, *n)
            }
        }
        [] => (1, 1),
    }
}

fn vae(a: VaeArgs) -> Result<()> {
    if format_of(&a.out)? != Format::Png {
        bail!("{}: the picture is drawn as PNG only", a.out.display());
    }
    let decoder_path = match &a.decoder {
        Some(p) => p.clone(),
        None => {
            let name = a.encoder.to_string_lossy();
            if !name.contains("encoder") {
                bail!(
                    "{}: the decoder's name cannot be told from it (no `encoder` in it); give --decoder",
                    a.encoder.display()
                );
            }
            PathBuf::from(name.replacen("encoder", "decoder", 1))
        }
    };
    let encoder = Model::load_path(&a.encoder, LoadOptions::default())?;
    let decoder = Model::load_path(&decoder_path, LoadOptions::default())?;
    let k = encoder.output_size() / 2;
    if encoder.output_size() % 2 != 0 || decoder.input_size() != k {
        bail!(
            "{} gives {} values (means and log-variances of a code), but {} takes {}: they are not the two halves of one VAE",
            a.encoder.display(),
            encoder.output_size(),
            decoder_path.display(),
            decoder.input_size()
        );
    }
    if decoder.output_size() != encoder.input_size() {
        bail!(
            "{} reconstructs {} values, but {} takes {}: they are not the two halves of one VAE",
            decoder_path.display(),
            decoder.output_size(),
            a.encoder.display(),
            encoder.input_size()
        );
    }
    let splits = Source::new(a.data.clone()).load(ardent_data::TargetKind::Classes)?;
    let set = splits.test.as_ref().unwrap_or(&splits.train);
    if set.sample_size() != encoder.input_size() {
        bail!(
            "{}: its samples have {} values, but {} takes {}",
            set.name,
            set.sample_size(),
            a.encoder.display(),
            encoder.input_size()
        );
    }
    let n = a.count.min(set.len());
    let per = set.sample_size();
    let images: Vec<f32> = (0..n).flat_map(|i| set.sample(i).to_vec()).collect();
    let stats = encoder.run(&images)?;
    let means: Vec<f32> = stats
        .chunks(2 * k)
        .flat_map(|row| row[..k].to_vec())
        .collect();
    let recon = decoder.run(&means)?;
    let mut rng = SplitMix64(a.seed);
    let mut normal = || {
        let u = rng.uniform().max(1e-300);
        ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * rng.uniform()).cos()) as f32
    };
    let codes: Vec<f32> = (0..a.count * a.sample_rows * k).map(|_| normal()).collect();
    let samples = if codes.is_empty() {
        Vec::new()
    } else {
        decoder.run(&codes)?
    };
    // Grey levels span the shown images' range, so pixels 0–255 and 0–1 draw alike.
    let low = images.iter().copied().fold(f32::INFINITY, f32::min);
    let high = images.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let span = (high - low).max(f32::EPSILON);
    let grey = |v: &[f32]| -> Vec<Vec<f32>> {
        v.chunks(per)
            .map(|img| img.iter().map(|x| (x - low) / span).collect())
            .collect()
    };
    let mut rows = vec![
        ImageRow {
            label: "data".into(),
            images: grey(&images),
        },
        ImageRow {
            label: "reconstructed".into(),
            images: grey(&recon),
        },
    ];
    for (r, chunk) in samples.chunks(a.count * per).enumerate() {
        rows.push(ImageRow {
            label: if r == 0 {
                "sampled".into()
            } else {
                String::new()
            },
            images: grey(chunk),
        });
    }
    let title = format!(
        "{}: {k} code dimensions; reconstructions at the mean code, samples from N(0, I)",
        a.encoder.file_name().map_or_else(
            || encoder.name().to_string(),
            |n| n.to_string_lossy().into_owned()
        )
    );
    let png = ardent_plot::image_grid(&rows, image_dims(&set.sample_shape), 3, &title)?;
    ardent_data::write_atomic(&a.out, &png)
        .with_context(|| format!("writing {}", a.out.display()))?;
    eprintln!(
        "wrote {}: {n} images reconstructed, {} sampled, through {k} code dimensions",
        a.out.display(),
        codes.len() / k.max(1)
    );
    Ok(())
}

fn format_of(path: &Path) -> Result<Format> {
    match path
        .extension()
        .and_then(|e| e.to_str())
        .map(str::to_ascii_lowercase)
        .as_deref()
    {
        Some("png") => Ok(Format::Png),
        Some("svg") => Ok(Format::Svg),
        _ => bail!("{}: the picture must end in .png or .svg", path.display()),
    }
}

fn simplex(a: SimplexArgs) -> Result<()> {
    if format_of(&a.out)? != Format::Png {
        bail!("{}: densities are drawn as PNG only", a.out.display());
    }
    if a.concentration.len() != 3 {
        bail!(
            "--concentration: three positive values are needed (the 2-simplex), got {:?}",
            a.concentration
        );
    }
    let s = a.concentration.clone();
    let log_s: Vec<f64> = s.iter().map(|v| v.ln()).collect();
    let mut panels = Vec::new();
    for &tau in &a.temperatures {
        let log_s = log_s.clone();
        panels.push(SimplexPanel {
            title: format!("Gumbel-softmax, λ_temp = {tau}"),
            ln_density: Box::new(move |g: [f64; 3]| concrete_ln_pdf(&log_s, tau, &g)),
        });
    }
    for &tau in &a.temperatures {
        let alpha: Vec<f64> = s.iter().map(|v| v * tau).collect();
        panels.push(SimplexPanel {
            title: format!("Dirichlet, λ_temp = {tau}"),
            ln_density: Box::new(move |g: [f64; 3]| {
                let log_g: Vec<f64> = g.iter().map(|v| v.ln()).collect();
                dirichlet_ln_pdf(&alpha, &log_g)
            }),
        });
    }
    let title = format!(
        "Densities on the simplex, s = ({}, {}, {}); colour: ln p, 2nd to 98th percentile per panel",
        s[0], s[1], s[2]
    );
    let bytes = ardent_plot::simplex_grid(
        &panels,
        a.temperatures.len(),
        a.size,
        ["e1", "e2", "e3"],
        &title,
    )?;
    super::write_file(&a.out, &bytes)?;
    println!(
        "wrote {} ({} panels, {} bytes)",
        a.out.display(),
        panels.len(),
        bytes.len()
    );
    Ok(())
}

/// `ardent viz gamma`'s work, typed.
#[derive(Debug, Clone)]
pub struct GammaPlot {
    /// The metrics file of a run with searched edges.
    pub metrics: PathBuf,
    /// The run's spec, to name each edge's ops.
    pub model: Option<PathBuf>,
    /// `.png` or `.svg`.
    pub out: PathBuf,
    pub size: (u32, u32),
}

impl GammaPlot {
    /// The picture's default size in pixels.
    pub const SIZE: (u32, u32) = (1200, 800);
}

fn gamma(a: GammaArgs) -> Result<()> {
    draw_gamma(&GammaPlot {
        metrics: a.metrics,
        model: a.model,
        out: a.out,
        size: a.size,
    })
}

/// Draws γ of every searched edge over training, one chart per edge, and says what it wrote.
pub fn draw_gamma(a: &GammaPlot) -> Result<()> {
    let format = format_of(&a.out)?;
    let family = a.model.as_ref().map(Family::from_path).transpose()?;
    let edges = ardent_trainer::history::gamma_history(&a.metrics)?;
    let op_names = |edge: &str, k: usize| -> Vec<String> {
        let found = family.as_ref().and_then(|f| {
            (0..f.edges.len())
                .find(|&e| f.edge_name(e) == edge)
                .map(|e| &f.edges[e].ops)
                .filter(|ops| ops.len() == k)
        });
        match found {
            Some(ops) => ops.iter().map(|o| o.describe()).collect(),
            None => (0..k).map(|r| format!("op {r}")).collect(),
        }
    };
    let charts: Vec<Chart> = edges
        .iter()
        .map(
            |GammaHistory {
                 edge: name,
                 epochs: rows,
             }| {
                let k = rows[0].1.len();
                let names = op_names(name, k);
                Chart {
                    title: name.clone(),
                    x_label: "epoch".into(),
                    y_label: "γ".into(),
                    x_log: false,
                    series: (0..k)
                        .map(|r| Series {
                            label: names[r].clone(),
                            points: rows.iter().map(|(ep, g)| (*ep, g[r])).collect(),
                            mark: Mark::LinePoints,
                            color: r,
                            faint: false,
                        })
                        .collect(),
                    references: Vec::new(),
                    y_range: Some((0.0, 1.0)),
                }
            },
        )
        .collect();
    let cols = (charts.len() as f64).sqrt().ceil() as usize;
    let bytes = ardent_plot::charts(&charts, cols, a.size, format)?;
    super::write_file(&a.out, &bytes)?;
    println!(
        "wrote {} ({} edges, {} bytes)",
        a.out.display(),
        charts.len(),
        bytes.len()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct VizCli {
        #[command(flatten)]
        args: Args,
    }

    /// The pipeline draws γ at the size `viz gamma` draws it by default.
    #[test]
    fn gamma_size_default_is_the_plots() {
        let cli = VizCli::parse_from(["viz", "gamma", "m.jsonl"]);
        let What::Gamma(g) = cli.args.what else {
            panic!("parsed as another picture");
        };
        assert_eq!(g.size, GammaPlot::SIZE);
    }
}
