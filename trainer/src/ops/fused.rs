//! The variational convolution as one operation on burn-flex, with its own backward pass.
//!
//! Through burn's ops a sampled conv layer costs two convolutions forward (x ⋆ μ and x² ⋆ σ²),
//! two weight-gradient convolutions and two transposed convolutions backward, each building its
//! own im2col; that was about 60 % of a LeNet-5 step (BENCHMARKS.md). Here the columns of x are
//! built once per step: the columns of x² are their squares, both forward products and both
//! weight gradients read them, and the input gradient is one col2im. Samples are spread over
//! rayon's threads, each running its products with the gemm crate on its own columns.
//!
//! The operation is `out = x ⋆ μ + sqrt(x² ⋆ σ² + 1e-8) · ε` (no bias), with the noise ε
//! drawn inside it, in parallel, from a seed the caller takes from burn's generator.
//! Max-pooling is here too: flex's pooling with indices was the next cost centre (15 % of a
//! LeNet-5 step); this one keeps each window's argmax from the forward pass and scatters the
//! gradient through it, one image plane per task.
//!
//! Both run on the `flex` device only; [`fused_available`] says when, and other devices use
//! burn's ops, which `tests/fused.rs` holds these to.

use std::sync::Arc;

use ardent_data::SplitMix64;
use burn::backend::autodiff::NodeId;
use burn::backend::autodiff::checkpoint::base::Checkpointer;
use burn::backend::autodiff::checkpoint::strategy::CheckpointStrategy;
use burn::backend::autodiff::grads::Gradients;
use burn::backend::autodiff::ops::{Backward, Ops, OpsKind};
use burn::backend::tensor::FloatTensor;
use burn::backend::{Autodiff, Backend, Dispatch, Flex, backend_extension};
use burn::tensor::{Device, Distribution as TensorDistribution, Tensor, TensorData};
use rand::TryRng;
use rand_distr::{Distribution, StandardNormal};
use rayon::prelude::*;

use super::matmul::{PackedLhs, matmul, matmul_packed, matmul_parallel};

/// Added to the variance before the square root, as the plain path does.
const VARIANCE_FLOOR: f32 = 1e-8;

#[backend_extension(Flex, Autodiff)]
pub trait VariationalOps: Backend {
    /// `x ⋆ μ + sqrt(x² ⋆ σ² + 1e-8) · ε` with x `[b, c, h, w]`, μ and σ² `[o, c, k, k]`,
    /// zero padding `padding`, stride `stride`, and ε `[b, o, ho, wo]` standard normal noise
    /// drawn from `seed` as [`noise`] draws it.
    fn variational_conv2d(
        x: FloatTensor<Self>,
        mu: FloatTensor<Self>,
        sigma2: FloatTensor<Self>,
        seed: u64,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;

    /// `x · μ + sqrt(x² · σ² + 1e-8) · ε` with x `[b, in]`, μ and σ² `[in, out]`, and ε
    /// `[b, out]` standard normal noise drawn from `seed` as [`noise`] draws it.
    fn variational_dense(
        x: FloatTensor<Self>,
        mu: FloatTensor<Self>,
        sigma2: FloatTensor<Self>,
        seed: u64,
    ) -> FloatTensor<Self>;

    /// 2-D max-pooling of x `[b, c, h, w]` over `kernel`×`kernel` windows; padding never wins.
    fn max_pool2d_fused(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
}

#[backend_extension(Flex)]
pub trait ConvOps: Backend {
    /// `x ⋆ w` (no bias) with x `[b, c, h, w]`, w `[o, c, k, k]`, zero padding `padding` and
    /// stride `stride`: the posterior-mean conv of evaluation, without autodiff.
    fn conv2d_fused(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self>;
}

/// `x ⋆ w` (no bias) by the fused operation, for tensors on flex without autodiff
/// (evaluation: burn-flex's conv builds its own im2col and runs the gemm crate's kernel).
pub fn conv2d(x: Tensor<4>, w: Tensor<4>, stride: usize, padding: usize) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as ConvOps>::conv2d_fused(
        x.into_dispatch(),
        w.into_dispatch(),
        stride,
        padding,
    ))
}

/// Whether tensors on `device` take the fused path (burn-flex, with or without autodiff).
pub fn fused_available(device: &Device) -> bool {
    *device == Device::flex()
}

/// The sampled pre-activation of a variational conv layer (no bias), by the fused operation,
/// with the noise drawn from `seed` (see [`noise`]).
pub fn variational_conv2d(
    x: Tensor<4>,
    mu: Tensor<4>,
    sigma2: Tensor<4>,
    seed: u64,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as VariationalOps>::variational_conv2d(
        x.into_dispatch(),
        mu.into_dispatch(),
        sigma2.into_dispatch(),
        seed,
        stride,
        padding,
    ))
}

