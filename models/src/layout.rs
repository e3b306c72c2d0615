//! The names and shapes of every tensor a family's checkpoint holds. Trainer and exporter both
//! go through this list, so the names are stable and defined once.
//!
//! For edge `(from, to)` and op `r` the prefix is `edge.{from}-{to}.op.{r}`:
//! - dense and glm: `.weight.mu` and `.weight.log_sigma2` as `[out, in]`, `.weight.alpha` (the
//!   ARD precisions, shaped by the grouping), `.bias` as `[out]` when the op has one;
//! - conv2d: the same with weights `[out, in, k, k]`;
//! - constant: `.value` as `[units]`;
//! - batchnorm: `.scale`, `.shift`, `.running_mean`, `.running_var`, each `[channels]`;
//! - code: with a searched gate, `.gate.logits` and `.gate.log_prior` (`[dims]`), and
//!   `.gate.log_sigma` for a logit-normal one.
//!
//! A searched edge also holds `edge.{from}-{to}.gamma.logits` (`[ops]`): the logits θ of its
//! structure distribution (softmax on the simplex, sigmoid per op in the cube; for Dirichlet the
//! log concentration up to the temperature, for logit-normal the mean of X). A logit-normal edge
//! adds `edge.{from}-{to}.gamma.log_sigma` (`[ops]`), log σ of X. Every searched edge holds
//! `edge.{from}-{to}.gamma.log_prior` (`[ops]`), the log concentration ln s of its prior.
//!
//! Family-wide: `input.mean` and `input.std` (the normaliser, per input value); for
//! regression and a Gaussian VAE, `output.log_noise_var` (`[targets]`, `[features]`); for a
//! Bernoulli VAE, `output.range` (`[2]`: the data's low and high).

use crate::ard::Grouping;
use crate::family::Family;

pub use crate::role::TensorRole;

/// One tensor of a checkpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TensorSpec {
    pub name: String,
    pub shape: Vec<usize>,
    pub role: TensorRole,
    /// The edge and op it belongs to, if any.
    pub owner: Option<(usize, usize)>,
}

/// Shape of the weight tensor of a parametric op on its edge, `[out, in]` or `[out, in, k, k]`.
pub fn weight_shape(f: &Family, e: usize, r: usize) -> Option<Vec<usize>> {
    let edge = &f.edges[e];
    let input = &f.vertices[edge.from].shape;
    edge.ops[r].weight_shape(input)
}

/// Shape of the ARD precision tensor for a weight of shape `w` under `grouping`.
pub fn alpha_shape(w: &[usize], grouping: Grouping) -> Vec<usize> {
    match grouping {
        Grouping::Weight => w.to_vec(),
        Grouping::Neuron => vec![w[0]],
        Grouping::Input => vec![w[1]],
    }
}

/// Prefix of op `r` on edge `e`.
pub fn op_prefix(f: &Family, e: usize, r: usize) -> String {
    format!("{}.op.{r}", f.edge_key(e))
}

impl Family {
    /// Every tensor a checkpoint of this family holds, in a fixed order.
    pub fn tensor_layout(&self) -> Vec<TensorSpec> {
        let mut out = Vec::new();
        let input = self.input_shape().size();
        for (name, role) in [
            ("input.mean", TensorRole::InputMean),
            ("input.std", TensorRole::InputStd),
        ] {
            out.push(TensorSpec {
                name: name.into(),
                shape: vec![input],
                role,
                owner: None,
            });
        }
        let noise = match self.task {
            crate::Task::Regression { targets } => Some(targets),
            crate::Task::Vae {
                features,
                likelihood: crate::Likelihood::Gaussian,
            } => Some(features),
            _ => None,
        };
        if let Some(targets) = noise {
            out.push(TensorSpec {
                name: "output.log_noise_var".into(),
                shape: vec![targets],
                role: TensorRole::LogNoiseVar,
                owner: None,
            });
        }
        if let crate::Task::Vae {
            likelihood: crate::Likelihood::Bernoulli,
            ..
        } = self.task
        {
            out.push(TensorSpec {
                name: "output.range".into(),
                shape: vec![2],
                role: TensorRole::OutputRange,
                owner: None,
            });
        }
        for e in 0..self.edges.len() {
            let edge = &self.edges[e];
            if edge.structure.is_searched() {
                out.push(TensorSpec {
                    name: format!("{}.gamma.logits", self.edge_key(e)),
                    shape: vec![edge.ops.len()],
                    role: TensorRole::GammaLogits,
                    owner: Some((e, 0)),
                });
                out.push(TensorSpec {
                    name: format!("{}.gamma.log_prior", self.edge_key(e)),
                    shape: vec![edge.ops.len()],
                    role: TensorRole::GammaLogPrior,
                    owner: Some((e, 0)),
                });
            }
            if edge.structure.relaxation == crate::structure::Relaxation::LogitNormal {
                out.push(TensorSpec {
                    name: format!("{}.gamma.log_sigma", self.edge_key(e)),
                    shape: vec![edge.ops.len()],
                    role: TensorRole::GammaLogSigma,
                    owner: Some((e, 0)),
                });
            }
            for (r, op) in edge.ops.iter().enumerate() {
                let prefix = op_prefix(self, e, r);
                let owner = Some((e, r));
                let mut push = |suffix: &str, shape: Vec<usize>, role| {
                    out.push(TensorSpec {
                        name: format!("{prefix}.{suffix}"),
                        shape,
                        role,
                        owner,
                    })
                };
                if let Some(w) = weight_shape(self, e, r) {
                    push("weight.mu", w.clone(), TensorRole::WeightMu);
                    push("weight.log_sigma2", w.clone(), TensorRole::WeightLogSigma2);
                    push(
                        "weight.alpha",
                        alpha_shape(&w, edge.ard[r].grouping),
                        TensorRole::Alpha,
                    );
                    if op.bias_params() > 0 {
                        push("bias", vec![w[0]], TensorRole::Bias);
                    }
                } else {
                    for (suffix, shape, role) in op.tensors(&self.vertices[edge.from].shape) {
                        push(suffix, shape, role);
                    }
                }
            }
        }
        out
    }
}
