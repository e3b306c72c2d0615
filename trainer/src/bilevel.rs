//! The outer problem of the generalized objective (`docs/method.md` §4) and its hypergradient.
//!
//! Both levels are written as losses to minimize, per training sample:
//! - inner ℒ(w, h) = NLL_train + λ_prior^L · KL(q ‖ p(h)) / N (the negative of L),
//! - outer 𝒬(w, h) = λ_lik^Q · NLL_valid + (λ_prior^Q · KL(q ‖ p(h)) + Σ_p′ λ_p′ · KL(q(γ) ‖ p′)) / N
//!   (the negative of Q), with reference structures p′ over γ: a positive λ_p′ pulls the
//!   structure towards p′, a negative one pushes it away.
//!
//! The outer variables h are each searched edge's prior log concentration ln s and, when the
//! structure is an outer variable (as in DARTS), its q(γ) parameters θ. The ARD precisions are
//! hyperparameters too, but their outer optimum given q is the closed form the KL already
//! uses, so they need no gradient steps.
//!
//! The hypergradient is DARTS's: first order, ∇_h 𝒬(w, h); second order,
//! ∇_h 𝒬(w′, h) − ξ ∇²_{h,w} ℒ(w, h) ∇_{w′} 𝒬(w′, h) with w′ = w − ξ ∇_w ℒ(w, h) (one unrolled
//! inner step) and the mixed derivative by central differences,
//! [∇_h ℒ(w⁺, h) − ∇_h ℒ(w⁻, h)] / 2ε, w± = w ± ε ∇_{w′} 𝒬(w′, h), ε = 0.01 / ‖∇_{w′} 𝒬‖.

use burn::module::{Module, ModuleMapper, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};

use crate::data::BatchTargets;
use crate::objective::{batch_loss, pass_nll};
use crate::ops::Mode;
use crate::supernet::Supernet;
use crate::value::Value;

pub use crate::outer::{Order, OuterConfig, Reference};

/// What the hypergradient needs from a bilevel problem whose state holds w and h.
pub trait Bilevel {
    /// A gradient in the inner variables w.
    type Grad;
    /// A gradient in the outer variables h.
    type HGrad;
    /// A snapshot of w.
    type State: Clone;
    /// (∇_w ℒ, ∇_h ℒ) at the current w.
    fn inner_grads(&mut self) -> (Self::Grad, Self::HGrad);
    /// (∇_w 𝒬, ∇_h 𝒬) at the current w.
    fn outer_grads(&mut self) -> (Self::Grad, Self::HGrad);
    /// w ← w + c·g.
    fn shift(&mut self, g: &Self::Grad, c: f64);
    /// ‖g‖₂.
    fn norm(&self, g: &Self::Grad) -> f64;
    /// a + c·b.
    fn axpy(&self, a: Self::HGrad, b: &Self::HGrad, c: f64) -> Self::HGrad;
    fn save(&self) -> Self::State;
    fn restore(&mut self, state: Self::State);
}

/// The hypergradient ∇_h of the outer loss at the problem's current (w, h); w is left as it
/// was.
pub fn hypergradient<P: Bilevel>(p: &mut P, order: Order, xi: f64) -> P::HGrad {
    match order {
        Order::First => p.outer_grads().1,
        Order::Second => {
            let start = p.save();
            let (g, _) = p.inner_grads();
            p.shift(&g, -xi);
            let (v, direct) = p.outer_grads();
            let eps = 0.01 / p.norm(&v).max(1e-12);
            p.restore(start.clone());
            p.shift(&v, eps);
            let (_, plus) = p.inner_grads();
            p.restore(start.clone());
            p.shift(&v, -eps);
            let (_, minus) = p.inner_grads();
            p.restore(start);
            let mixed = p.axpy(plus, &minus, -1.0);
            p.axpy(direct, &mixed, -xi / (2.0 * eps))
        }
    }
}

/// The outer loss 𝒬 on a batch of the validation split (see the module docs).
pub fn outer_loss(
    net: &Supernet,
    x: Value,
    y: &BatchTargets,
    outer: &OuterConfig,
    n_train: usize,
) -> Tensor<1> {
    let with_kl = outer.prior > 0.0;
    let pass = net.forward_with_references(x, Mode::Sample, with_kl, &outer.references);
    let mut loss = pass_nll(net, &pass, y).mul_scalar(outer.lik);
    let (structure_kl, reference_term) = (pass.structure_kl, pass.reference_kl);
    if let Some(r) = reference_term {
        loss = loss + r.div_scalar(n_train as f64);
    }
    if with_kl {
        let mut kl = net.kl(false);
        if let Some(s) = structure_kl {
            kl = kl + s;
        }
        loss = loss + kl.mul_scalar(outer.prior / n_train as f64);
    }
    loss
}

/// The ids of a searched supernet's outer variables under `outer`.
pub fn outer_ids(net: &Supernet, structure_outer: bool) -> Vec<ParamId> {
    let mut ids = Vec::new();
    for g in net.gamma.iter().flatten() {
        ids.push(g.log_prior.id);
        if structure_outer {
            ids.push(g.theta.id);
            ids.extend(g.log_sigma.as_ref().map(|p| p.id));
        }
    }
    ids
}