/// The sampled pre-activation of a variational dense layer (no bias), by the fused operation,
/// with the noise drawn from `seed` (see [`noise`]).
pub fn variational_dense(x: Tensor<2>, mu: Tensor<2>, sigma2: Tensor<2>, seed: u64) -> Tensor<2> {
    Tensor::from_dispatch(<Dispatch as VariationalOps>::variational_dense(
        x.into_dispatch(),
        mu.into_dispatch(),
        sigma2.into_dispatch(),
        seed,
    ))
}

/// A seed for a fused op's noise, drawn from `device`'s generator (two uniform draws), so that
/// a seeded run stays reproducible.
pub fn draw_seed(device: &Device) -> u64 {
    Tensor::<1>::random([2], TensorDistribution::Uniform(0.0, 1.0), device)
        .into_data()
        .iter::<f32>()
        .fold(0u64, |acc, v| (acc << 32) | u64::from(v.to_bits()))
}

/// Standard normal noise for `samples` samples of `per_sample` values each, drawn from `seed`:
/// sample n's values come from its own SplitMix64 stream (started at a hashed point of the
/// cycle, from `seed` and n) through rand_distr's ziggurat, so the samples are drawn in
/// parallel and the result does not depend on the thread count. burn-flex draws its noise one
/// value at a time on one thread, which was 7 % of a LeNet-5 step.
pub fn noise(seed: u64, samples: usize, per_sample: usize) -> Vec<f32> {
    let mut out = vec![0f32; samples * per_sample];
    out.par_chunks_mut(per_sample.max(1))
        .enumerate()
        .for_each(|(n, values)| {
            // Seeding with `seed ^ n·γ` directly would make sample n's stream sample n+1's,
            // shifted.
            let start =
                SplitMix64(seed ^ (n as u64).wrapping_mul(0xD1B5_4A32_D192_ED03)).next_u64();
            let mut rng = Stream(SplitMix64(start));
            for v in values.iter_mut() {
                *v = StandardNormal.sample(&mut rng);
            }
        });
    out
}

/// Max-pooling of `x` by the fused operation (burn-flex only).
pub fn max_pool2d(x: Tensor<4>, kernel: usize, stride: usize, padding: usize) -> Tensor<4> {
    Tensor::from_dispatch(<Dispatch as VariationalOps>::max_pool2d_fused(
        x.into_dispatch(),
        kernel,
        stride,
        padding,
    ))
}

/// SplitMix64 as a `rand` generator.
struct Stream(SplitMix64);

impl TryRng for Stream {
    type Error = std::convert::Infallible;

    fn try_next_u32(&mut self) -> Result<u32, Self::Error> {
        Ok((self.0.next_u64() >> 32) as u32)
    }

    fn try_next_u64(&mut self) -> Result<u64, Self::Error> {
        Ok(self.0.next_u64())
    }

    fn try_fill_bytes(&mut self, dst: &mut [u8]) -> Result<(), Self::Error> {
        for chunk in dst.chunks_mut(8) {
            let bytes = self.0.next_u64().to_le_bytes();
            chunk.copy_from_slice(&bytes[..chunk.len()]);
        }
        Ok(())
    }
}

/// The sizes of one convolution.
#[derive(Debug, Clone, Copy)]
struct Geometry {
    batch: usize,
    channels: usize,
    height: usize,
    width: usize,
    outputs: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    out_h: usize,
    out_w: usize,
}

