//! Parameter-sized element-wise work on burn-flex as single parallel passes: σ² = exp(log σ²)
//! with its gradient, and the gradient of the ARD KL.
//!
//! Through burn's ops each is a chain of tensor operations (the KL's gradient is about a dozen),
//! each allocating a parameter-sized tensor and running on one thread, with libm's scalar `expf`;
//! on LeNet-300-100 (266 K weights, two parameters each) they were over a fifth of a training
//! step. Here each is one pass, split over rayon's threads, with an exp the compiler vectorises.
//!
//! Both run on the `flex` device only ([`super::fused::fused_available`]); `tests/fused.rs`
//! holds them to the plain path.

use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{Tensor, TensorData};
use rayon::prelude::*;

use super::fused::{contiguous, data};

/// Elements per parallel task: large enough that a task outweighs its scheduling, small
/// enough that both cores share a LeNet-sized layer.
const CHUNK: usize = 16 * 1024;

#[backend_extension(Flex, Autodiff)]
pub trait ParameterOps: Backend {
    /// exp(x) element-wise, within 2 ulp of libm's (see [`exp_f32`]); its backward pass
    /// multiplies the incoming gradient by the output, which it keeps.
    fn exp_fused(x: FloatTensor<Self>) -> FloatTensor<Self>;

    /// A one-element zero whose gradients in μ and log σ² (both `[rows, cols]`) are those of
    /// the ARD KL at its optimal precisions: α μ and ½ (α σ² − 1), with α per weight
    /// (`group_dim` `None`) or per group summed along `group_dim` (0: one α per column, 1: one
    /// per row), as [`super::ard_kl`] defines them.
    fn ard_kl_gradient(
        mu: FloatTensor<Self>,
        log_sigma2: FloatTensor<Self>,
        lambda1: f32,
        lambda2: f32,
        group_dim: Option<usize>,
    ) -> FloatTensor<Self>;
}

/// exp(x) by the fused operation (burn-flex only).
pub fn exp<const D: usize>(x: Tensor<D>) -> Tensor<D> {
    Tensor::from_dispatch(<Dispatch as ParameterOps>::exp_fused(x.into_dispatch()))
}

/// The ARD KL's gradient carrier by the fused operation (burn-flex only): see
/// [`ParameterOps::ard_kl_gradient`].
pub fn ard_kl_gradient(
    mu: Tensor<2>,
    log_sigma2: Tensor<2>,
    lambda1: f32,
    lambda2: f32,
    group_dim: Option<usize>,
) -> Tensor<1> {
    Tensor::from_dispatch(<Dispatch as ParameterOps>::ard_kl_gradient(
        mu.into_dispatch(),
        log_sigma2.into_dispatch(),
        lambda1,
        lambda2,
        group_dim,
    ))
}

/// exp(x) in f32, within 2 ulp of the correctly rounded value for x in [−87.3, 88], written
/// so that a loop over it vectorises with SSE2 alone (no libm call, no branch): x = n ln 2 + r
/// with |r| ≤ ln 2 / 2, exp(r) by Cephes' degree-6 polynomial, 2ⁿ built in the exponent bits.
/// Below −87.3 it returns exp(−87.3) ≈ 1.2e−38 (not a subnormal), above 88 exp(88)
/// ≈ 1.7e38 (not infinity), and NaN stays NaN.
#[inline(always)]
pub fn exp_f32(x: f32) -> f32 {
    // 1.5 · 2²³: adding it rounds to an integer kept in the low mantissa bits.
    const SHIFTER: f32 = 12_582_912.0;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    // Comparisons, not `max`/`min`, so that NaN passes through.
    let x = if x < -87.3 { -87.3 } else { x };
    let x = if x > 88.0 { 88.0 } else { x };
    let t = x * std::f32::consts::LOG2_E + SHIFTER;
    let n = t - SHIFTER;
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 0.5;
    let e = p * (r * r) + r + 1.0;
    let k = (t.to_bits() as i32).wrapping_sub(SHIFTER.to_bits() as i32);
    e * f32::from_bits((k.wrapping_add(127) << 23) as u32)
}

fn shape_of(t: &FloatTensor<Flex>) -> Vec<usize> {
    t.layout().shape().as_slice().to_vec()
}

fn exp_forward(x: &FloatTensor<Flex>) -> FloatTensor<Flex> {
    let x = contiguous(x);
    let xs = data(&x);
    let mut out = vec![0f32; xs.len()];
    out.par_chunks_mut(CHUNK)
        .zip(xs.par_chunks(CHUNK))
        .for_each(|(o, x)| {
            let x = &x[..o.len()];
            for i in 0..o.len() {
                o[i] = exp_f32(x[i]);
            }
        });
    <FloatTensor<Flex>>::from_data(TensorData::new(out, shape_of(&x)))
}

