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

use std::sync::{Arc, Mutex};

use tract_linalg::BinOp;
use tract_linalg::mmm::{
    AsInputValue, EagerPackedInput, FusedSpec, MMMInputValue, MatMatMul, ScratchSpace,
};
use tract_linalg::pack::PackedFormat;
use tract_nnef::tract_core::internal::*;

use super::kernel::{PlainKernel, Side};
use super::window::Window2d;

/// The convolution of `window` with `c_out` output channels.
#[derive(Debug)]
pub struct Conv2d {
    pub window: Window2d,
    pub c_out: usize,
    /// `[c_out, c · kh · kw]`, as the kernel's OIHW layout flattens.
    kernel: Arc<Tensor>,
    /// `[c_out]`.
    bias: Arc<Tensor>,
    /// `max(y, 0)` applied in the kernel (a ReLU after the convolution, fused in).
    relu: bool,
    mmm: Box<dyn MatMatMul>,
    packing: usize,
    /// How `cols` is packed: panels of `mr` positions, `k`-major.
    cols_format: PackedFormat,
    packed_kernel: Arc<Box<dyn MMMInputValue>>,
    spans: Vec<TapSpan>,
    /// Values in one sample's packed `cols`.
    cols_len: usize,
    /// The buffers of the last run, for the next: the im2col buffer's padding entries are
    /// zero from when it was made and never written, so it is cleared once, not per run.
    buffers: Mutex<Option<Buffers>>,
}

struct Buffers {
    cols: EagerPackedInput,
    scratch: Box<dyn ScratchSpace>,
}

impl std::fmt::Debug for Buffers {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Buffers").finish_non_exhaustive()
    }
}

impl Clone for Conv2d {
    fn clone(&self) -> Self {
        Conv2d {
            window: self.window,
            c_out: self.c_out,
            kernel: self.kernel.clone(),
            bias: self.bias.clone(),
            relu: self.relu,
            mmm: self.mmm.clone(),
            packing: self.packing,
            cols_format: self.cols_format.clone(),
            packed_kernel: self.packed_kernel.clone(),
            spans: self.spans.clone(),
            cols_len: self.cols_len,
            buffers: Mutex::new(None),
        }
    }
}

impl PartialEq for Conv2d {
    fn eq(&self, other: &Self) -> bool {
        self.window == other.window
            && self.c_out == other.c_out
            && self.kernel == other.kernel
            && self.bias == other.bias
            && self.relu == other.relu
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
        // tract-linalg's own choice for the shape, checked by measurement on LeNet-5's two
        // convolutions against every AVX-512 and FMA kernel (BENCHMARKS.md, "Convolutions
        // in ardent-run"): it picked the fastest for both.
        let PlainKernel {
            mmm,
            packing,
            by_hand: cols_format,
        } = PlainKernel::pick("ArdentConv2d", m, k, Some(c_out), Side::A)?;
        let kernel_format = &mmm.packings()[packing].1;
        let kernel =
            tract_ndarray::Array2::from_shape_vec((c_out, k), kernel.to_vec())?.into_tensor();
        let packed_kernel = kernel_format.prepare_one(&kernel, 1, 0)?;
        let panel = cols_format.single_panel_len(k);
        let cols_len = cols_format.len(k, window.positions());
        let spans = tap_spans(&window, cols_format.r, panel, cols_len)?;
        Ok(Conv2d {
            window,
            c_out,
            kernel: Arc::new(kernel),
            bias: Arc::new(tensor1(bias)),
            relu: false,
            mmm,
            packing,
            cols_format,
            packed_kernel: Arc::new(packed_kernel),
            spans,
            cols_len,
            buffers: Mutex::new(None),
        })
    }

    /// The same convolution followed by `max(·, 0)`, computed in the matrix kernel.
    pub fn with_relu(self) -> Conv2d {
        Conv2d { relu: true, ..self }
    }