impl Geometry {
    fn new(x: &[usize], w: &[usize], stride: usize, padding: usize) -> Geometry {
        let (kernel, height, width) = (w[2], x[2], x[3]);
        Geometry {
            batch: x[0],
            channels: x[1],
            height,
            width,
            outputs: w[0],
            kernel,
            stride,
            padding,
            out_h: (height + 2 * padding - kernel) / stride + 1,
            out_w: (width + 2 * padding - kernel) / stride + 1,
        }
    }

    /// Output positions per sample.
    fn positions(&self) -> usize {
        self.out_h * self.out_w
    }

    /// Column length: one kernel's weights.
    fn taps(&self) -> usize {
        self.channels * self.kernel * self.kernel
    }
}

/// `t` in row-major order: the same buffer when it already is (no copy), a contiguous copy
/// otherwise.
pub(super) fn contiguous(t: &FloatTensor<Flex>) -> FloatTensor<Flex> {
    if t.as_slice::<f32>().is_some() {
        t.clone()
    } else {
        t.to_contiguous()
    }
}

/// The values of a tensor [`contiguous`] returned.
pub(super) fn data(t: &FloatTensor<Flex>) -> &[f32] {
    t.as_slice::<f32>()
        .expect("the fused ops take contiguous f32 tensors (flex's float type)")
}

/// Turns the two moments into the sampled output in place: `std` becomes sqrt(var + floor)
/// and `mean` the sample mean + std · ε. Both layers finish their forward pass this way.
fn sample_in_place(mean: &mut [f32], std: &mut [f32], eps: &[f32]) {
    for ((m, s), e) in mean.iter_mut().zip(std.iter_mut()).zip(eps) {
        *s = (*s + VARIANCE_FLOOR).sqrt();
        *m += *s * e;
    }
}

/// The output gradient's share in the variance: ∂ sqrt(v + c)·ε / ∂v = ε / 2 sqrt(v + c).
fn variance_gradient(grad: &[f32], eps: &[f32], std: &[f32]) -> Vec<f32> {
    grad.par_iter()
        .zip(eps.par_iter())
        .zip(std.par_iter())
        .map(|((d, e), sd)| d * e / (2.0 * sd))
        .collect()
}

/// Registers the gradients of a variational layer's three inputs (x, μ, σ²), each where its
/// parent is tracked.
fn register_three(
    grads: &mut Gradients,
    [x, mu, sigma2]: [Option<NodeId>; 3],
    (grad_x, grad_mu, grad_sigma2): (
        Option<FloatTensor<Flex>>,
        FloatTensor<Flex>,
        FloatTensor<Flex>,
    ),
) {
    if let (Some(node), Some(g)) = (x, grad_x) {
        grads.register::<Flex>(node, g);
    }
    if let Some(node) = mu {
        grads.register::<Flex>(node, grad_mu);
    }
    if let Some(node) = sigma2 {
        grads.register::<Flex>(node, grad_sigma2);
    }
}

fn tensor(v: Vec<f32>, shape: [usize; 4]) -> FloatTensor<Flex> {
    <FloatTensor<Flex>>::from_data(TensorData::new(v, shape))
}

/// What the backward pass needs: the input (its columns are rebuilt per sample, which costs
/// less than keeping them: a 5×5 conv's columns are 25 times its input), the standard
/// deviations, the noise and the weights.
#[derive(Debug, Clone)]
struct Saved {
    geometry: Geometry,
    x: FloatTensor<Flex>,
    std: Arc<Vec<f32>>,
    eps: Arc<Vec<f32>>,
    mu: FloatTensor<Flex>,
    sigma2: FloatTensor<Flex>,
}

impl Geometry {
    /// Calls `f(run, kw, row)` for every kernel tap and output row: `run` is where that row of
    /// the tap's columns starts in one sample's `[taps, positions]` columns, `kw` the tap's
    /// kernel column, and `row` where the input row it reads starts (`None` in the padding).
    fn for_each_run(&self, mut f: impl FnMut(usize, usize, Option<usize>)) {
        let k = self.kernel;
        for t in 0..self.taps() {
            let (ci, kh, kw) = (t / (k * k), (t / k) % k, t % k);
            for oh in 0..self.out_h {
                let row = (oh * self.stride + kh)
                    .checked_sub(self.padding)
                    .filter(|r| *r < self.height)
                    .map(|r| (ci * self.height + r) * self.width);
                f((t * self.out_h + oh) * self.out_w, kw, row);
            }
        }
    }