/// `a ⊙ b`, in parallel.
fn product(a: &FloatTensor<Flex>, b: &FloatTensor<Flex>) -> FloatTensor<Flex> {
    let (a, b) = (contiguous(a), contiguous(b));
    let (xs, ys) = (data(&a), data(&b));
    let mut out = vec![0f32; xs.len()];
    out.par_chunks_mut(CHUNK)
        .zip(xs.par_chunks(CHUNK).zip(ys.par_chunks(CHUNK)))
        .for_each(|(o, (x, y))| {
            o.iter_mut()
                .zip(x.iter().zip(y))
                .for_each(|(o, (x, y))| *o = x * y)
        });
    <FloatTensor<Flex>>::from_data(TensorData::new(out, shape_of(&a)))
}

/// What the KL's gradient needs.
#[derive(Debug, Clone)]
struct KlState {
    mu: FloatTensor<Flex>,
    log_sigma2: FloatTensor<Flex>,
    lambda1: f32,
    lambda2: f32,
    group_dim: Option<usize>,
}

/// Rows per block of the column sums: each block is one parallel task.
const SUM_ROWS: usize = 64;

/// `scale` times the KL's gradients in μ and log σ² (see [`ParameterOps::ard_kl_gradient`]),
/// each in μ's shape.
fn kl_gradients(s: &KlState, scale: f32) -> (FloatTensor<Flex>, FloatTensor<Flex>) {
    let shape = shape_of(&s.mu);
    let [rows, cols] = [shape[0], shape[1]];
    let (mu, ls) = (contiguous(&s.mu), contiguous(&s.log_sigma2));
    let (mu, ls) = (data(&mu), data(&ls));
    let mut grad_mu = vec![0f32; mu.len()];
    let mut grad_ls = vec![0f32; mu.len()];
    let per_weight = 2.0 * s.lambda1 - 1.0;
    let two_lambda2 = 2.0 * s.lambda2;
    let write = |gm: &mut [f32], gl: &mut [f32], m: &[f32], l: &[f32], alpha| {
        write_kl_gradients(gm, gl, m, l, scale, alpha)
    };
    match s.group_dim {
        None => {
            grad_mu
                .par_chunks_mut(CHUNK)
                .zip(grad_ls.par_chunks_mut(CHUNK))
                .zip(mu.par_chunks(CHUNK).zip(ls.par_chunks(CHUNK)))
                .for_each(|((gm, gl), (m, l))| {
                    write(gm, gl, m, l, Alpha::PerWeight(per_weight, two_lambda2))
                });
        }
        Some(1) => {
            // One α per row: each row is its own task.
            let c = cols as f32 + 2.0 * s.lambda1 - 2.0;
            grad_mu
                .par_chunks_mut(cols)
                .zip(grad_ls.par_chunks_mut(cols))
                .zip(mu.par_chunks(cols).zip(ls.par_chunks(cols)))
                .for_each(|((gm, gl), (m, l))| {
                    let sum: f32 = m.iter().zip(l).map(|(m, l)| m * m + exp_f32(*l)).sum();
                    let a = c / (sum + two_lambda2);
                    write(gm, gl, m, l, Alpha::Group(a));
                });
        }
        Some(_) => {
            // One α per column, from column sums gathered over fixed blocks of rows and added
            // in block order: rayon's fold and reduce split by work stealing, so the order of
            // the additions, and the rounded sums with it, would change from run to run.
            let c = rows as f32 + 2.0 * s.lambda1 - 2.0;
            let block = cols * SUM_ROWS;
            let partials: Vec<Vec<f32>> = mu
                .par_chunks(block)
                .zip(ls.par_chunks(block))
                .map(|(m, l)| {
                    let mut acc = vec![0f32; cols];
                    for (m, l) in m.chunks(cols).zip(l.chunks(cols)) {
                        for ((a, m), l) in acc.iter_mut().zip(m).zip(l) {
                            *a += m * m + exp_f32(*l);
                        }
                    }
                    acc
                })
                .collect();
            let mut sums = vec![0f32; cols];
            for p in &partials {
                sums.iter_mut().zip(p).for_each(|(a, b)| *a += b);
            }
            let alpha: Vec<f32> = sums.iter().map(|s| c / (s + two_lambda2)).collect();
            grad_mu
                .par_chunks_mut(cols)
                .zip(grad_ls.par_chunks_mut(cols))
                .zip(mu.par_chunks(cols).zip(ls.par_chunks(cols)))
                .for_each(|((gm, gl), (m, l))| write(gm, gl, m, l, Alpha::Columns(&alpha)));
        }
    }
    let tensor = |v: Vec<f32>| <FloatTensor<Flex>>::from_data(TensorData::new(v, [rows, cols]));
    (tensor(grad_mu), tensor(grad_ls))
}

