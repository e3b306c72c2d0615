//! Accuracy against exported parameters: one checkpoint exported at many thresholds λ, each
//! export run in tract on labelled data, and beside each point the magnitude-pruning baseline
//! at the same exported parameter count (the same collapse and the same structured removal,
//! only the weight mask differs).

use ardent_models::Checkpoint;
use ardent_models::layout::op_prefix;
use serde::Serialize;

use crate::collapse::{Collapsed, Pruning};
use crate::error::ExportError;

use crate::{ExportOptions, emit, export_collapsed, shrink};

/// How a point's weights were chosen.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Method {
    /// The relative-density rule at λ.
    Ard,
    /// The largest |μ|, as many as keep the ARD point's exported parameter count.
    Magnitude,
}

impl Method {
    pub fn name(self) -> &'static str {
        match self {
            Method::Ard => "ard",
            Method::Magnitude => "magnitude",
        }
    }
}

/// One exported model of a sweep, measured in tract.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SweepPoint {
    pub method: Method,
    /// The threshold λ (ARD points only; 0 where it underflows f64, below log α ≈ −7.3).
    pub lambda: Option<f64>,
    /// The same threshold as log α = log(σ²/μ²) (ARD points only).
    pub log_alpha: Option<f64>,
    /// Weights the mask keeps in the collapsed member, before structured removal.
    pub kept_weights: usize,
    /// Float scalars in the exported file's initializers.
    pub params: usize,
    pub flops: u64,
    pub file_bytes: usize,
    /// Accuracy in tract on the options' samples.
    pub accuracy: f64,
}

/// What to sweep.
#[derive(Debug, Clone)]
pub struct SweepOptions {
    /// Thresholds to export at, as log α (λ = exp(−e^(−log α)/2)); see [`auto_thresholds`].
    pub thresholds: Vec<f64>,
    /// Also export the magnitude baseline beside every ARD point.
    pub magnitude: bool,
    /// How each point is exported; `data` must hold labelled samples, `lambda` is ignored.
    pub export: ExportOptions,
}

/// log α = log σ² − log μ² of every weight of the ops the checkpoint collapses to
/// (+∞ where μ = 0), sorted.
pub fn collapsed_log_alphas(ckpt: &Checkpoint, name: &str) -> Result<Vec<f64>, ExportError> {
    let c = Collapsed::pruned(ckpt, Pruning::KEEP_ALL, name)?;
    let mut out = Vec::new();
    for b in c.branches.iter().flatten() {
        if b.weights.weight.is_empty() {
            continue;
        }
        let prefix = op_prefix(&c.family, b.edge, b.op);
        let get = |n: &str| {
            ckpt.get(n).ok_or_else(|| ExportError::Invalid {
                checkpoint: name.to_string(),
                message: format!("tensor `{n}` is missing"),
            })
        };
        let mu = get(&format!("{prefix}.weight.mu"))?;
        let ls = get(&format!("{prefix}.weight.log_sigma2"))?;
        out.extend(mu.data.iter().zip(&ls.data).map(|(&m, &s)| {
            let m = f64::from(m);
            f64::from(s) - (m * m).ln()
        }));
    }
    out.sort_by(f64::total_cmp);
    Ok(out)
}

/// `n` log α thresholds, increasing, whose masks keep geometrically spaced numbers of the
/// collapsed member's weights, from about `min_fraction` of them to all of them; each threshold
/// sits halfway between two weights' log α, so rounding cannot move a weight across it.
pub fn auto_thresholds(
    ckpt: &Checkpoint,
    name: &str,
    n: usize,
    min_fraction: f64,
) -> Result<Vec<f64>, ExportError> {
    let la = collapsed_log_alphas(ckpt, name)?;
    let total = la.len();
    if total == 0 || n == 0 {
        return Ok(Vec::new());
    }
    let lo = ((total as f64 * min_fraction).round() as usize).clamp(1, total);
    let mut out: Vec<f64> = (0..n)
        .map(|i| {
            let t = if n == 1 {
                1.0
            } else {
                i as f64 / (n - 1) as f64
            };
            let k = ((lo as f64) * (total as f64 / lo as f64).powf(t)).round() as usize;
            let k = k.clamp(1, total);
            if k == total {
                let last = la[total - 1];
                if last.is_finite() {
                    last + 1.0
                } else {
                    f64::MAX
                }
            } else if la[k].is_finite() {
                0.5 * (la[k - 1] + la[k])
            } else {
                la[k - 1] + 1.0
            }
        })
        .collect();
    out.sort_by(f64::total_cmp);
    out.dedup();
    Ok(out)
}