    /// The output columns `lo..hi` whose input column at kernel column `kw`,
    /// ow · stride + kw − padding, lies inside the input (the rest meet the padding).
    fn inside(&self, kw: usize) -> (usize, usize) {
        let lo = self.padding.saturating_sub(kw).div_ceil(self.stride);
        let hi = match (self.width + self.padding).checked_sub(kw + 1) {
            Some(last) => (last / self.stride + 1).min(self.out_w),
            None => 0,
        };
        (lo.min(hi), hi)
    }
}

/// The columns of one sample, `[taps, positions]`: for each kernel tap, the input values it
/// meets at every output position. Along one output row a tap reads one input row, and at
/// stride 1 a contiguous run of it.
fn im2col(g: &Geometry, x: &[f32], cols: &mut [f32]) {
    g.for_each_run(|run, kw, row| {
        let out = &mut cols[run..run + g.out_w];
        let Some(base) = row else {
            out.fill(0.0);
            return;
        };
        let (lo, hi) = g.inside(kw);
        out[..lo].fill(0.0);
        out[hi..].fill(0.0);
        let first = base + lo * g.stride + kw - g.padding;
        if g.stride == 1 {
            out[lo..hi].copy_from_slice(&x[first..first + (hi - lo)]);
        } else {
            for (v, c) in out[lo..hi].iter_mut().zip((first..).step_by(g.stride)) {
                *v = x[c];
            }
        }
    });
}

/// Adds the column gradients of one sample, `[taps, positions]`, back onto its input.
fn col2im(g: &Geometry, dcols: &[f32], gx: &mut [f32]) {
    g.for_each_run(|run, kw, row| {
        if let Some(base) = row {
            let (lo, hi) = g.inside(kw);
            let d = &dcols[run + lo..run + hi];
            let first = base + lo * g.stride + kw - g.padding;
            if g.stride == 1 {
                for (t, v) in gx[first..first + (hi - lo)].iter_mut().zip(d) {
                    *t += v;
                }
            } else {
                for (v, c) in d.iter().zip((first..).step_by(g.stride)) {
                    gx[c] += v;
                }
            }
        }
    });
}

fn forward(
    x: &FloatTensor<Flex>,
    mu: &FloatTensor<Flex>,
    sigma2: &FloatTensor<Flex>,
    seed: u64,
    stride: usize,
    padding: usize,
) -> (FloatTensor<Flex>, Saved) {
    let g = Geometry::new(
        x.layout().shape().as_slice(),
        mu.layout().shape().as_slice(),
        stride,
        padding,
    );
    let (x, mu, sigma2) = (contiguous(x), contiguous(mu), contiguous(sigma2));
    let (xs, mus, sigma2s) = (data(&x), data(&mu), data(&sigma2));
    let (positions, taps, o) = (g.positions(), g.taps(), g.outputs);
    let eps = Arc::new(noise(seed, g.batch, o * positions));
    // The weights meet every sample's columns: packed once, not once per sample.
    let mu_packed = PackedLhs::new(mus, (o, taps), (taps, 1));
    let sigma2_packed = PackedLhs::new(sigma2s, (o, taps), (taps, 1));
    let per_sample = g.channels * g.height * g.width;
    let mut out = vec![0f32; g.batch * o * positions];
    let mut std = vec![0f32; g.batch * o * positions];
    // Per sample, in the output's own layout `[o, positions]`: mean = μ · cols, var = σ² · cols².
    out.par_chunks_mut(o * positions)
        .zip(std.par_chunks_mut(o * positions))
        .enumerate()
        .for_each_init(
            || (vec![0f32; taps * positions], vec![0f32; taps * positions]),
            |(cols, cols2), (n, (out, std))| {
                im2col(&g, &xs[n * per_sample..(n + 1) * per_sample], cols);
                cols2
                    .iter_mut()
                    .zip(cols.iter())
                    .for_each(|(q, c)| *q = c * c);
                matmul_packed(out, positions, &mu_packed, cols, (positions, 1), false);
                matmul_packed(std, positions, &sigma2_packed, cols2, (positions, 1), false);
                sample_in_place(out, std, &eps[n * o * positions..(n + 1) * o * positions]);
            },
        );
    let saved = Saved {
        geometry: g,
        x,
        std: Arc::new(std),
        eps,
        mu,
        sigma2,
    };
    (tensor(out, [g.batch, o, g.out_h, g.out_w]), saved)
}

