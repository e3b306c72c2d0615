//! From a checkpoint to the collapsed model: γ collapsed to discrete ops
//! ([`ardent_models::structure::Structure::collapse`], `METHOD.md` §6) and
//! every weight the relative-density rule prunes at λ set to zero (§5). Nothing is removed
//! yet; [`crate::shrink`] does that. This is also the model the export is verified against.

use ardent_models::layout::op_prefix;
use ardent_models::{Aggregation, Checkpoint, Family, Op};

use crate::error::ExportError;
use crate::masks::keep_mask;

/// The weights of one kept op, pruned weights set to zero.
#[derive(Debug, Clone, PartialEq)]
pub struct OpWeights {
    /// Dense and GLM `[out, in]`, conv `[out, in, k, k]`, row-major; empty for other ops.
    pub weight: Vec<f32>,
    pub bias: Option<Vec<f32>>,
    /// A constant op's value.
    pub value: Vec<f32>,
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

/// A collapsed, masked model: the discrete member of the family the export writes.
#[derive(Debug, Clone)]
pub struct Collapsed {
    pub family: Family,
    pub lambda: f64,
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
        if !(lambda > 0.0 && lambda < 1.0) {
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
                    value: Vec::new(),
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
                    let keep = keep_mask(&mu.data, &ls.data, lambda as f32);
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
                } else if let Op::Constant { .. } = op {
                    w.value = tensor(&format!("{prefix}.value"))?.data.clone();
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
        Ok(Collapsed {
            family: f.clone(),
            lambda,
            branches,
            mean,
            std,
            params_before,
        })
    }

    /// Weights the rule keeps over all kept ops (before structural removal).
    pub fn kept_weights(&self) -> usize {
        self.branches.iter().flatten().map(|b| b.weights.kept).sum()
    }
}
