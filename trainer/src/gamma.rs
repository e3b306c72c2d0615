//! Relaxed samples of the structure weights γ of a searched edge (`docs/method.md` §3), and the KL
//! divergence of its q(γ) from the prior p(γ) of the same family:
//!
//! | relaxation | simplex | cube | KL |
//! |---|---|---|---|
//! | gumbel-softmax | concrete: softmax((θ + G)/τ) | binary concrete per op | Monte Carlo at the sample |
//! | dirichlet | Dir(τ·e^θ), implicit gradients | — | closed form |
//! | logit-normal | softmax(X/τ), X ~ N(θ, σ²) | sigmoid(X/τ) per op | closed form in X |
//!
//! The prior has the concentration s in place of e^θ (GS(s, τ), Dir(τ·s), or X ~ N(ln s, 1)),
//! at the same temperature τ. s is a hyperparameter: it starts at the spec's `concentration`
//! and is learned (ln s is a parameter), so the KL carries gradients to both θ and ln s.
//!
//! In vertex form the forward value is the hard sample (one-hot, or 0/1 per op) and the
//! gradient the soft sample's (straight-through).
//!
//! The logit-normal KL is taken between the Gaussians of X; since softmax(X/τ) is not
//! one-to-one it bounds the KL between the γ distributions from above.

use burn::module::{Module, Param};
use burn::tensor::activation::{log_sigmoid, log_softmax, sigmoid, softmax};
use burn::tensor::{Device, Distribution, Tensor, TensorData};

use ardent_data::SplitMix64;
use ardent_models::structure::{Constraint, Form, Relaxation, Structure};

use crate::dirichlet::{kl_dirichlet, sample_gamma};
use crate::value::values;

/// The variational parameters of one searched edge's q(γ): the logits θ (the location; the
/// log concentration for Dirichlet; the mean of X for logit-normal) and, for logit-normal
/// only, log σ of X; and its prior's log concentration ln s.
#[derive(Debug, Clone)]
pub struct EdgeQ {
    pub theta: Tensor<1>,
    pub log_sigma: Option<Tensor<1>>,
    pub log_prior: Tensor<1>,
}

/// The learned parameters of one searched edge's q(γ) (see [`crate::gamma`]).
#[derive(Module, Debug)]
pub struct EdgeGamma {
    /// The logits θ, `[ops]`.
    pub theta: Param<Tensor<1>>,
    /// log σ of X, `[ops]`, for logit-normal edges only.
    pub log_sigma: Option<Param<Tensor<1>>>,
    /// ln s, the prior's log concentration, `[ops]`: a hyperparameter, learned on a searched
    /// edge and held fixed in a VAE code's gate (`crate::ops::code`).
    pub log_prior: Param<Tensor<1>>,
}

impl EdgeGamma {
    /// The prior at the spec's concentration s, and q(γ) equal to it: θ = ln s, and σ = 1
    /// for logit-normal.
    pub fn init(structure: &ardent_models::structure::Structure, device: &Device) -> EdgeGamma {
        let k = structure.concentration.len();
        let log_s = constant(
            structure.concentration.iter().map(|s| s.ln()).collect(),
            device,
        );
        EdgeGamma {
            theta: Param::from_tensor(log_s.clone()),
            log_prior: Param::from_tensor(log_s),
            log_sigma: (structure.relaxation == Relaxation::LogitNormal)
                .then(|| Param::from_tensor(Tensor::zeros([k], device))),
        }
    }

    /// The logits θ on the host, as [`ardent_models::structure::Structure::collapse`] takes
    /// them.
    pub fn logits(&self) -> Vec<f64> {
        values(self.theta.val())
            .iter()
            .map(|&v| f64::from(v))
            .collect()
    }

    /// The current q(γ) parameters as tensors.
    pub fn q(&self) -> EdgeQ {
        EdgeQ {
            theta: self.theta.val(),
            log_sigma: self.log_sigma.as_ref().map(Param::val),
            log_prior: self.log_prior.val(),
        }
    }
}