/// Gradients of x (when `want_x`), μ and σ² from the output's gradient `grad`.
fn backward(
    s: &Saved,
    grad: &FloatTensor<Flex>,
    want_x: bool,
) -> (
    Option<FloatTensor<Flex>>,
    FloatTensor<Flex>,
    FloatTensor<Flex>,
) {
    let g = s.geometry;
    let grad = contiguous(grad);
    let gm = data(&grad);
    let (xs, mus, sigma2s) = (data(&s.x), data(&s.mu), data(&s.sigma2));
    let (positions, taps, o) = (g.positions(), g.taps(), g.outputs);
    let gv = variance_gradient(gm, &s.eps, &s.std);
    let shape = [o, g.channels, g.kernel, g.kernel];
    // μᵀ and σ²ᵀ meet every sample's output gradients.
    let transposed = want_x.then(|| {
        (
            PackedLhs::new(mus, (taps, o), (1, taps)),
            PackedLhs::new(sigma2s, (taps, o), (1, taps)),
        )
    });
    let per_sample = g.channels * g.height * g.width;
    // Samples are split into one run per thread; each run rebuilds its samples' columns,
    // accumulates its share of the weight gradients (μ: gm · colsᵀ, σ²: gv · cols²ᵀ) and
    // writes its samples' input gradients (μᵀ · gm + 2 cols ⊙ σ²ᵀ · gv, back through col2im).
    let parts = rayon::current_num_threads().clamp(1, g.batch.max(1));
    let chunk = g.batch.div_ceil(parts);
    let mut gx = vec![0f32; if want_x { g.batch * per_sample } else { 0 }];
    let gx_chunks: Vec<&mut [f32]> = if want_x {
        gx.chunks_mut(chunk * per_sample).collect()
    } else {
        (0..parts).map(|_| &mut [][..]).collect()
    };
    let (grad_mu, grad_sigma2) = gx_chunks
        .into_par_iter()
        .enumerate()
        .map(|(part, gx)| {
            let mut grad_mu = vec![0f32; o * taps];
            let mut grad_sigma2 = vec![0f32; o * taps];
            let mut cols = vec![0f32; taps * positions];
            let mut cols2 = vec![0f32; taps * positions];
            let mut dc = vec![0f32; if want_x { taps * positions } else { 0 }];
            let mut dv = vec![0f32; dc.len()];
            for n in part * chunk..((part + 1) * chunk).min(g.batch) {
                im2col(&g, &xs[n * per_sample..(n + 1) * per_sample], &mut cols);
                cols2.iter_mut().zip(&cols).for_each(|(q, c)| *q = c * c);
                let block = n * o * positions..(n + 1) * o * positions;
                let (gmn, gvn) = (&gm[block.clone()], &gv[block]);
                let w = (o, taps, positions);
                matmul(
                    &mut grad_mu,
                    w,
                    gmn,
                    (positions, 1),
                    &cols,
                    (1, positions),
                    true,
                );
                matmul(
                    &mut grad_sigma2,
                    w,
                    gvn,
                    (positions, 1),
                    &cols2,
                    (1, positions),
                    true,
                );
                if let Some((mu_t, sigma2_t)) = &transposed {
                    matmul_packed(&mut dc, positions, mu_t, gmn, (positions, 1), false);
                    matmul_packed(&mut dv, positions, sigma2_t, gvn, (positions, 1), false);
                    dc.iter_mut()
                        .zip(&dv)
                        .zip(&cols)
                        .for_each(|((a, v), c)| *a += 2.0 * c * v);
                    let local = n - part * chunk;
                    col2im(
                        &g,
                        &dc,
                        &mut gx[local * per_sample..(local + 1) * per_sample],
                    );
                }
            }
            (grad_mu, grad_sigma2)
        })
        .collect::<Vec<_>>()
        .into_iter()
        // Added in run order: rayon's reduce shapes its tree by work stealing, and float
        // additions in another order round differently, so a seeded run would not repeat.
        .fold(
            (vec![0f32; o * taps], vec![0f32; o * taps]),
            |(mut a, mut b), (c, d)| {
                a.iter_mut().zip(&c).for_each(|(x, y)| *x += y);
                b.iter_mut().zip(&d).for_each(|(x, y)| *x += y);
                (a, b)
            },
        );
    let grad_x = want_x.then(|| tensor(gx, [g.batch, g.channels, g.height, g.width]));
    (grad_x, tensor(grad_mu, shape), tensor(grad_sigma2, shape))
}

