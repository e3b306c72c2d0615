//! 2-D convolutions: one Conv over the present input channels, with constant channels folded
//! into the bias (except where padding makes a constant channel's border differ).

use ardent_models::Shape;
use ardent_models::ops::Conv2d;

use super::{At, ExportOp, Kind, Out, act, activation_flops, fold_scale, spatial, taps, window};
use crate::collapse::Branch;
use crate::onnx::Attr;
use crate::report::{LayerReport, Side};
use crate::write::Writer;

/// Whether the conv reads an input channel of kind `kind` as a tensor: it is live, or a
/// non-zero constant under padding (the border sees the padding's zeros, not the constant).
fn reads(conv: &Conv2d, kind: Kind) -> bool {
    match kind {
        None => true,
        Some(c) => conv.padding > 0 && c != 0.0,
    }
}

impl ExportOp for Conv2d {
    fn reference(&self, b: &Branch, x: &[f32], input: &Shape) -> Vec<f32> {
        let (w, bias) = (&b.weights.weight, b.weights.bias.as_deref());
        let (k, s, p) = (self.kernel, self.stride, self.padding);
        let (c, h, wd) = (input.0[0], input.0[1], input.0[2]);
        let (oh, ow) = (window(h, k, s, p), window(wd, k, s, p));
        let mut out = Vec::with_capacity(self.channels * oh * ow);
        for o in 0..self.channels {
            for y in 0..oh {
                for xx in 0..ow {
                    let mut z = bias.map_or(0.0, |b| f64::from(b[o]));
                    for ci in 0..c {
                        for (ky, kx, iy, ix) in taps(y, xx, k, s, p, h, wd) {
                            let wv = w[((o * c + ci) * k + ky) * k + kx];
                            let xv = x[(ci * h + iy) * wd + ix];
                            z += f64::from(wv) * f64::from(xv);
                        }
                    }
                    out.push(act(self.activation, z));
                }
            }
        }
        out
    }

    fn out_kinds(&self, b: &Branch, input: &Shape, kin: &[Kind]) -> Vec<Kind> {
        let (cin, area) = (input.features(), self.kernel * self.kernel);
        b.weights
            .weight
            .chunks_exact(cin * area)
            .enumerate()
            .map(|(o, per_out)| {
                let mut z = b.weights.bias.as_ref().map_or(0.0, |b| f64::from(b[o]));
                for (c, kernel) in per_out.chunks_exact(area).enumerate() {
                    if kernel.iter().all(|&v| v == 0.0) {
                        continue;
                    }
                    if reads(self, kin[c]) {
                        return None;
                    }
                    let sum: f64 = kernel.iter().map(|&v| f64::from(v)).sum();
                    z += sum * f64::from(kin[c].unwrap_or(0.0));
                }
                Some(act(self.activation, z) * b.scale)
            })
            .collect()
    }

    fn need(
        &self,
        b: &Branch,
        input: &Shape,
        kin: &[Kind],
        out_need: &[bool],
        need_in: &mut [bool],
    ) {
        let (cin, area) = (input.features(), self.kernel * self.kernel);
        let per_out = b.weights.weight.chunks_exact(cin * area).zip(out_need);
        for (per_out, _) in per_out.filter(|(_, n)| **n) {
            for (c, kernel) in per_out.chunks_exact(area).enumerate() {
                if reads(self, kin[c]) && kernel.iter().any(|&v| v != 0.0) {
                    need_in[c] = true;
                }
            }
        }
    }

    fn emit(&self, w: &mut Writer, at: &At<'_>) -> Option<Out> {
        let (b, in_shape, prefix) = (at.b, at.in_shape, at.prefix);
        let (k, cin) = (self.kernel, in_shape.features());
        let area = k * k;
        let mut present = vec![false; cin];
        at.present_in.iter().for_each(|&c| present[c] = true);
        let (s, after) = fold_scale(b, self.activation);
        let rows = at.rows;
        let mut weight = Vec::with_capacity(rows.len() * at.present_in.len() * area);
        let mut bias = Vec::with_capacity(rows.len());
        for &o in rows {
            let mut z = b.weights.bias.as_ref().map_or(0.0, |b| f64::from(b[o]));
            let per_out = &b.weights.weight[o * cin * area..(o + 1) * cin * area];
            for (c, (kernel, &read)) in per_out.chunks_exact(area).zip(&present).enumerate() {
                if read {
                    weight.extend(kernel.iter().map(|&v| (f64::from(v) * s) as f32));
                } else {
                    let sum: f64 = kernel.iter().map(|&v| f64::from(v)).sum();
                    z += sum * f64::from(at.kin[c].unwrap_or(0.0));
                }
            }
            bias.push((z * s) as f32);
        }
        let zeros = weight.iter().filter(|&&v| v == 0.0).count();
        let (ki, si, pi) = (k as i64, self.stride as i64, self.padding as i64);
        let (out, stored, has_bias, sparse) = w.weighted(
            b.weights.bias.is_some(),
            (
                "Conv",
                &format!("{prefix}.conv"),
                &[
                    ("kernel_shape", Attr::Ints(vec![ki, ki])),
                    ("strides", Attr::Ints(vec![si, si])),
                    ("pads", Attr::Ints(vec![pi, pi, pi, pi])),
                ],
            ),
            at.input,
            prefix,
            &[rows.len(), at.present_in.len(), k, k],
            &weight,
            &bias,
        );
        let spatial_out = spatial(at.out_shape) as u64;
        w.layers.push(LayerReport::new(
            at.family,
            b,
            Side::of(at.op, in_shape, at.out_shape, at.op.params(in_shape)),
            Side {
                input: in_shape.with_features(at.present_in.len()).0,
                output: at.out_shape.with_features(rows.len()).0,
                params: stored + if has_bias { bias.len() } else { 0 },
                flops: spatial_out
                    * (2 * weight.len() as u64
                        + if has_bias { rows.len() as u64 } else { 0 }
                        + activation_flops(self.activation) * rows.len() as u64),
            },
            zeros,
            sparse,
        ));
        Some(Out {
            name: w.activate(self.activation, out, prefix),
            features: rows.to_vec(),
            scale: after,
        })
    }
}
