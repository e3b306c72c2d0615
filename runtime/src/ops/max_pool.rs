//! `MaxPool2d`: 2-D max-pooling over NCHW f32 images, replacing tract's `MaxPool`, which
//! walks the window per output pixel with bounds checks and is about ten times slower than
//! onnxruntime's on LeNet-5's pools (BENCHMARKS.md, "Convolutions in ardent-run").
//!
//! Each output row folds in its taps one at a time, each tap over the span of output columns
//! where it lands inside the image, so the inner loops have no bounds checks and vectorise;
//! the common 2×2, stride-2 window without padding has a loop of its own. A window starts at
//! `f32::MIN` and takes a tap when the tap is greater, as tract's op does: outputs are equal
//! to tract's for inputs without NaN.

use tract_nnef::tract_core::internal::*;

use super::window::Window2d;

/// Max-pooling with the window `window`. Input `[batch, c, h, w]`, output
/// `[batch, c, oh, ow]`.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct MaxPool2d {
    pub window: Window2d,
}

#[inline(always)]
fn max(a: f32, b: f32) -> f32 {
    if b > a { b } else { a }
}

impl MaxPool2d {
    pub fn new(window: Window2d) -> MaxPool2d {
        MaxPool2d { window }
    }

    /// Pools row-major planes `x` (`planes × h × w`) into `y` (`planes × oh × ow`).
    pub fn compute(&self, x: &[f32], y: &mut [f32]) {
        let g = &self.window;
        let (plane_in, plane_out) = (g.h * g.w, g.positions());
        debug_assert_eq!(x.len() / plane_in, y.len() / plane_out);
        let pair = g.kh == 2 && g.kw == 2 && g.sh == 2 && g.sw == 2;
        let pair = pair && g.pt == 0 && g.pl == 0 && g.oh * 2 <= g.h && g.ow * 2 <= g.w;
        for (xs, ys) in x.chunks_exact(plane_in).zip(y.chunks_exact_mut(plane_out)) {
            if pair {
                self.plane_2x2(xs, ys)
            } else {
                self.plane(xs, ys)
            }
        }
    }

    fn plane_2x2(&self, x: &[f32], y: &mut [f32]) {
        let g = &self.window;
        for (oy, out) in y.chunks_exact_mut(g.ow).enumerate() {
            let top = &x[2 * oy * g.w..][..2 * g.ow];
            let bottom = &x[(2 * oy + 1) * g.w..][..2 * g.ow];
            for ((o, t), b) in out
                .iter_mut()
                .zip(top.chunks_exact(2))
                .zip(bottom.chunks_exact(2))
            {
                // The taps in tract's order: the top row's two, then the bottom row's.
                *o = max(max(max(max(f32::MIN, t[0]), t[1]), b[0]), b[1]);
            }
        }
    }

    fn plane(&self, x: &[f32], y: &mut [f32]) {
        let g = &self.window;
        y.fill(f32::MIN);
        let columns: TVec<(usize, usize, usize)> =
            (0..g.kw).filter_map(|kx| g.columns(kx)).collect();
        for ky in 0..g.kh {
            let Some((oy_lo, oy_hi, iy_lo)) = g.rows(ky) else {
                continue;
            };
            for (step, oy) in (oy_lo..oy_hi).enumerate() {
                let row = &x[(iy_lo + step * g.sh) * g.w..][..g.w];
                let out = &mut y[oy * g.ow..][..g.ow];
                for &(lo, hi, ix) in &columns {
                    let out = &mut out[lo..hi];
                    if g.sw == 1 {
                        for (o, &v) in out.iter_mut().zip(&row[ix..]) {
                            *o = max(*o, v);
                        }
                    } else {
                        for (o, &v) in out.iter_mut().zip(row[ix..].iter().step_by(g.sw)) {
                            *o = max(*o, v);
                        }
                    }
                }
            }
        }
    }
}

impl Op for MaxPool2d {
    fn name(&self) -> StaticName {
        "ArdentMaxPool2d".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        let g = &self.window;
        Ok(vec![format!(
            "{}×{} window, stride {}×{}, over {}×{}×{}",
            g.kh, g.kw, g.sh, g.sw, g.c, g.h, g.w
        )])
    }

    op_as_typed_op!();
}

impl EvalOp for MaxPool2d {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let g = &self.window;
        let batch = g.batch_of("ArdentMaxPool2d", x.shape())?;
        let view = x.try_as_plain_ram()?;
        let xs = view.as_slice::<f32>()?;
        // Written in place: a Vec made into a tensor would be copied once more.
        let mut y = Tensor::zero::<f32>(&[batch, g.c, g.oh, g.ow])?;
        self.compute(xs, y.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?);
        Ok(tvec!(y.into_tvalue()))
    }
}

impl TypedOp for MaxPool2d {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let g = &self.window;
        Ok(tvec!(g.output_fact("ArdentMaxPool2d", inputs[0], g.c)?))
    }

    as_op!();
}