/// What the pooling's backward pass needs: the input's shape and, per output, the input
/// element that won (an index into the whole input).
fn mean_forward(
    x: &FloatTensor<Flex>,
    w: &FloatTensor<Flex>,
    stride: usize,
    padding: usize,
) -> FloatTensor<Flex> {
    let g = Geometry::new(
        x.layout().shape().as_slice(),
        w.layout().shape().as_slice(),
        stride,
        padding,
    );
    let (x, w) = (contiguous(x), contiguous(w));
    let (xs, ws) = (data(&x), data(&w));
    let (positions, taps, o) = (g.positions(), g.taps(), g.outputs);
    let packed = PackedLhs::new(ws, (o, taps), (taps, 1));
    let per_sample = g.channels * g.height * g.width;
    let mut out = vec![0f32; g.batch * o * positions];
    out.par_chunks_mut((o * positions).max(1))
        .enumerate()
        .for_each_init(
            || vec![0f32; taps * positions],
            |cols, (n, out)| {
                im2col(&g, &xs[n * per_sample..(n + 1) * per_sample], cols);
                matmul_packed(out, positions, &packed, cols, (positions, 1), false);
            },
        );
    tensor(out, [g.batch, o, g.out_h, g.out_w])
}

impl ConvOps for Flex {
    fn conv2d_fused(
        x: FloatTensor<Self>,
        w: FloatTensor<Self>,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        mean_forward(&x, &w, stride, padding)
    }
}

/// What the dense backward pass needs.
#[derive(Debug, Clone)]
struct DenseSaved {
    /// (batch, inputs, outputs).
    sizes: (usize, usize, usize),
    x: FloatTensor<Flex>,
    x2: Arc<Vec<f32>>,
    std: Arc<Vec<f32>>,
    eps: Arc<Vec<f32>>,
    mu: FloatTensor<Flex>,
    sigma2: FloatTensor<Flex>,
}

fn dense_forward(
    x: &FloatTensor<Flex>,
    mu: &FloatTensor<Flex>,
    sigma2: &FloatTensor<Flex>,
    seed: u64,
) -> (FloatTensor<Flex>, DenseSaved) {
    let (b, i) = match x.layout().shape().as_slice() {
        [b, i] => (*b, *i),
        s => panic!("variational_dense takes x [batch, inputs], got {s:?}"),
    };
    let o = mu.layout().shape().as_slice()[1];
    let (x, mu, sigma2) = (contiguous(x), contiguous(mu), contiguous(sigma2));
    let (xs, mus, sigma2s) = (data(&x), data(&mu), data(&sigma2));
    let x2: Vec<f32> = xs.par_iter().map(|v| v * v).collect();
    let mut out = vec![0f32; b * o];
    let mut std = vec![0f32; b * o];
    matmul_parallel(&mut out, (b, o, i), xs, (i, 1), mus, (o, 1), false);
    matmul_parallel(&mut std, (b, o, i), &x2, (i, 1), sigma2s, (o, 1), false);
    let eps = noise(seed, b, o);
    out.par_chunks_mut(o.max(1))
        .zip(std.par_chunks_mut(o.max(1)))
        .zip(eps.par_chunks(o.max(1)))
        .for_each(|((m, s), e)| sample_in_place(m, s, e));
    let saved = DenseSaved {
        sizes: (b, i, o),
        x,
        x2: Arc::new(x2),
        std: Arc::new(std),
        eps: Arc::new(eps),
        mu,
        sigma2,
    };
    let out = <FloatTensor<Flex>>::from_data(TensorData::new(out, [b, o]));
    (out, saved)
}