/// One relaxed sample of γ, with KL(q(γ) ‖ p(γ)) (exact or a one-sample estimate) when asked,
/// and KL(q(γ) ‖ p′) for each reference distribution p′ asked for, at the same sample.
#[derive(Debug, Clone)]
pub struct Relaxed {
    pub gamma: Tensor<1>,
    pub kl: Option<Tensor<1>>,
    pub reference_kls: Vec<Tensor<1>>,
}

/// The samplers' KL terms, one per log concentration asked for.
struct Sampled {
    gamma: Tensor<1>,
    kls: Vec<Tensor<1>>,
}

/// Uniform noise in (0, 1), away from its ends so the logs below stay finite.
fn uniform(k: usize, device: &burn::tensor::Device) -> Tensor<1> {
    Tensor::random([k], Distribution::Uniform(1e-6, 1.0 - 1e-6), device)
}

/// A tensor of host values (no gradient).
pub(crate) fn constant(v: Vec<f64>, device: &burn::tensor::Device) -> Tensor<1> {
    let n = v.len();
    let v: Vec<f32> = v.into_iter().map(|x| x as f32).collect();
    Tensor::from_data(TensorData::new(v, [n]), device)
}

/// log Σ exp over a vector, shifted by its (constant) maximum.
fn logsumexp(t: Tensor<1>) -> Tensor<1> {
    let m = values(t.clone().detach())
        .into_iter()
        .fold(f32::NEG_INFINITY, f32::max);
    t.sub_scalar(m).exp().sum().log().add_scalar(m)
}

/// Elementwise log(eᵃ + eᵇ).
fn logaddexp(a: Tensor<1>, b: Tensor<1>) -> Tensor<1> {
    let m = a.clone().detach().max_pair(b.clone().detach());
    m.clone() + ((a - m.clone()).exp() + (b - m).exp()).log()
}

/// Gumbel-softmax: softmax((θ + G) / τ) with G = −log(−log U).
pub fn gumbel_softmax(logits: Tensor<1>, temperature: f64, hard: bool) -> Tensor<1> {
    concrete(logits, &[], temperature, hard).gamma
}

/// Binary concrete per component: sigmoid((θ + log U − log(1 − U)) / τ).
pub fn binary_concrete(logits: Tensor<1>, temperature: f64, hard: bool) -> Tensor<1> {
    binary(logits, &[], temperature, hard).gamma
}

/// ln of the concrete (Gumbel-softmax) density GS(α = e^`log_location`, τ) at a point `x`
/// inside the simplex: ln((n−1)! τⁿ⁻¹ Πᵢ αᵢ xᵢ^(−τ−1) / (Σᵢ αᵢ xᵢ^(−τ))ⁿ), computed in logs
/// so that points near a vertex at small τ do not overflow.
pub fn concrete_ln_pdf(log_location: &[f64], tau: f64, x: &[f64]) -> f64 {
    let n = x.len();
    let log_x: Vec<f64> = x.iter().map(|v| v.ln()).collect();
    let terms: Vec<f64> = log_location
        .iter()
        .zip(&log_x)
        .map(|(a, lx)| a - tau * lx)
        .collect();
    let m = terms.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let lse = m + terms.iter().map(|t| (t - m).exp()).sum::<f64>().ln();
    let ln_fact: f64 = (1..n).map(|i| (i as f64).ln()).sum();
    ln_fact
        + (n as f64 - 1.0) * tau.ln()
        + log_location
            .iter()
            .zip(&log_x)
            .map(|(a, lx)| a - (tau + 1.0) * lx)
            .sum::<f64>()
        - n as f64 * lse
}