struct Ids(Vec<ParamId>);

impl ModuleVisitor for Ids {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.0.push(param.id);
    }
}

/// Every float parameter of `net` that is not in `outer`.
pub fn inner_ids(net: &Supernet, outer: &[ParamId]) -> Vec<ParamId> {
    let mut all = Ids(Vec::new());
    net.visit(&mut all);
    all.0.retain(|id| !outer.contains(id));
    all.0
}

/// Adds c·g to every parameter g has a gradient for, keeping it a leaf of the graph.
struct Shift<'a> {
    grads: &'a GradientsParams,
    c: f64,
}

impl ModuleMapper for Shift<'_> {
    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let Some(g) = self.grads.get::<D>(param.id) else {
            return param;
        };
        let (id, t, mapper) = param.consume();
        let require = t.is_require_grad();
        let mut moved = Tensor::from_inner(t.inner() + g.mul_scalar(self.c));
        if require {
            moved = moved.require_grad();
        }
        Param::from_mapped_value(id, moved, mapper)
    }
}

struct SquaredNorm<'a> {
    grads: &'a GradientsParams,
    sum: f64,
}

impl ModuleVisitor for SquaredNorm<'_> {
    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        if let Some(g) = self.grads.get::<D>(param.id) {
            let s: f32 = g.square().sum().into_scalar();
            self.sum += f64::from(s);
        }
    }
}

/// A supernet on the autodiff device with one training and one validation batch: the
/// [`Bilevel`] problem of one outer step. Every gradient evaluation reseeds the device with
/// `seed`, so all of them draw the same γ and weight noise, as the finite differences need.
#[derive(Debug)]
pub struct NetProblem {
    pub net: Supernet,
    pub train: (Value, BatchTargets),
    pub valid: (Value, BatchTargets),
    /// λ_prior^L.
    pub kl_weight: f64,
    pub n_train: usize,
    pub outer: OuterConfig,
    pub seed: u64,
    pub device: Device,
    outer_ids: Vec<ParamId>,
    inner_ids: Vec<ParamId>,
}

impl NetProblem {
    pub fn new(
        net: Supernet,
        train: (Value, BatchTargets),
        valid: (Value, BatchTargets),
        kl_weight: f64,
        n_train: usize,
        outer: OuterConfig,
        seed: u64,
    ) -> NetProblem {
        let device = match &train.0 {
            Value::Vector(t) => t.device(),
            Value::Image(t) => t.device(),
        };
        let outer_ids = outer_ids(&net, outer.structure_outer);
        let inner_ids = inner_ids(&net, &outer_ids);
        NetProblem {
            net,
            train,
            valid,
            kl_weight,
            n_train,
            outer,
            seed,
            device,
            outer_ids,
            inner_ids,
        }
    }

    pub fn outer_ids(&self) -> &[ParamId] {
        &self.outer_ids
    }

    fn split(&self, loss: Tensor<1>) -> (GradientsParams, GradientsParams) {
        let mut grads = loss.backward();
        let h = GradientsParams::from_params(&mut grads, &self.net, &self.outer_ids);
        let w = GradientsParams::from_params(&mut grads, &self.net, &self.inner_ids);
        (w, h)
    }
}

impl Bilevel for NetProblem {
    type Grad = GradientsParams;
    type HGrad = GradientsParams;
    type State = Supernet;

    fn inner_grads(&mut self) -> (GradientsParams, GradientsParams) {
        self.device.seed(self.seed);
        let (x, y) = &self.train;
        let (loss, ..) = batch_loss(
            &self.net,
            x.clone(),
            y,
            Mode::Sample,
            self.kl_weight,
            self.n_train,
        );
        self.split(loss)
    }

    fn outer_grads(&mut self) -> (GradientsParams, GradientsParams) {
        self.device.seed(self.seed);
        let (x, y) = &self.valid;
        let loss = outer_loss(&self.net, x.clone(), y, &self.outer, self.n_train);
        self.split(loss)
    }

    fn shift(&mut self, g: &GradientsParams, c: f64) {
        self.net = self.net.clone().map(&mut Shift { grads: g, c });
    }

    fn norm(&self, g: &GradientsParams) -> f64 {
        let mut v = SquaredNorm { grads: g, sum: 0.0 };
        self.net.visit(&mut v);
        v.sum.sqrt()
    }

    fn axpy(&self, mut a: GradientsParams, b: &GradientsParams, c: f64) -> GradientsParams {
        // Every outer variable is a vector.
        for &id in &self.outer_ids {
            let sum = match (a.remove::<1>(id), b.get::<1>(id)) {
                (Some(x), Some(y)) => Some(x + y.mul_scalar(c)),
                (Some(x), None) => Some(x),
                (None, Some(y)) => Some(y.mul_scalar(c)),
                (None, None) => None,
            };
            if let Some(s) = sum {
                a.register(id, s);
            }
        }
        a
    }

    fn save(&self) -> Supernet {
        self.net.clone()
    }

    fn restore(&mut self, state: Supernet) {
        self.net = state;
    }
}
