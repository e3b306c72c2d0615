//! `Conv2d`: a 2-D convolution over NCHW f32 images with a constant kernel and bias, replacing
//! tract's `Conv` (one group, any padding, stride and dilation).
//!
//! One sample at a time, the output positions are the rows of the product and the output
//! channels its columns: `y[p, o] = Σ_k cols[p, k] · w[k, o] + b[o]`, with `k` running over
//! (input channel, tap row, tap column) as the kernel's OIHW layout does. The kernel is packed
//! for tract-linalg's matrix kernel once, when the op is built; `cols` (im2col) is written per
//! sample straight into the kernel's packed layout, a contiguous run of input pixels per
//! output row and tap; the taps that fall into the padding are never written and stay the
//! zeros the buffer starts with. The product stores its tile columns (output channels) a
//! channel plane apart, so the result lands in NCHW directly, and the bias is added inside
//! the kernel.
//!
//! Why not tract's: at batch 1 tract also packs lazily, but through a per-element writer that
//! took a quarter of LeNet-5's time, with the output channels as the kernel's rows (20 and 50
//! channels leave partial 16-row tiles that go through a scratch copy); at larger batches it
//! builds the whole batch's im2col first (BENCHMARKS.md, "Convolutions in ardent-run").
//! Sums are the same products added in the kernel's order: equal to tract's up to f32
//! rounding.
//!
//! tract-linalg's matrix kernels are reached through `unsafe` calls (they take raw packed
//! panels and an output pointer); the calls are in [`Conv2d::compute`], each with what makes
//! it sound.
#![allow(unsafe_code)]

use std::sync::Arc;

use tract_linalg::BinOp;
use tract_linalg::mmm::{AsInputValue, FusedSpec, MMMInputValue, MatMatMul, MmmDispatch, Query};
use tract_linalg::pack::PackedFormat;
use tract_nnef::tract_core::internal::*;

use super::window::Window2d;

/// The convolution of `window` with `c_out` output channels.
#[derive(Debug, Clone)]
pub struct Conv2d {
    pub window: Window2d,
    pub c_out: usize,
    /// `[c_out, c · kh · kw]`, as the kernel's OIHW layout flattens.
    kernel: Arc<Tensor>,
    /// `[c_out]`.
    bias: Arc<Tensor>,
    mmm: Box<dyn MatMatMul>,
    packing: usize,
    /// How `cols` is packed: panels of `mr` positions, `k`-major.
    cols_format: PackedFormat,
    packed_kernel: Arc<Box<dyn MMMInputValue>>,
}

impl PartialEq for Conv2d {
    fn eq(&self, other: &Self) -> bool {
        self.window == other.window
            && self.c_out == other.c_out
            && self.kernel == other.kernel
            && self.bias == other.bias
            && self.mmm.name() == other.mmm.name()
    }
}

impl Eq for Conv2d {}

impl Conv2d {
    /// The convolution of `window` with `kernel` (`c_out × window.c × kh × kw` values, OIHW)
    /// and `bias` (`c_out` values), its product run by the kernel tract-linalg picks for
    /// `(positions × taps) · (taps × c_out)`.
    pub fn new(
        window: Window2d,
        c_out: usize,
        kernel: &[f32],
        bias: &[f32],
    ) -> TractResult<Conv2d> {
        let k = window.c * window.kh * window.kw;
        ensure!(
            kernel.len() == c_out * k,
            "ArdentConv2d: {} kernel values for {c_out} × {k}",
            kernel.len()
        );
        ensure!(
            bias.len() == c_out,
            "ArdentConv2d: {} bias values for {c_out} channels",
            bias.len()
        );
        ensure!(
            c_out > 0 && k > 0,
            "ArdentConv2d: an empty {c_out}×{k} kernel"
        );
        let m = window.positions();
        let query = Query::plain(f32::datum_type(), Some(m), Some(k), Some(c_out));
        let (mmm, packing, extractor) = MmmDispatch::native()
            .pick(&query)
            .context("ArdentConv2d: tract-linalg has no f32 matrix kernel")?;
        ensure!(
            extractor.is_none(),
            "ArdentConv2d: {} needs a panel extractor for f32",
            mmm.name()
        );
        let (cols_format, kernel_format) = &mmm.packings()[packing];
        let cols_format = cols_format
            .downcast_ref::<PackedFormat>()
            .with_context(|| format!("ArdentConv2d: {} does not pack plainly", mmm.name()))?
            .clone();
        ensure!(
            cols_format.dt == f32::datum_type(),
            "ArdentConv2d: {} packs {:?}",
            mmm.name(),
            cols_format.dt
        );
        let kernel =
            tract_ndarray::Array2::from_shape_vec((c_out, k), kernel.to_vec())?.into_tensor();
        let packed_kernel = kernel_format.prepare_one(&kernel, 1, 0)?;
        Ok(Conv2d {
            window,
            c_out,
            kernel: Arc::new(kernel),
            bias: Arc::new(tensor1(bias)),
            mmm,
            packing,
            cols_format,
            packed_kernel: Arc::new(packed_kernel),
        })
    }

    /// Taps per output value.
    pub fn taps(&self) -> usize {
        self.window.c * self.window.kh * self.window.kw
    }

    /// The matrix kernel tract-linalg runs the product with.
    pub fn kernel_name(&self) -> &str {
        self.mmm.name()
    }

