//! From a checkpoint to the collapsed model: γ collapsed to discrete ops
//! ([`ardent_models::structure::Structure::collapse`], `docs/method.md` §6) and
//! every weight the relative-density rule prunes at λ set to zero (§5). Nothing is removed
//! yet; [`crate::shrink`] does that. This is also the model the export is verified against.

use ardent_models::layout::op_prefix;
use ardent_models::{Aggregation, Checkpoint, Family};

use crate::error::ExportError;
use crate::masks::{keep_mask, keep_mask_log_alpha, lambda_at_log_alpha, log_alpha_threshold};

/// The weights of one kept op, pruned weights set to zero.
#[derive(Debug, Clone, PartialEq)]
pub struct OpWeights {
    /// Dense and GLM `[out, in]`, conv `[out, in, k, k]`, row-major; empty for other ops.
    pub weight: Vec<f32>,
    pub bias: Option<Vec<f32>>,
    /// The op's other tensors by name suffix (`OpFamily::tensors`): a constant's `value`,
    /// a batch norm's `scale`, `shift`, `running_mean`, `running_var`.
    pub tensors: std::collections::BTreeMap<&'static str, Vec<f32>>,
    /// Weights the rule keeps (before any structural removal).
    pub kept: usize,
}

/// One op that survives the collapse on its edge, with the factor its output is scaled by:
/// its γ, divided by the in-degree when the edge ends at a `mean` vertex.
#[derive(Debug, Clone)]
pub struct Branch {
    pub edge: usize,
    pub op: usize,
    pub scale: f32,
    pub weights: OpWeights,
}

/// Which weights of the kept ops survive.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Pruning {
    /// The relative-density rule: prune w when ρ = exp(−μ²/2σ²) > λ.
    RelativeDensity { lambda: f64 },
    /// The same rule by its log α = log(σ²/μ²) threshold: prune w when log α > `threshold`
    /// (λ = exp(−e^(−threshold)/2)). It reaches thresholds whose λ underflows f64 (below
    /// log α ≈ −7.3), which the sweep needs for weakly regularised runs.
    LogAlpha { threshold: f64 },
    /// The baseline: keep the `keep` weights of largest |μ| over the whole collapsed member
    /// (ties broken by position), prune the rest.
    Magnitude { keep: usize },
}

impl Pruning {
    /// Keeps every weight of the kept ops (μ² ≥ 0 at an infinite log α threshold).
    pub const KEEP_ALL: Pruning = Pruning::LogAlpha {
        threshold: f64::INFINITY,
    };

    /// The relative-density threshold λ, for the rule's two forms.
    pub fn lambda(self) -> Option<f64> {
        match self {
            Pruning::RelativeDensity { lambda } => Some(lambda),
            Pruning::LogAlpha { threshold } => Some(lambda_at_log_alpha(threshold)),
            Pruning::Magnitude { .. } => None,
        }
    }

    /// The same threshold as log α, for the rule's two forms.
    pub fn log_alpha(self) -> Option<f64> {
        match self {
            Pruning::RelativeDensity { lambda } => Some(log_alpha_threshold(lambda)),
            Pruning::LogAlpha { threshold } => Some(threshold),
            Pruning::Magnitude { .. } => None,
        }
    }
}

/// A collapsed, masked model: the discrete member of the family the export writes.
#[derive(Debug, Clone)]
pub struct Collapsed {
    pub family: Family,
    pub pruning: Pruning,
    /// Kept ops per edge (empty: the edge is dropped).
    pub branches: Vec<Vec<Branch>>,
    /// The input normaliser: the model computes on `(x − mean) / std`.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// Weights of every candidate of every edge, before anything was dropped.
    pub params_before: usize,
}

impl Collapsed {
    /// Collapses a checkpoint at threshold `lambda`; `name` (its path) goes into errors.
    pub fn new(ckpt: &Checkpoint, lambda: f64, name: &str) -> Result<Collapsed, ExportError> {
        Collapsed::pruned(ckpt, Pruning::RelativeDensity { lambda }, name)
    }