fn exported_params(c: &Collapsed, options: &ExportOptions) -> usize {
    let plan = shrink::Plan::new(c);
    emit::emit(
        c,
        &plan,
        options.weight_type,
        options.storage,
        options.softmax,
        options.output_map.as_ref(),
    )
    .builder
    .parameters()
}

/// The magnitude mask that keeps the most weights while its export has at most `target`
/// parameters (exported parameters grow with the weights kept; binary search on that). The
/// member is collapsed and its weights ranked once; each probe only zeroes a tail.
fn magnitude_matching(
    ckpt: &Checkpoint,
    name: &str,
    target: usize,
    options: &ExportOptions,
) -> Result<Collapsed, ExportError> {
    let all = Collapsed::pruned(ckpt, Pruning::KEEP_ALL, name)?;
    let order = all.magnitude_order();
    let at = |keep: usize| {
        let mut c = all.clone();
        c.keep_first(&order, keep);
        c
    };
    let (mut lo, mut hi) = (0usize, order.len());
    while lo < hi {
        let mid = lo + (hi - lo).div_ceil(2);
        if exported_params(&at(mid), options) <= target {
            lo = mid;
        } else {
            hi = mid - 1;
        }
    }
    Ok(at(lo))
}

/// Sweeps one checkpoint: for each threshold (in the order given), the ARD export and, when asked,
/// the magnitude baseline matched to its parameter count. `progress` sees every point as it
/// is measured.
pub fn sweep(
    ckpt: &Checkpoint,
    name: &str,
    options: &SweepOptions,
    progress: &mut dyn FnMut(&SweepPoint),
) -> Result<Vec<SweepPoint>, ExportError> {
    if options
        .export
        .data
        .as_ref()
        .is_none_or(|d| d.labels.is_none())
    {
        return Err(ExportError::Invalid {
            checkpoint: name.to_string(),
            message: "a sweep measures accuracy: it needs labelled samples of a classifier".into(),
        });
    }
    let measure = |c: Collapsed, method: Method| -> Result<SweepPoint, ExportError> {
        let kept_weights = c.kept_weights();
        let (lambda, log_alpha) = (c.pruning.lambda(), c.pruning.log_alpha());
        let r = export_collapsed(ckpt, c, name, &options.export)?.report;
        Ok(SweepPoint {
            method,
            lambda,
            log_alpha,
            kept_weights,
            params: r.params_after,
            flops: r.flops_after,
            file_bytes: r.file_bytes,
            accuracy: r.accuracy.unwrap_or(f64::NAN),
        })
    };
    let mut points = Vec::new();
    for &threshold in &options.thresholds {
        let c = Collapsed::pruned(ckpt, Pruning::LogAlpha { threshold }, name)?;
        let ard = measure(c, Method::Ard)?;
        progress(&ard);
        let target = ard.params;
        points.push(ard);
        if options.magnitude {
            let c = magnitude_matching(ckpt, name, target, &options.export)?;
            let m = measure(c, Method::Magnitude)?;
            progress(&m);
            points.push(m);
        }
    }
    Ok(points)
}

/// Indices of the points no other point dominates (at most as many parameters and at least
/// the accuracy, one of them strictly), sorted by parameters; equal points are all kept.
pub fn pareto_front(points: &[(usize, f64)]) -> Vec<usize> {
    let mut order: Vec<usize> = (0..points.len())
        .filter(|&i| points[i].1.is_finite())
        .collect();
    order.sort_by(|&a, &b| {
        points[a]
            .0
            .cmp(&points[b].0)
            .then(points[b].1.total_cmp(&points[a].1))
    });
    let mut front: Vec<usize> = Vec::new();
    let mut best = f64::NEG_INFINITY;
    for i in order {
        // Equal points do not dominate each other: a duplicate of a front point is on it too.
        let duplicate = front.last().is_some_and(|&j| points[j] == points[i]);
        if points[i].1 > best || duplicate {
            best = best.max(points[i].1);
            front.push(i);
        }
    }
    front
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn front_by_hand() {
        // (params, accuracy): 1 dominates 3; 4 ties 0's accuracy with more parameters.
        let pts = [
            (100, 0.8),
            (50, 0.7),
            (200, 0.9),
            (120, 0.75),
            (150, 0.8),
            (50, 0.7),
        ];
        assert_eq!(pareto_front(&pts), vec![1, 5, 0, 2]);
        assert!(pareto_front(&[(1, f64::NAN)]).is_empty());
    }
}