/// The concrete (Gumbel-softmax) sample, and log q − log p at it. The density is
/// (n−1)! τⁿ⁻¹ Πᵢ αᵢ xᵢ^(−τ−1) / (Σᵢ αᵢ xᵢ^(−τ))ⁿ (Maddison et al. 2017); in the difference
/// of q (α = e^θ) and p (α = s) at the same τ only the location terms remain.
fn concrete(theta: Tensor<1>, priors: &[Tensor<1>], tau: f64, hard: bool) -> Sampled {
    let [k] = theta.dims();
    let device = theta.device();
    let g = uniform(k, &device).log().neg().log().neg();
    let log_x = log_softmax((theta.clone() + g).div_scalar(tau), 0);
    let scaled = log_x.clone().mul_scalar(tau);
    let kls = priors
        .iter()
        .map(|log_s| {
            (theta.clone() - log_s.clone()).sum()
                - (logsumexp(theta.clone() - scaled.clone())
                    - logsumexp(log_s.clone() - scaled.clone()))
                .mul_scalar(k as f64)
        })
        .collect();
    let soft = log_x.exp();
    Sampled {
        gamma: if hard { one_hot(soft) } else { soft },
        kls,
    }
}

/// The binary concrete sample per op, and log q − log p at it, from the density
/// τ α x^(−τ−1) (1−x)^(−τ−1) / (α x^(−τ) + (1−x)^(−τ))².
fn binary(theta: Tensor<1>, priors: &[Tensor<1>], tau: f64, hard: bool) -> Sampled {
    let [k] = theta.dims();
    let device = theta.device();
    let u = uniform(k, &device);
    let noise = u.clone().log() - u.neg().add_scalar(1.0).log();
    let y = (theta.clone() + noise).div_scalar(tau);
    let a = log_sigmoid(y.clone()).mul_scalar(-tau);
    let b = log_sigmoid(y.clone().neg()).mul_scalar(-tau);
    let kls = priors
        .iter()
        .map(|log_s| {
            ((theta.clone() - log_s.clone())
                - (logaddexp(theta.clone() + a.clone(), b.clone())
                    - logaddexp(log_s.clone() + a.clone(), b.clone()))
                .mul_scalar(2.0))
            .sum()
        })
        .collect();
    let soft = sigmoid(y);
    Sampled {
        gamma: if hard { threshold(soft) } else { soft },
        kls,
    }
}

/// Dir(τ·e^θ) by normalised Gamma draws with implicit gradients; KL(Dir(τ·e^θ) ‖ Dir(τ·s))
/// in closed form. The Gamma draws use a host generator seeded from the device's, so a seeded
/// run stays reproducible.
fn dirichlet(theta: Tensor<1>, priors: &[Tensor<1>], tau: f64, hard: bool) -> Sampled {
    let [k] = theta.dims();
    let device = theta.device();
    let seed_bits = values(Tensor::<1>::random(
        [2],
        Distribution::Uniform(0.0, 1.0),
        &device,
    ));
    let mut rng =
        SplitMix64(u64::from(seed_bits[0].to_bits()) << 32 | u64::from(seed_bits[1].to_bits()));
    let alpha_t = theta.exp().mul_scalar(tau);
    let alpha: Vec<f64> = values(alpha_t.clone().detach())
        .iter()
        .map(|&a| f64::from(a).max(1e-30))
        .collect();
    let draws: Vec<_> = alpha.iter().map(|&a| sample_gamma(a, &mut rng)).collect();
    // Value log z, gradient ∂ log z/∂α through α's graph.
    let moving = alpha_t.clone() - alpha_t.clone().detach();
    let log_z = constant(draws.iter().map(|d| d.log_z).collect(), &device)
        + moving.clone() * constant(draws.iter().map(|d| d.dlog_z_da).collect(), &device);
    let kls = priors
        .iter()
        .map(|log_s| {
            let beta_t = log_s.clone().exp().mul_scalar(tau);
            let beta: Vec<f64> = values(beta_t.clone().detach())
                .iter()
                .map(|&b| f64::from(b).max(1e-30))
                .collect();
            let (value, grad_alpha, grad_beta) = kl_dirichlet(&alpha, &beta);
            let moving_beta = beta_t.clone() - beta_t.detach();
            ((moving.clone() * constant(grad_alpha, &device)).sum()
                + (moving_beta * constant(grad_beta, &device)).sum())
            .add_scalar(value)
        })
        .collect();
    let soft = softmax(log_z, 0);
    debug_assert_eq!(soft.dims(), [k]);
    Sampled {
        gamma: if hard { one_hot(soft) } else { soft },
        kls,
    }
}