    /// Collapses a checkpoint and prunes its kept ops' weights as `pruning` says.
    pub fn pruned(
        ckpt: &Checkpoint,
        pruning: Pruning,
        name: &str,
    ) -> Result<Collapsed, ExportError> {
        if let Pruning::RelativeDensity { lambda } = pruning
            && !(lambda > 0.0 && lambda < 1.0)
        {
            return Err(ExportError::Lambda(lambda));
        }
        let f = &ckpt.family;
        let invalid = |message: String| ExportError::Invalid {
            checkpoint: name.to_string(),
            message,
        };
        let tensor = |n: &str| {
            ckpt.get(n)
                .ok_or_else(|| invalid(format!("tensor `{n}` is missing")))
        };
        if let Some(site) = f.code_site() {
            return Err(invalid(format!(
                "`{}` is a VAE: its encoder and decoder export as two files, with the code dimensions its gate drops removed (`export_vae`), not as one; its code is edge {}",
                f.name,
                f.edge_name(site.edge)
            )));
        }
        let mean = tensor("input.mean")?.data.clone();
        let std = tensor("input.std")?.data.clone();
        if mean.len() != f.input_shape().size() || std.len() != mean.len() {
            return Err(invalid(format!(
                "the input normaliser has {} values, but the spec's input has {}",
                mean.len(),
                f.input_shape().size()
            )));
        }
        let mut params_before = 0;
        let mut branches = Vec::with_capacity(f.edges.len());
        for (e, edge) in f.edges.iter().enumerate() {
            let input = &f.vertices[edge.from].shape;
            params_before += edge.ops.iter().map(|op| op.params(input)).sum::<usize>();
            let logits = ckpt.edge_logits(e).ok_or_else(|| {
                invalid(format!(
                    "tensor `{}.gamma.logits` is missing",
                    f.edge_key(e)
                ))
            })?;
            let to = &f.vertices[edge.to];
            let divisor = match to.agg {
                Aggregation::Mean => to.incoming.len() as f64,
                _ => 1.0,
            };
            let kept = edge.structure.collapse(&edge.ops, &logits);
            let mut list = Vec::with_capacity(kept.len());
            for (r, gamma) in kept {
                let prefix = op_prefix(f, e, r);
                let op = &edge.ops[r];
                let mut w = OpWeights {
                    weight: Vec::new(),
                    bias: None,
                    tensors: Default::default(),
                    kept: 0,
                };
                if op.is_parametric() {
                    let mu = tensor(&format!("{prefix}.weight.mu"))?;
                    let ls = tensor(&format!("{prefix}.weight.log_sigma2"))?;
                    if mu.data.len() != ls.data.len() {
                        return Err(invalid(format!(
                            "`{prefix}.weight.mu` and `.log_sigma2` differ in size"
                        )));
                    }
                    let keep = match pruning {
                        Pruning::RelativeDensity { lambda } => {
                            keep_mask(&mu.data, &ls.data, lambda)
                        }
                        Pruning::LogAlpha { threshold } => {
                            keep_mask_log_alpha(&mu.data, &ls.data, threshold)
                        }
                        Pruning::Magnitude { .. } => vec![true; mu.data.len()],
                    };
                    w.weight = mu
                        .data
                        .iter()
                        .zip(&keep)
                        .map(|(&m, &k)| if k { m } else { 0.0 })
                        .collect();
                    w.kept = w.weight.iter().filter(|v| **v != 0.0).count();
                    if op.bias_params() > 0 {
                        w.bias = Some(tensor(&format!("{prefix}.bias"))?.data.clone());
                    }
                } else {
                    for (suffix, _, _) in op.tensors(&f.vertices[edge.from].shape) {
                        let t = tensor(&format!("{prefix}.{suffix}"))?;
                        w.tensors.insert(suffix, t.data.clone());
                    }
                }
                list.push(Branch {
                    edge: e,
                    op: r,
                    scale: (gamma / divisor) as f32,
                    weights: w,
                });
            }
            branches.push(list);
        }
        let mut c = Collapsed {
            family: f.clone(),
            pruning,
            branches,
            mean,
            std,
            params_before,
        };
        if let Pruning::Magnitude { keep } = pruning {
            let order = c.magnitude_order();
            c.keep_first(&order, keep);
        }
        Ok(c)
    }

    /// Weights the rule keeps over all kept ops (before structural removal).
    pub fn kept_weights(&self) -> usize {
        self.branches.iter().flatten().map(|b| b.weights.kept).sum()
    }

    /// Positions (edge, branch, index) of every weight of the kept ops, largest |μ| first;
    /// among equals the earlier position first, so magnitude pruning is deterministic.
    pub fn magnitude_order(&self) -> Vec<(usize, usize, usize)> {
        let mut all: Vec<(f32, (usize, usize, usize))> = Vec::new();
        for (e, list) in self.branches.iter().enumerate() {
            for (b, branch) in list.iter().enumerate() {
                for (i, w) in branch.weights.weight.iter().enumerate() {
                    all.push((w.abs(), (e, b, i)));
                }
            }
        }
        all.sort_by(|a, b| b.0.total_cmp(&a.0).then(a.1.cmp(&b.1)));
        all.into_iter().map(|(_, at)| at).collect()
    }

    /// Zeroes every weight but the first `keep` of `order` (from [`Self::magnitude_order`]):
    /// magnitude pruning, recorded as [`Pruning::Magnitude`].
    pub fn keep_first(&mut self, order: &[(usize, usize, usize)], keep: usize) {
        for &(e, b, i) in order.iter().skip(keep) {
            self.branches[e][b].weights.weight[i] = 0.0;
        }
        for branch in self.branches.iter_mut().flatten() {
            branch.weights.kept = branch.weights.weight.iter().filter(|v| **v != 0.0).count();
        }
        self.pruning = Pruning::Magnitude { keep };
    }
}
