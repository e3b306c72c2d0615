//! The inner objective E_q log p(y | x, w) − λ_prior^L · KL(q ‖ p), per sample.

use burn::tensor::Tensor;
use burn::tensor::activation::log_softmax;
use serde::{Deserialize, Serialize};

use crate::data::BatchTargets;
use crate::ops::Mode;
use crate::outer::{Order, OuterConfig};
use crate::supernet::{Pass, Supernet, Value};
use ardent_models::{Likelihood, Task};

/// Named settings of the generalized objective (`docs/method.md` §4).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Preset {
    /// λ_prior^L = 0, one level: maximum likelihood (nothing gets pruned by the objective).
    Ml,
    /// λ_prior^L = λ_prior^Q = λ_lik^Q = 1: the variational evidence lower bound, one level.
    Elbo,
    /// λ_prior^Q / λ_lik^Q = λ_prior^L: the outer problem is the inner one, so every variable
    /// follows the one objective L on the training split.
    SingleLevel,
    /// DARTS: weights by maximum likelihood on the training split (λ_prior^L = 0), the
    /// structure θ and the priors by the validation likelihood (λ_lik^Q = 1, λ_prior^Q = 0).
    Darts,
    /// λ_prior^Q = 0, λ_prior^L = 1: the hyperparameters follow the validation likelihood of
    /// the variational posterior, which only the second-order hypergradient can see.
    Evidence,
}

/// The weight of the KL term and how it warms up.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Objective {
    pub preset: Preset,
    /// λ_prior^L (the preset's value unless overridden).
    pub kl_weight: f64,
    /// Epochs over which the KL weight rises linearly from 0 to `kl_weight`.
    pub warmup_epochs: f64,
}

impl Objective {
    pub fn preset(preset: Preset) -> Objective {
        Objective {
            preset,
            kl_weight: match preset {
                Preset::Ml | Preset::Darts => 0.0,
                Preset::Elbo | Preset::SingleLevel | Preset::Evidence => 1.0,
            },
            warmup_epochs: 0.0,
        }
    }

    /// The outer problem a preset sets up, `None` for the one-level presets; `xi` is the
    /// second-order hypergradient's virtual step (DARTS takes the inner learning rate).
    pub fn outer(preset: Preset, xi: f64) -> Option<OuterConfig> {
        match preset {
            Preset::Ml | Preset::Elbo | Preset::SingleLevel => None,
            Preset::Darts => Some(OuterConfig {
                lik: 1.0,
                prior: 0.0,
                order: Order::First,
                xi,
                structure_outer: true,
                references: Vec::new(),
            }),
            Preset::Evidence => Some(OuterConfig {
                lik: 1.0,
                prior: 0.0,
                order: Order::Second,
                xi,
                structure_outer: false,
                references: Vec::new(),
            }),
        }
    }

    /// The KL weight after `epochs` (fractional) epochs of training.
    pub fn kl_weight_at(&self, epochs: f64) -> f64 {
        if self.warmup_epochs <= 0.0 {
            self.kl_weight
        } else {
            self.kl_weight * (epochs / self.warmup_epochs).clamp(0.0, 1.0)
        }
    }
}

/// Mean negative log-likelihood of a batch: softmax cross-entropy for classes, Gaussian with
/// learned variance `log_noise_var` for real targets (per target). For a VAE, the negative
/// ELBO of each sample's own variables, −E log p(x | z ⊙ γ) + KL(q(z | x) ‖ p(z)), summed over
/// its values (Bernoulli on targets in [0, 1], or Gaussian with `log_noise_var` per value) with
/// the code's `code_kl` (`[batch]`), averaged over the batch.
pub fn nll(
    task: Task,
    output: Tensor<2>,
    targets: &BatchTargets,
    log_noise_var: Option<Tensor<1>>,
    code_kl: Option<Tensor<1>>,
) -> Tensor<1> {
    match (targets, task) {
        (BatchTargets::Real(t, _), Task::Vae { likelihood, .. }) => {
            let [b, _] = t.dims();
            let per_value = match likelihood {
                Likelihood::Gaussian => gaussian_nll(output, t, log_noise_var),
                // −[t ln σ(y) + (1 − t) ln(1 − σ(y))] = softplus(y) − t·y, kept finite for
                // large |y| as max(y, 0) + ln(1 + e^(−|y|)) − t·y.
                Likelihood::Bernoulli => {
                    output.clone().clamp_min(0.0) - output.clone() * t.clone()
                        + output.abs().neg().exp().add_scalar(1.0).log()
                }
            };
            let mut per_sample = per_value.sum_dim(1).reshape([b]);
            if let Some(kl) = code_kl {
                per_sample = per_sample + kl;
            }
            per_sample.mean()
        }
        (BatchTargets::Classes(y, _), _) => {
            let b = y.dims()[0];
            let logp = log_softmax(output, 1);
            logp.gather(1, y.clone().reshape([b, 1])).mean().neg()
        }
        (BatchTargets::Real(y, _), _) => gaussian_nll(output, y, log_noise_var).mean(),
    }
}

/// −ln N(y | output, e^lv) of each value (`[batch, values]`), with `log_noise_var` one lv per
/// column; without one (a net always has one), unit variance.
fn gaussian_nll(output: Tensor<2>, y: &Tensor<2>, log_noise_var: Option<Tensor<1>>) -> Tensor<2> {
    let lv = log_noise_var
        .map(|t| t.unsqueeze_dim::<2>(0))
        .unwrap_or_else(|| y.zeros_like().sum_dim(0));
    ((output - y.clone()).square() * lv.clone().neg().exp() + lv)
        .add_scalar((2.0 * std::f64::consts::PI).ln())
        .mul_scalar(0.5)
}

/// [`nll`] of a pass of `net`.
pub fn pass_nll(net: &Supernet, pass: &Pass, targets: &BatchTargets) -> Tensor<1> {
    nll(
        net.family.task,
        pass.out.clone(),
        targets,
        net.log_noise_var.as_ref().map(|p| p.val()),
        pass.code_kl.clone(),
    )
}

/// One batch's training loss: NLL + `kl_weight` · (KL(q(w) ‖ p(w)) + KL(q(γ) ‖ p(γ))) /
/// `n_train` (the per-sample ELBO's negative when `kl_weight` = 1), with the KL entering by its
/// gradient only, so the loss's value is the NLL's (the epoch's weight KL is measured once, by
/// [`Supernet::kl`] with its value). Returns (loss, NLL, output, structure KL): the last is
/// the value of KL(q(γ) ‖ p(γ)) at this batch's samples, when γ is searched and weighted.
/// No KL term is built at weight 0.
pub fn batch_loss(
    net: &Supernet,
    x: Value,
    y: &BatchTargets,
    mode: Mode,
    kl_weight: f64,
    n_train: usize,
) -> (Tensor<1>, Tensor<1>, Tensor<2>, Option<f64>) {
    let with_kl = kl_weight > 0.0;
    let pass = net.forward_with_kl(x, mode, with_kl);
    let nll_t = pass_nll(net, &pass, y);
    let Pass {
        out, structure_kl, ..
    } = pass;
    if !with_kl {
        return (nll_t.clone(), nll_t, out, None);
    }
    let mut kl = net.kl(false);
    let mut structure_value = None;
    if let Some(s) = structure_kl {
        let v: f32 = s.clone().detach().into_scalar();
        structure_value = Some(f64::from(v));
        kl = kl + s.clone() - s.detach();
    }
    let loss = nll_t.clone() + kl.mul_scalar(kl_weight / n_train as f64);
    (loss, nll_t, out, structure_value)
}