/// Gradients of x (when `want_x`), μ and σ² from the output's gradient.
fn dense_backward(
    s: &DenseSaved,
    grad: &FloatTensor<Flex>,
    want_x: bool,
) -> (
    Option<FloatTensor<Flex>>,
    FloatTensor<Flex>,
    FloatTensor<Flex>,
) {
    let (b, i, o) = s.sizes;
    let grad = contiguous(grad);
    let gm = data(&grad);
    let (xs, mus, sigma2s) = (data(&s.x), data(&s.mu), data(&s.sigma2));
    let gv = variance_gradient(gm, &s.eps, &s.std);
    // μ: xᵀ · g; σ²: (x²)ᵀ · gv (x read through transposed strides).
    let mut grad_mu = vec![0f32; i * o];
    let mut grad_sigma2 = vec![0f32; i * o];
    matmul_parallel(&mut grad_mu, (i, o, b), xs, (1, i), gm, (o, 1), false);
    matmul_parallel(
        &mut grad_sigma2,
        (i, o, b),
        &s.x2,
        (1, i),
        &gv,
        (o, 1),
        false,
    );
    let grad_x = want_x.then(|| {
        // g · μᵀ + 2 x ⊙ (gv · σ²ᵀ).
        let mut gx = vec![0f32; b * i];
        let mut dv = vec![0f32; b * i];
        matmul_parallel(&mut gx, (b, i, o), gm, (o, 1), mus, (1, o), false);
        matmul_parallel(&mut dv, (b, i, o), &gv, (o, 1), sigma2s, (1, o), false);
        gx.par_chunks_mut(i.max(1))
            .zip(dv.par_chunks(i.max(1)))
            .zip(xs.par_chunks(i.max(1)))
            .for_each(|((g, v), x)| {
                for ((g, v), x) in g.iter_mut().zip(v).zip(x) {
                    *g += 2.0 * x * v;
                }
            });
        <FloatTensor<Flex>>::from_data(TensorData::new(gx, [b, i]))
    });
    let weights = |v: Vec<f32>| <FloatTensor<Flex>>::from_data(TensorData::new(v, [i, o]));
    (grad_x, weights(grad_mu), weights(grad_sigma2))
}

#[derive(Debug, Clone)]
struct Winners {
    input: [usize; 4],
    index: Arc<Vec<u32>>,
}

