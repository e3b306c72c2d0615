//! The gated Gaussian code of a VAE (`docs/method.md` §8): z = μ + σ ε from the encoder's
//! statistics, times the gate γ, one structure weight per code dimension relaxed as a
//! searched cube edge's (`crate::gamma`). The supernet calls [`sample`], which also returns
//! the code's KL terms; the gate's q(γ) trains with the weights, its prior stays fixed (see
//! `ardent_models::ops::Code::gate`).
//!
//! z is sampled in every mode: it is a latent variable, not a weight, so evaluation with
//! posterior-mean weights still estimates the ELBO by a sample of it. The gate is the relaxed
//! sample while sampling and the collapsed choice (what the export keeps) otherwise.

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Tensor};

use ardent_models::ops::Code;
use ardent_models::structure::Structure;
use ardent_models::{Ard, Shape, TensorF32, TensorRole};

use super::{Mode, OpParams, TrainOp};
use crate::gamma::{EdgeGamma, constant};
use crate::value::{Value, param, values};

/// A code's gate: q(γ) over its dimensions, `None` when the gate is fixed.
#[derive(Module, Debug)]
pub struct CodeGate {
    pub q: Option<EdgeGamma>,
}

/// One pass of the code over a batch.
#[derive(Debug, Clone)]
pub struct CodeSample {
    /// z ⊙ γ, `[batch, dims]`.
    pub z: Tensor<2>,
    /// KL(q(z | x) ‖ N(0, I)) per sample, `[batch]`, in closed form.
    pub kl: Tensor<1>,
    /// KL(q(γ) ‖ p(γ)) at the gate's sample, when asked for and the gate is searched.
    pub gate_kl: Option<Tensor<1>>,
}

/// The gate's structure; a validated family's code has a valid one.
fn structure(op: &Code) -> Structure {
    op.gate()
        .unwrap_or_else(|m| panic!("a validated family's code has a valid gate: {m}"))
}

/// The code of `stats` (`[batch, 2·dims]`: means, then log-variances) at training progress
/// `progress` (the gate's temperature schedule), with the gate's KL when `with_kl`.
pub fn sample(
    op: &Code,
    p: &CodeGate,
    stats: Tensor<2>,
    mode: Mode,
    progress: f64,
    with_kl: bool,
) -> CodeSample {
    let [batch, _] = stats.dims();
    let d = op.dims;
    let device = stats.device();
    let mu = stats.clone().narrow(1, 0, d);
    let log_var = stats.narrow(1, d, d);
    let eps = Tensor::random([batch, d], Distribution::Normal(0.0, 1.0), &device);
    let z = mu.clone() + log_var.clone().mul_scalar(0.5).exp() * eps;
    // KL(N(μ, σ²) ‖ N(0, 1)) = ½ (μ² + σ² − 1 − ln σ²) per dimension.
    let kl = (mu.square() + log_var.clone().exp() - log_var)
        .sub_scalar(1.0)
        .sum_dim(1)
        .mul_scalar(0.5)
        .reshape([batch]);
    let gate = structure(op);
    let (g, gate_kl) = match (&p.q, mode) {
        (Some(q), Mode::Sample) => {
            let q = crate::gamma::EdgeQ {
                log_prior: q.log_prior.val().detach(),
                ..q.q()
            };
            let r = crate::gamma::sample(&q, &gate, gate.temperature_at(progress), with_kl, &[]);
            (Some(r.gamma), r.kl)
        }
        (Some(q), Mode::Mean { .. }) => (Some(collapsed(&gate, d, &q.logits(), &device)), None),
        (None, _) if gate.gamma.iter().all(|&v| v == 1.0) => (None, None),
        (None, _) => (Some(constant(gate.gamma.clone(), &device)), None),
    };
    let z = match g {
        Some(g) => z * g.unsqueeze_dim::<2>(0),
        None => z,
    };
    CodeSample { z, kl, gate_kl }
}

/// γ at the collapsed choice: each kept dimension's factor, 0 for the others.
fn collapsed(gate: &Structure, dims: usize, logits: &[f64], device: &Device) -> Tensor<1> {
    let mut g = vec![0.0; dims];
    for (j, factor) in gate.collapse_gate(dims, logits) {
        g[j] = factor;
    }
    constant(g, device)
}

impl TrainOp for Code {
    fn init(&self, _input: &Shape, device: &Device) -> OpParams {
        let gate = structure(self);
        let logit = (self.open / (1.0 - self.open)).ln();
        OpParams::Code(CodeGate {
            q: gate.is_searched().then(|| EdgeGamma {
                theta: Param::from_tensor(Tensor::full([self.dims], logit, device)),
                ..EdgeGamma::init(&gate, device)
            }),
        })
    }

    /// The code at the gate's first temperature; the supernet calls [`sample`] instead, with
    /// its progress and the KL terms.
    fn forward(&self, p: &OpParams, x: Value, mode: Mode, _batch: usize) -> Value {
        let OpParams::Code(g) = p else {
            super::mismatch("code", p)
        };
        Value::Vector(sample(self, g, x.into_vector(), mode, 0.0, false).z)
    }

    fn save(&self, p: &OpParams, role: TensorRole, _ard: &Ard) -> Option<Vec<f32>> {
        let OpParams::Code(CodeGate { q: Some(q) }) = p else {
            return None;
        };
        Some(values(match role {
            TensorRole::CodeGateLogits => q.theta.val(),
            TensorRole::CodeGateLogPrior => q.log_prior.val(),
            TensorRole::CodeGateLogSigma => q.log_sigma.as_ref()?.val(),
            _ => return None,
        }))
    }

    fn load(&self, p: &mut OpParams, role: TensorRole, t: &TensorF32, device: &Device) -> bool {
        let OpParams::Code(CodeGate { q: Some(q) }) = p else {
            return false;
        };
        match role {
            TensorRole::CodeGateLogits => q.theta = param(t, device),
            TensorRole::CodeGateLogPrior => q.log_prior = param(t, device),
            TensorRole::CodeGateLogSigma => q.log_sigma = Some(param(t, device)),
            _ => return false,
        }
        true
    }
}
