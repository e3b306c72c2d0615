//! Adam as one pass over each parameter on burn-flex.
//!
//! burn's Adam updates a parameter through about a dozen tensor operations (the two moments,
//! the bias corrections, the square root, the division, the step), each allocating a
//! parameter-sized tensor and running on one thread; on LeNet-300-100 that was a sixth of a
//! training step. [`FusedAdam`] computes the same update, operation for operation in the same
//! f32 arithmetic, in one pass split over rayon's threads, writing the parameter and both
//! moments in place when nothing else holds them. On any other device it is burn's Adam, and
//! its state is burn's `AdamState`, so the two are interchangeable.

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::optim::{
    Adam, AdamConfig, AdamState, AdaptiveMomentumState, LearningRate, ModuleOptimizer, Optimizer,
};
use burn::tensor::{Device, Tensor};
use rayon::prelude::*;

use crate::ops::fused::fused_available;

/// Elements per parallel task.
const CHUNK: usize = 16 * 1024;

/// burn's defaults (`AdamConfig`): β1, β2, ε.
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

/// The optimizer the trainer steps every parameter group with: Adam with burn's defaults,
/// fused on flex.
pub fn adam() -> ModuleOptimizer {
    ModuleOptimizer::from(FusedAdam {
        plain: AdamConfig::new()
            .with_beta_1(BETA_1)
            .with_beta_2(BETA_2)
            .with_epsilon(EPSILON)
            .build(),
    })
}

/// Adam (β1 0.9, β2 0.999, ε 1e-5, no weight decay), fused on flex, burn's elsewhere.
#[derive(Clone)]
pub struct FusedAdam {
    plain: Adam,
}

impl std::fmt::Debug for FusedAdam {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "FusedAdam(β1 {BETA_1}, β2 {BETA_2}, ε {EPSILON})")
    }
}

/// One step's constants, as burn's Adam derives them from the step count `t`.
#[derive(Debug, Clone, Copy)]
pub struct AdamStep {
    /// The learning rate, in f32 as burn's `mul_scalar` takes it.
    pub lr: f32,
    /// √(1 − β2ᵗ) / (1 − β1ᵗ).
    pub combined: f32,
    /// ε √(1 − β2ᵗ).
    pub epsilon: f32,
}

impl AdamStep {
    /// The constants of step `time` (1 for the first) at learning rate `lr`.
    pub fn new(lr: LearningRate, time: usize) -> AdamStep {
        let t = i32::try_from(time).unwrap_or(i32::MAX);
        let bias_correction2_sqrt = (1.0 - BETA_2.powi(t)).sqrt();
        AdamStep {
            lr: lr as f32,
            combined: bias_correction2_sqrt / (1.0 - BETA_1.powi(t)),
            epsilon: EPSILON * bias_correction2_sqrt,
        }
    }
}

#[backend_extension(Flex)]
pub trait AdamOps: Backend {
    /// One Adam step of `param` by `grad` with moments `moment_1` and `moment_2` (all of one
    /// shape): returns the new parameter and moments.
    fn adam_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

impl Optimizer for FusedAdam {
    type State<const D: usize> = AdamState<D>;

    fn step<const D: usize>(
        &self,
        lr: LearningRate,
        tensor: Tensor<D>,
        grad: Tensor<D>,
        state: Option<Self::State<D>>,
    ) -> (Tensor<D>, Option<Self::State<D>>) {
        if !fused_available(&tensor.device()) {
            return self.plain.step(lr, tensor, grad, state);
        }
        // A first step is the general one from zero moments: β·0 + x is x exactly.
        let (time, m1, m2) = match state {
            Some(s) => (
                s.momentum.time + 1,
                s.momentum.moment_1,
                s.momentum.moment_2,
            ),
            None => (1, grad.zeros_like(), grad.zeros_like()),
        };
        let (p, m1, m2) = <Dispatch as AdamOps>::adam_update(
            tensor.into_dispatch(),
            grad.into_dispatch(),
            m1.into_dispatch(),
            m2.into_dispatch(),
            AdamStep::new(lr, time),
        );
        let momentum =
            AdaptiveMomentumState::new(time, Tensor::from_dispatch(m1), Tensor::from_dispatch(m2));
        (Tensor::from_dispatch(p), Some(AdamState::new(momentum)))
    }

    fn to_device<const D: usize>(state: Self::State<D>, device: &Device) -> Self::State<D> {
        <Adam as Optimizer>::to_device(state, device)
    }
}

/// `t` as a row-major buffer that is all of its storage, so `storage_mut` writes exactly its
/// values (in place when nothing else holds the buffer, on a copy otherwise).
fn owned(t: FloatTensor<Flex>) -> FloatTensor<Flex> {
    let whole = t.as_slice::<f32>().map(<[f32]>::len) == Some(t.bytes().len() / 4);
    if whole { t } else { t.to_contiguous() }
}

impl AdamOps for Flex {
    fn adam_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        s: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (mut p, mut m1, mut m2) = (owned(param), owned(moment_1), owned(moment_2));
        let grad = owned(grad);
        let g = grad
            .as_slice::<f32>()
            .expect("the fused Adam takes f32 tensors (flex's float type)");
        let n = g.len();
        assert!(
            p.layout().shape().num_elements() == n
                && m1.layout().shape().num_elements() == n
                && m2.layout().shape().num_elements() == n,
            "Adam: the parameter, its gradient and its moments differ in size"
        );
        let (ps, m1s, m2s) = (
            p.storage_mut::<f32>(),
            m1.storage_mut::<f32>(),
            m2.storage_mut::<f32>(),
        );
        let (one_minus_b1, one_minus_b2) = (1.0 - BETA_1, 1.0 - BETA_2);
        ps[..n]
            .par_chunks_mut(CHUNK)
            .zip(m1s[..n].par_chunks_mut(CHUNK))
            .zip(m2s[..n].par_chunks_mut(CHUNK))
            .zip(g.par_chunks(CHUNK))
            .for_each(|(((p, m1), m2), g)| {
                let len = p.len();
                let (m1, m2, g) = (&mut m1[..len], &mut m2[..len], &g[..len]);
                // burn's sequence of operations, each rounded to f32 as burn's ops round it.
                for i in 0..len {
                    let a = m1[i] * BETA_1 + g[i] * one_minus_b1;
                    let b = m2[i] * BETA_2 + (g[i] * g[i]) * one_minus_b2;
                    m1[i] = a;
                    m2[i] = b;
                    let update = (a * s.combined) / (b.sqrt() + s.epsilon);
                    p[i] -= update * s.lr;
                }
            });
        (p, m1, m2)
    }
}