fn pool_forward(
    x: &FloatTensor<Flex>,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> (FloatTensor<Flex>, Winners) {
    let shape: [usize; 4] = x
        .layout()
        .shape()
        .as_slice()
        .try_into()
        .expect("a 4-D input");
    let [b, c, h, w] = shape;
    let (ho, wo) = (
        (h + 2 * padding - kernel) / stride + 1,
        (w + 2 * padding - kernel) / stride + 1,
    );
    let x = contiguous(x);
    let xs = data(&x);
    let mut out = vec![0f32; b * c * ho * wo];
    let mut index = vec![0u32; b * c * ho * wo];
    out.par_chunks_mut(ho * wo)
        .zip(index.par_chunks_mut(ho * wo))
        .enumerate()
        .for_each(|(plane, (out, index))| {
            let base = plane * h * w;
            let x = &xs[base..base + h * w];
            for oh in 0..ho {
                // Padding never wins, so a window is its part inside the image (never empty:
                // padding is less than the kernel).
                let r0 = (oh * stride).saturating_sub(padding);
                let r1 = (oh * stride + kernel - padding).min(h);
                for ow in 0..wo {
                    let c0 = (ow * stride).saturating_sub(padding);
                    let c1 = (ow * stride + kernel - padding).min(w);
                    let mut at = r0 * w + c0;
                    let mut best = x[at];
                    for r in r0..r1 {
                        let row = &x[r * w + c0..r * w + c1];
                        for (c, &v) in (r * w + c0..).zip(row) {
                            // Strictly greater: the first maximum wins, as in burn and
                            // PyTorch. A select, not a branch: which value wins is data.
                            let better = v > best;
                            best = if better { v } else { best };
                            at = if better { c } else { at };
                        }
                    }
                    out[oh * wo + ow] = best;
                    index[oh * wo + ow] = (base + at) as u32;
                }
            }
        });
    let winners = Winners {
        input: shape,
        index: Arc::new(index),
    };
    (tensor(out, [b, c, ho, wo]), winners)
}

fn pool_backward(winners: &Winners, grad: &FloatTensor<Flex>) -> FloatTensor<Flex> {
    let [b, c, h, w] = winners.input;
    let grad = contiguous(grad);
    let grad = data(&grad);
    let plane_out = grad.len() / (b * c).max(1);
    let mut gx = vec![0f32; b * c * h * w];
    gx.par_chunks_mut(h * w)
        .enumerate()
        .for_each(|(plane, gx)| {
            let base = plane * h * w;
            let range = plane * plane_out..(plane + 1) * plane_out;
            for (g, &i) in grad[range.clone()].iter().zip(&winners.index[range]) {
                gx[i as usize - base] += g;
            }
        });
    tensor(gx, winners.input)
}

impl VariationalOps for Flex {
    fn variational_dense(
        x: FloatTensor<Self>,
        mu: FloatTensor<Self>,
        sigma2: FloatTensor<Self>,
        seed: u64,
    ) -> FloatTensor<Self> {
        dense_forward(&x, &mu, &sigma2, seed).0
    }

    fn variational_conv2d(
        x: FloatTensor<Self>,
        mu: FloatTensor<Self>,
        sigma2: FloatTensor<Self>,
        seed: u64,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        forward(&x, &mu, &sigma2, seed, stride, padding).0
    }

    fn max_pool2d_fused(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        pool_forward(&x, kernel, stride, padding).0
    }
}

#[derive(Debug)]
struct MaxPoolBackward;

impl Backward<Flex, 1> for MaxPoolBackward {
    type State = Winners;

    fn backward(self, ops: Ops<Winners, 1>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let [x] = ops.parents;
        if let Some(node) = x {
            grads.register::<Flex>(node.id, pool_backward(&ops.state, &grad));
        }
    }
}

#[derive(Debug)]
struct VariationalDenseBackward;

impl Backward<Flex, 3> for VariationalDenseBackward {
    type State = DenseSaved;

    fn backward(self, ops: Ops<DenseSaved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let want_x = ops.parents[0].is_some();
        let computed = dense_backward(&ops.state, &grad, want_x);
        register_three(grads, ops.parents.map(|p| p.map(|n| n.id)), computed);
    }
}

#[derive(Debug)]
struct VariationalConvBackward;

impl Backward<Flex, 3> for VariationalConvBackward {
    type State = Saved;

    fn backward(self, ops: Ops<Saved, 3>, grads: &mut Gradients, _: &mut Checkpointer) {
        let grad = grads.consume::<Flex>(&ops.node);
        let want_x = ops.parents[0].is_some();
        let computed = backward(&ops.state, &grad, want_x);
        register_three(grads, ops.parents.map(|p| p.map(|n| n.id)), computed);
    }
}

impl<C: CheckpointStrategy> VariationalOps for Autodiff<Flex, C> {
    fn variational_dense(
        x: FloatTensor<Self>,
        mu: FloatTensor<Self>,
        sigma2: FloatTensor<Self>,
        seed: u64,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), mu.node(), sigma2.node()];
        let (out, saved) = dense_forward(x.primitive(), mu.primitive(), sigma2.primitive(), seed);
        match VariationalDenseBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(saved, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn variational_conv2d(
        x: FloatTensor<Self>,
        mu: FloatTensor<Self>,
        sigma2: FloatTensor<Self>,
        seed: u64,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let nodes = [x.node(), mu.node(), sigma2.node()];
        let (out, saved) = forward(
            x.primitive(),
            mu.primitive(),
            sigma2.primitive(),
            seed,
            stride,
            padding,
        );
        match VariationalConvBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(saved, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }

    fn max_pool2d_fused(
        x: FloatTensor<Self>,
        kernel: usize,
        stride: usize,
        padding: usize,
    ) -> FloatTensor<Self> {
        let nodes = [x.node()];
        let (out, winners) = pool_forward(x.primitive(), kernel, stride, padding);
        match MaxPoolBackward
            .prepare::<C>(nodes)
            .compute_bound()
            .stateful()
        {
            OpsKind::Tracked(prep) => prep.finish(winners, out),
            OpsKind::UnTracked(prep) => prep.finish(out),
        }
    }
}