/// Which thresholds each checkpoint of a [`SweepJob`] is exported at.
#[derive(Debug, Clone, PartialEq)]
pub enum Thresholds {
    /// `points` thresholds chosen by [`auto_thresholds`], down to `min_fraction` of the
    /// collapsed member's weights.
    Auto { points: usize, min_fraction: f64 },
    /// These λ, in this order.
    Lambdas(Vec<f64>),
}

/// Checkpoints swept one after another on the same data: `ardent sweep`'s work, typed.
#[derive(Debug, Clone)]
pub struct SweepJob {
    pub checkpoints: Vec<std::path::PathBuf>,
    /// Labelled data: its test split, or else each checkpoint's validation split.
    pub data: ardent_data::Source,
    pub thresholds: Thresholds,
    /// Measure the magnitude-pruning baseline beside each point.
    pub magnitude: bool,
    pub storage: crate::Storage,
}

/// One checkpoint's sweep.
#[derive(Debug, Clone)]
pub struct CheckpointSweep {
    /// The checkpoint's path, as given.
    pub name: String,
    /// Its file stem, with the run's KL weight when stored.
    pub label: String,
    /// λ_prior^L of the run, when its settings hold it.
    pub kl_weight: Option<f64>,
    pub points: Vec<SweepPoint>,
}

/// What a sweep tells while it measures.
pub trait SweepObserver {
    /// A checkpoint's sweep starts: its name, how many thresholds, on which samples.
    fn start(&mut self, name: &str, thresholds: usize, source: &str, samples: usize);
    /// One measured point.
    fn point(&mut self, point: &SweepPoint);
    /// What the data readers decided on their own.
    fn note(&mut self, text: &str);
}

/// Sweeps every checkpoint of `job` in turn. A checkpoint of a regression model is an error
/// (a sweep measures accuracy).
pub fn sweep_all(
    job: &SweepJob,
    obs: &mut dyn SweepObserver,
) -> Result<Vec<CheckpointSweep>, ExportError> {
    let mut runs = Vec::new();
    for path in &job.checkpoints {
        let name = path.display().to_string();
        let ck = Checkpoint::read(path)?;
        if !matches!(ck.family.task, ardent_models::Task::Classification { .. }) {
            return Err(ExportError::Invalid {
                checkpoint: name,
                message: format!(
                    "a sweep measures accuracy, but the checkpoint's `{}` is a {} model",
                    ck.family.name,
                    match ck.family.task {
                        ardent_models::Task::Vae { .. } => "VAE",
                        _ => "regression",
                    }
                ),
            });
        }
        let (data, notes) = crate::evaluation_samples(&job.data, &ck)?;
        for n in &notes {
            obs.note(n);
        }
        let thresholds = match &job.thresholds {
            Thresholds::Lambdas(l) => l
                .iter()
                .map(|&l| crate::masks::log_alpha_threshold(l))
                .collect(),
            Thresholds::Auto {
                points,
                min_fraction,
            } => auto_thresholds(&ck, &name, *points, *min_fraction)?,
        };
        let kl_weight = ck
            .meta
            .settings
            .pointer("/objective/kl_weight")
            .and_then(|v| v.as_f64());
        let stem = path
            .file_stem()
            .map_or(name.clone(), |s| s.to_string_lossy().into_owned());
        let label = match kl_weight {
            Some(k) => format!("{stem} (KL weight {k})"),
            None => stem,
        };
        obs.start(
            &name,
            thresholds.len(),
            &data.source,
            data.labels.as_ref().map_or(0, Vec::len),
        );
        let options = SweepOptions {
            thresholds,
            magnitude: job.magnitude,
            export: ExportOptions {
                storage: job.storage,
                verify_samples: 32,
                data: Some(data),
                ..ExportOptions::default()
            },
        };
        let points = sweep(&ck, &name, &options, &mut |p| obs.point(p))?;
        runs.push(CheckpointSweep {
            name,
            label,
            kl_weight,
            points,
        });
    }
    Ok(runs)
}