/// Where a weight's α comes from.
#[derive(Clone, Copy)]
enum Alpha<'a> {
    /// Its own: c / (μ² + σ² + 2λ2), with (c, 2λ2).
    PerWeight(f32, f32),
    /// Its row's.
    Group(f32),
    /// Its column's, one per column of the row.
    Columns(&'a [f32]),
}

/// Writes `scale` times α μ and ½ (α σ² − 1) for one run of weights; each α case is its own
/// loop so that the compiler vectorises it.
fn write_kl_gradients(
    grad_mu: &mut [f32],
    grad_ls: &mut [f32],
    mu: &[f32],
    ls: &[f32],
    scale: f32,
    alpha: Alpha,
) {
    // Indexed loops over slices cut to one length: the form LLVM vectorises.
    let n = grad_mu.len();
    let (grad_ls, mu, ls) = (&mut grad_ls[..n], &mu[..n], &ls[..n]);
    match alpha {
        Alpha::PerWeight(c, two_lambda2) => {
            for i in 0..n {
                let (m, sigma2) = (mu[i], exp_f32(ls[i]));
                let a = c / (m * m + sigma2 + two_lambda2);
                grad_mu[i] = m * a * scale;
                grad_ls[i] = (sigma2 * a - 1.0) * 0.5 * scale;
            }
        }
        Alpha::Group(a) => {
            for i in 0..n {
                grad_mu[i] = mu[i] * a * scale;
                grad_ls[i] = (exp_f32(ls[i]) * a - 1.0) * 0.5 * scale;
            }
        }
        Alpha::Columns(alpha) => {
            let alpha = &alpha[..n];
            for i in 0..n {
                grad_mu[i] = mu[i] * alpha[i] * scale;
                grad_ls[i] = (exp_f32(ls[i]) * alpha[i] - 1.0) * 0.5 * scale;
            }
        }
    }
}

fn zero() -> FloatTensor<Flex> {
    <FloatTensor<Flex>>::from_data(TensorData::new(vec![0f32], [1]))
}

fn kl_group_dim(group_dim: Option<usize>, shape: &[usize]) -> Option<usize> {
    assert_eq!(
        shape.len(),
        2,
        "the KL's gradient takes [rows, cols] matrices"
    );
    assert!(
        group_dim.is_none_or(|d| d < 2),
        "a matrix's group axis is 0 or 1"
    );
    group_dim
}

impl ParameterOps for Flex {
    fn exp_fused(x: FloatTensor<Self>) -> FloatTensor<Self> {
        exp_forward(&x)
    }

    fn ard_kl_gradient(
        mu: FloatTensor<Self>,
        _log_sigma2: FloatTensor<Self>,
        _lambda1: f32,
        _lambda2: f32,
        group_dim: Option<usize>,
    ) -> FloatTensor<Self> {
        kl_group_dim(group_dim, &shape_of(&mu));
        zero()
    }
}

#[derive(Debug)]
struct ExpBackward;

impl Backward<Flex, 1> for ExpBackward {
    type State = FloatTensor<Flex>;

    fn backward(self, ops: Ops<Self::State, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let [x] = ops.parents;
        if let Some(node) = x {
            grads.register::<Flex>(node.id, product(&grad, &ops.state));
        }
    }
}

#[derive(Debug)]
struct KlBackward;

impl Backward<Flex, 2> for KlBackward {
    type State = KlState;

    fn backward(self, ops: Ops<Self::State, 2>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = contiguous(&grads.consume::<Flex>(&ops.node));
        let scale = data(&grad)[0];
        let [mu, log_sigma2] = ops.parents;
        let (grad_mu, grad_ls) = kl_gradients(&ops.state, scale);
        if let Some(node) = mu {
            grads.register::<Flex>(node.id, grad_mu);
        }
        if let Some(node) = log_sigma2 {
            grads.register::<Flex>(node.id, grad_ls);
        }
    }
}

impl<C: CheckpointStrategy> ParameterOps for Autodiff<Flex, C> {
    fn exp_fused(x: FloatTensor<Self>) -> FloatTensor<Self> {
        let nodes = [x.node()];
        let out = exp_forward(x.primitive());
        match ExpBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(out.clone(), out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn ard_kl_gradient(
        mu: FloatTensor<Self>,
        log_sigma2: FloatTensor<Self>,
        lambda1: f32,
        lambda2: f32,
        group_dim: Option<usize>,
    ) -> FloatTensor<Self> {
        let nodes = [mu.node(), log_sigma2.node()];
        let group_dim = kl_group_dim(group_dim, &shape_of(mu.primitive()));
        match KlBackward.prepare::<C>(nodes).compute_bound().stateful() {
            OpsKind::Tracked(prep) => prep.finish(
                KlState {
                    mu: mu.primitive().clone(),
                    log_sigma2: log_sigma2.primitive().clone(),
                    lambda1,
                    lambda2,
                    group_dim,
                },
                zero(),
            ),
            OpsKind::UnTracked(prep) => prep.finish(zero()),
        }
    }
}