    /// Whether a ReLU is fused in.
    pub fn relu(&self) -> bool {
        self.relu
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
        let taps = g.kh * g.kw;
        assert!(x.len() == g.c * g.h * g.w && dst.len() >= self.cols_len);
        for (c, plane) in x.chunks_exact(g.h * g.w).enumerate() {
            for span in &self.spans {
                let base = (c * taps + span.tap) * mr;
                for run in &span.runs {
                    let (at, from) = (base + run.dst as usize, run.src as usize);
                    // SAFETY: `tap_spans` checked that every run of every channel's taps
                    // writes inside `cols_len` values and reads inside one plane, and both
                    // lengths were asserted above.
                    unsafe {
                        let out = dst.as_mut_ptr().add(at);
                        let src = plane.as_ptr().add(from);
                        if g.sw == 1 {
                            copy_run(out, src, run.len as usize);
                        } else {
                            for i in 0..run.len as usize {
                                *out.add(i) = *src.add(i * g.sw);
                            }
                        }
                    }
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
        // SAFETY: f32 has no invalid bit patterns, and the product stores every one of each
        // sample's m × n values before anything reads them.
        let mut y = unsafe { Tensor::uninitialized::<f32>(&[batch, n, g.oh, g.ow])? };
        let cached = match self.buffers.lock() {
            Ok(mut b) => b.take(),
            // A run that panicked left at worst stale values where every run writes anew.
            Err(poisoned) => poisoned.into_inner().take(),
        };
        let Buffers {
            mut cols,
            mut scratch,
        } = match cached {
            Some(b) => b,
            None => Buffers {
                cols: self.cols_format.new_packed_buffer(k, m)?,
                // SAFETY: the scratch space is the kernel's own, used by that kernel only.
                scratch: unsafe { self.mmm.allocate_scratch_space() },
            },
        };
        // Row (position) p of sample s's product is y[s, ·, p]; column (channel) o is a
        // plane of m values further on. SAFETY: strides only; nothing is written yet.
        let store = unsafe {
            self.mmm
                .c_from_data_and_strides(std::mem::size_of::<f32>(), 1, m as isize)
        };
        let zero = tensor0(0f32);
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
                let mut specs: TVec<FusedSpec> = tvec![
                    FusedSpec::AddMatMul {
                        a: AsInputValue::Borrowed(&cols),
                        b: AsInputValue::Borrowed(&**self.packed_kernel),
                        packing: self.packing,
                    },
                    FusedSpec::BinPerCol(self.bias.view(), BinOp::Add),
                ];
                if self.relu {
                    specs.push(FusedSpec::BinScalar(&zero, BinOp::Max));
                }
                specs.push(FusedSpec::Store(store.wrap(&out)));
                self.mmm
                    .run_with_scratch_space(m, n, &mut *scratch, &specs)?;
            }
        }
        if let Ok(mut b) = self.buffers.lock() {
            *b = Some(Buffers { cols, scratch });
        }
        Ok(y)
    }
}

/// Where tap `(ky, kx)` of the window (number `tap = ky · kw + kx`) lands inside the image,
/// as the runs of one output row between two panel boundaries: the same for every input
/// channel, so they are found once, when the op is built. Taps that land in the padding for
/// every output have no span.
#[derive(Debug, Clone, PartialEq, Eq)]
struct TapSpan {
    tap: usize,
    runs: Vec<Run>,
}

/// `len` positions of `cols` read from `src` on in the input plane (every `sw`-th value) and
/// written from `dst` on in the packed buffer, less the tap's own offset.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Run {
    dst: u32,
    src: u32,
    len: u32,
}

