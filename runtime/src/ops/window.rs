//! The geometry of a 2-D sliding window over NCHW images, shared by [`super::conv2d`] and
//! [`super::max_pool`], resolved from tract's `PoolSpec` once the channel and spatial sizes
//! are known (the batch may stay symbolic).

use tract_nnef::tract_core::internal::*;
use tract_nnef::tract_core::ops::cnn::PoolSpec;
use tract_nnef::tract_core::ops::nn::DataFormat;

/// A window of `kh × kw` taps, `dh`/`dw` apart, moved `sh`/`sw` at a time over a `c × h × w`
/// image padded by `pt` rows above and `pl` columns left (the padding after is what makes
/// the output `oh × ow`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Window2d {
    pub c: usize,
    pub h: usize,
    pub w: usize,
    pub kh: usize,
    pub kw: usize,
    pub sh: usize,
    pub sw: usize,
    pub dh: usize,
    pub dw: usize,
    pub pt: usize,
    pub pl: usize,
    pub oh: usize,
    pub ow: usize,
}

impl Window2d {
    /// The window of `spec` over an input of shape `input` (`[N, C, H, W]`), or `None` when
    /// it is not one this module handles: another layout or rank, or sizes not known before
    /// the run.
    pub fn from_spec(spec: &PoolSpec, input: &TypedFact) -> Option<Window2d> {
        if spec.data_format != DataFormat::NCHW || spec.rank() != 2 || input.rank() != 4 {
            return None;
        }
        let dims: Option<Vec<usize>> = input.shape.dims()[1..]
            .iter()
            .map(|d| d.to_usize().ok())
            .collect();
        let dims = dims?;
        let (c, h, w) = (dims[0], dims[1], dims[2]);
        let padded = spec.computed_padding(&[h, w]);
        let (strides, dilations) = (spec.strides(), spec.dilations());
        let window = Window2d {
            c,
            h,
            w,
            kh: spec.kernel_shape[0],
            kw: spec.kernel_shape[1],
            sh: strides[0],
            sw: strides[1],
            dh: dilations[0],
            dw: dilations[1],
            pt: padded[0].pad_before,
            pl: padded[1].pad_before,
            oh: padded[0].convoluted,
            ow: padded[1].convoluted,
        };
        (window.oh > 0 && window.ow > 0 && c > 0 && h > 0 && w > 0 && window.kh * window.kw > 0)
            .then_some(window)
    }

    /// The batch size of an input of shape `shape`, which must be `[batch, c, h, w]`; `op`
    /// names the op in the error.
    pub fn batch_of(&self, op: &str, shape: &[usize]) -> TractResult<usize> {
        ensure!(
            shape.len() == 4 && shape[1..] == [self.c, self.h, self.w],
            "{op}: input of shape {shape:?}, [batch, {}, {}, {}] expected",
            self.c,
            self.h,
            self.w
        );
        Ok(shape[0])
    }

    /// The fact of the `[batch, channels, oh, ow]` output for an input fact `x`, which must be
    /// f32 `[batch, c, h, w]` (any batch); `op` names the op in the error.
    pub fn output_fact(&self, op: &str, x: &TypedFact, channels: usize) -> TractResult<TypedFact> {
        ensure!(
            x.datum_type == f32::datum_type(),
            "{op} takes f32, not {:?}",
            x.datum_type
        );
        ensure!(
            x.rank() == 4 && x.shape[1..] == [self.c.to_dim(), self.h.to_dim(), self.w.to_dim()],
            "{op}: input fact {x:?}, [batch, {}, {}, {}] expected",
            self.c,
            self.h,
            self.w
        );
        Ok(f32::fact([
            x.shape[0].clone(),
            channels.to_dim(),
            self.oh.to_dim(),
            self.ow.to_dim(),
        ]))
    }

    /// Output positions per channel.
    pub fn positions(&self) -> usize {
        self.oh * self.ow
    }

    /// The output columns `lo..hi` whose tap `kx` lands inside the row, and the input column
    /// the first of them reads. `None` when the tap is outside for every output column.
    pub fn columns(&self, kx: usize) -> Option<(usize, usize, usize)> {
        span(kx * self.dw, self.pl, self.sw, self.w, self.ow)
    }

    /// The same for rows and tap `ky`.
    pub fn rows(&self, ky: usize) -> Option<(usize, usize, usize)> {
        span(ky * self.dh, self.pt, self.sh, self.h, self.oh)
    }
}

/// Outputs `o` in `lo..hi` (within `0..out`) with `o·stride + offset − pad` in `0..len`, and
/// the input index of `lo`.
fn span(
    offset: usize,
    pad: usize,
    stride: usize,
    len: usize,
    out: usize,
) -> Option<(usize, usize, usize)> {
    // i(o) = o·stride + offset − pad, in 0..len.
    let lo = pad.saturating_sub(offset).div_ceil(stride);
    let last = (len + pad).checked_sub(offset + 1)?;
    let hi = (last / stride + 1).min(out);
    (lo < hi).then(|| (lo, hi, lo * stride + offset - pad))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every in-range output of [`span`] is exactly the set of outputs whose input is in
    /// range, checked by enumeration.
    #[test]
    fn span_is_the_in_range_outputs() {
        for len in 1..7 {
            for pad in 0..3 {
                for stride in 1..4 {
                    for offset in 0..5 {
                        for out in 1..8 {
                            let inside: Vec<usize> = (0..out)
                                .filter(|&o| {
                                    let i = (o * stride + offset) as isize - pad as isize;
                                    (0..len as isize).contains(&i)
                                })
                                .collect();
                            match span(offset, pad, stride, len, out) {
                                Some((lo, hi, first)) => {
                                    assert_eq!(inside, (lo..hi).collect::<Vec<_>>());
                                    assert_eq!(first, lo * stride + offset - pad);
                                }
                                None => assert!(inside.is_empty()),
                            }
                        }
                    }
                }
            }
        }
    }
}