/// X ~ N(θ, σ²) by plain reparameterization, γ = softmax(X/τ) or sigmoid(X/τ) per op;
/// KL(N(θ, σ²) ‖ N(ln s, 1)) per op.
fn logit_normal(q: &EdgeQ, priors: &[Tensor<1>], structure: &Structure, tau: f64) -> Sampled {
    let [k] = q.theta.dims();
    let device = q.theta.device();
    let log_sigma = q
        .log_sigma
        .clone()
        .unwrap_or_else(|| Tensor::zeros([k], &device));
    let eps = Tensor::random([k], Distribution::Normal(0.0, 1.0), &device);
    let x = (q.theta.clone() + log_sigma.clone().exp() * eps).div_scalar(tau);
    let kls = priors
        .iter()
        .map(|log_s| {
            ((log_sigma.clone().mul_scalar(2.0).exp() + (q.theta.clone() - log_s.clone()).square())
                .sub_scalar(1.0)
                - log_sigma.clone().mul_scalar(2.0))
            .sum()
            .mul_scalar(0.5)
        })
        .collect();
    let hard = structure.form == Form::Vertices;
    let gamma = match structure.constraint {
        Constraint::Simplex => {
            let soft = softmax(x, 0);
            if hard { one_hot(soft) } else { soft }
        }
        Constraint::Cube => {
            let soft = sigmoid(x);
            if hard { threshold(soft) } else { soft }
        }
    };
    Sampled { gamma, kls }
}

/// The one-hot argmax of `soft` forward, `soft`'s gradient backward.
fn one_hot(soft: Tensor<1>) -> Tensor<1> {
    let v = values(soft.clone().detach());
    let best = (0..v.len()).fold(0, |b, r| if v[r] > v[b] { r } else { b });
    let hard = (0..v.len())
        .map(|r| if r == best { 1.0 } else { 0.0 })
        .collect();
    straight_through(soft, hard)
}

/// 1 where `soft` > ½ forward, `soft`'s gradient backward.
fn threshold(soft: Tensor<1>) -> Tensor<1> {
    let hard = values(soft.clone().detach())
        .iter()
        .map(|&p| if p > 0.5 { 1.0 } else { 0.0 })
        .collect();
    straight_through(soft, hard)
}

/// `hard` in the forward pass, `soft`'s gradient in the backward pass.
fn straight_through(soft: Tensor<1>, hard: Vec<f64>) -> Tensor<1> {
    let hard = constant(hard, &soft.device());
    hard - soft.clone().detach() + soft
}

/// One relaxed sample of γ for an edge with `structure` at `temperature`, with the KL of its
/// q(γ) from the prior when `with_kl`, and from each reference p′ in `references` (given by
/// its log concentration, in the same family as the prior).
///
/// Dirichlet on the cube is refused when the spec is resolved, so it never reaches here.
pub fn sample(
    q: &EdgeQ,
    structure: &Structure,
    temperature: f64,
    with_kl: bool,
    references: &[Tensor<1>],
) -> Relaxed {
    let hard = structure.form == Form::Vertices;
    let mut priors: Vec<Tensor<1>> = Vec::with_capacity(1 + references.len());
    if with_kl {
        priors.push(q.log_prior.clone());
    }
    priors.extend(references.iter().cloned());
    let theta = q.theta.clone();
    let sampled = match (structure.relaxation, structure.constraint) {
        (Relaxation::LogitNormal, _) => logit_normal(q, &priors, structure, temperature),
        (Relaxation::Dirichlet, _) => dirichlet(theta, &priors, temperature, hard),
        (_, Constraint::Simplex) => concrete(theta, &priors, temperature, hard),
        (_, Constraint::Cube) => binary(theta, &priors, temperature, hard),
    };
    let mut kls = sampled.kls.into_iter();
    Relaxed {
        gamma: sampled.gamma,
        kl: if with_kl { kls.next() } else { None },
        reference_kls: kls.collect(),
    }
}