fn tap_spans(g: &Window2d, mr: usize, panel: usize, cols_len: usize) -> TractResult<Vec<TapSpan>> {
    ensure!(
        u32::try_from(g.h * g.w).is_ok()
            && u32::try_from(panel * g.positions().div_ceil(mr)).is_ok(),
        "ArdentConv2d: {}×{} images are too large for 32-bit offsets",
        g.h,
        g.w
    );
    let mut spans = Vec::new();
    for ky in 0..g.kh {
        for kx in 0..g.kw {
            let (Some((oy, oy_end, iy)), Some((ox, ox_end, ix))) = (g.rows(ky), g.columns(kx))
            else {
                continue;
            };
            let mut runs = Vec::new();
            for (step, oy) in (oy..oy_end).enumerate() {
                let row = (iy + step * g.sh) * g.w;
                let (mut p, end) = (oy * g.ow + ox, oy * g.ow + ox_end);
                let mut src = row + ix;
                while p < end {
                    let lane = p % mr;
                    let len = (mr - lane).min(end - p);
                    runs.push(Run {
                        dst: ((p / mr) * panel + lane) as u32,
                        src: src as u32,
                        len: len as u32,
                    });
                    p += len;
                    src += len * g.sw;
                }
            }
            let tap = ky * g.kw + kx;
            // The bounds `im2col` relies on: the last channel's copy of this tap inside the
            // buffer, every read inside the plane.
            let last = ((g.c - 1) * g.kh * g.kw + tap) * mr;
            for r in &runs {
                let (dst, src, len) = (r.dst as usize, r.src as usize, r.len as usize);
                ensure!(
                    len > 0 && last + dst + len <= cols_len && src + (len - 1) * g.sw < g.h * g.w,
                    "ArdentConv2d: tap {tap} of {g:?} runs out of its buffers"
                );
            }
            spans.push(TapSpan { tap, runs });
        }
    }
    Ok(spans)
}

/// `len` values from `src` to `dst`, for the short runs of im2col (an output row's width at
/// most). Under 64 values, two fixed-size copies of the largest power of two not over `len`,
/// one from each end (they overlap by what is left over, writing the same values twice): no
/// loop and at most a few branches, which the compiler turns into vector moves. A loop of
/// pieces it would turn back into a call to `memcpy` per run, a tenth of LeNet-5's time in a
/// release build.
///
/// # Safety
/// `src` and `dst` must be valid for `len` values and not overlap.
#[inline(always)]
unsafe fn copy_run(dst: *mut f32, src: *const f32, len: usize) {
    unsafe {
        macro_rules! ends {
            ($n:expr) => {{
                std::ptr::copy_nonoverlapping(src, dst, $n);
                std::ptr::copy_nonoverlapping(src.add(len - $n), dst.add(len - $n), $n);
            }};
        }
        match len {
            64.. => std::ptr::copy_nonoverlapping(src, dst, len),
            32.. => ends!(32),
            16.. => ends!(16),
            8.. => ends!(8),
            4.. => ends!(4),
            2.. => ends!(2),
            1 => *dst = *src,
            0 => {}
        }
    }
}

impl Op for Conv2d {
    fn name(&self) -> StaticName {
        "ArdentConv2d".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let g = &self.window;
        Ok(vec![format!(
            "{}→{} channels, {}×{} kernel, stride {}×{}, over {}×{}{}; matrix kernel {}",
            g.c,
            self.c_out,
            g.kh,
            g.kw,
            g.sh,
            g.sw,
            g.h,
            g.w,
            if self.relu { ", ReLU fused" } else { "" },
            self.mmm.name()
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for Conv2d {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let batch = self.window.batch_of("ArdentConv2d", x.shape())?;
        let view = x.try_as_plain_ram()?;
        let y = self.compute(view.as_slice::<f32>()?, batch)?;
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for Conv2d {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        Ok(tvec!(self.window.output_fact(
            "ArdentConv2d",
            inputs[0],
            self.c_out
        )?))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        Ok(tvec!((
            Cost::FMA(f32::datum_type()),
            inputs[0].shape[0].clone() * (self.window.positions() * self.taps() * self.c_out)
        )))
    }

    as_op!();
}