    /// Writes one sample's `cols` into `dst`, packed as `cols_format` lays it out. Entries of
    /// taps in the padding are left as they are (zero in a fresh buffer).
    fn im2col(&self, x: &[f32], dst: &mut [f32]) {
        let g = &self.window;
        let mr = self.cols_format.r;
        let panel = self.cols_format.single_panel_len(self.taps());
        let mut tap = 0;
        for plane in x.chunks_exact(g.h * g.w) {
            for ky in 0..g.kh {
                let rows = g.rows(ky);
                for kx in 0..g.kw {
                    if let (Some((oy_lo, oy_hi, iy_lo)), Some((ox_lo, ox_hi, ix_lo))) =
                        (rows, g.columns(kx))
                    {
                        for (step, oy) in (oy_lo..oy_hi).enumerate() {
                            let row = &plane[(iy_lo + step * g.sh) * g.w..][..g.w];
                            let (mut p, end) = (oy * g.ow + ox_lo, oy * g.ow + ox_hi);
                            let mut ix = ix_lo;
                            while p < end {
                                let lane = p % mr;
                                let take = (mr - lane).min(end - p);
                                let at = (p / mr) * panel + tap * mr + lane;
                                let out = &mut dst[at..at + take];
                                if g.sw == 1 {
                                    out.copy_from_slice(&row[ix..ix + take]);
                                } else {
                                    for (o, &v) in
                                        out.iter_mut().zip(row[ix..].iter().step_by(g.sw))
                                    {
                                        *o = v;
                                    }
                                }
                                p += take;
                                ix += take * g.sw;
                            }
                        }
                    }
                    tap += 1;
                }
            }
        }
    }

    /// The convolution of `batch` samples in `x` (NCHW), as a `[batch, c_out, oh, ow]` tensor.
    pub fn compute(&self, x: &[f32], batch: usize) -> TractResult<Tensor> {
        let g = &self.window;
        let (k, m, n) = (self.taps(), g.positions(), self.c_out);
        let per_sample = g.c * g.h * g.w;
        ensure!(
            x.len() == batch * per_sample,
            "ArdentConv2d: {} input values for {batch} samples of {per_sample}",
            x.len()
        );
        let mut y = Tensor::zero::<f32>(&[batch, n, g.oh, g.ow])?;
        let mut cols = self.cols_format.new_packed_buffer(k, m)?;
        // SAFETY: the scratch space is the kernel's own, used by that kernel only.
        let mut scratch = unsafe { self.mmm.allocate_scratch_space() };
        // Row (position) p of sample s's product is y[s, ·, p]; column (channel) o is a
        // plane of m values further on. SAFETY: strides only; nothing is written yet.
        let store = unsafe {
            self.mmm
                .c_from_data_and_strides(std::mem::size_of::<f32>(), 1, m as isize)
        };
        for (s, xs) in x.chunks_exact(per_sample).enumerate() {
            {
                let blob = Arc::get_mut(&mut cols.packed)
                    .context("ArdentConv2d: the im2col buffer is shared")?;
                let bytes = blob.as_bytes_mut();
                // SAFETY: the blob is aligned for f32 (tract-linalg allocates packed panels
                // at the kernel's alignment) and holds whole f32 values.
                let dst = unsafe {
                    std::slice::from_raw_parts_mut(bytes.as_mut_ptr() as *mut f32, bytes.len() / 4)
                };
                self.im2col(xs, dst);
            }
            let out = y.view_at_prefix_mut(&[s])?;
            // SAFETY: `out` is sample s's `n × m` block of `y`, alive for the call; the
            // packed operands are the kernel's own formats (checked when built) with `k` in
            // common.
            unsafe {
                let store = store.wrap(&out);
                self.mmm.run_with_scratch_space(
                    m,
                    n,
                    &mut *scratch,
                    &[
                        FusedSpec::AddMatMul {
                            a: AsInputValue::Borrowed(&cols),
                            b: AsInputValue::Borrowed(&**self.packed_kernel),
                            packing: self.packing,
                        },
                        FusedSpec::BinPerCol(self.bias.view(), BinOp::Add),
                        FusedSpec::Store(store),
                    ],
                )?;
            }
        }
        Ok(y)
    }
}

impl Op for Conv2d {
    fn name(&self) -> StaticName {
        "ArdentConv2d".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let g = &self.window;
        Ok(vec![format!(
            "{}→{} channels, {}×{} kernel, stride {}×{}, over {}×{}; matrix kernel {}",
            g.c,
            self.c_out,
            g.kh,
            g.kw,
            g.sh,
            g.sw,
            g.h,
            g.w,
            self.mmm.name()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for Conv2d {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let g = &self.window;
        let shape = x.shape();
        ensure!(
            shape.len() == 4 && shape[1..] == [g.c, g.h, g.w],
            "ArdentConv2d: input of shape {shape:?}, [batch, {}, {}, {}] expected",
            g.c,
            g.h,
            g.w
        );
        let batch = shape[0];
        let view = x.try_as_plain_ram()?;
        let y = self.compute(view.as_slice::<f32>()?, batch)?;
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for Conv2d {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let x = inputs[0];
        let g = &self.window;
        ensure!(
            x.datum_type == f32::datum_type(),
            "ArdentConv2d takes f32, not {:?}",
            x.datum_type
        );
        ensure!(
            x.rank() == 4 && x.shape[1..] == [g.c.to_dim(), g.h.to_dim(), g.w.to_dim()],
            "ArdentConv2d: input fact {x:?}, [batch, {}, {}, {}] expected",
            g.c,
            g.h,
            g.w
        );
        Ok(tvec!(f32::fact([
            x.shape[0].clone(),
            self.c_out.to_dim(),
            g.oh.to_dim(),
            g.ow.to_dim()
        ])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        Ok(tvec!((
            Cost::FMA(f32::datum_type()),
            inputs[0].shape[0].clone() * (self.window.positions() * self.taps() * self.c_out)
        )))
    }

    as_op!();
}
