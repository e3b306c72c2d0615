//! Max and average pooling: one MaxPool or AveragePool over the channels present.

use ardent_models::ops::Pool;
use ardent_models::{PoolKind, Shape};

use super::{At, ExportOp, Out, taps, window};
use crate::collapse::Branch;
use crate::onnx::Attr;
use crate::report::{LayerReport, Side};
use crate::write::Writer;

impl ExportOp for Pool {
    fn reference(&self, _b: &Branch, x: &[f32], input: &Shape) -> Vec<f32> {
        let (k, s, p) = (self.kernel, self.stride(), self.padding);
        let (c, h, wd) = (input.0[0], input.0[1], input.0[2]);
        let (oh, ow) = (window(h, k, s, p), window(wd, k, s, p));
        let mut out = Vec::with_capacity(c * oh * ow);
        for ci in 0..c {
            for y in 0..oh {
                for xx in 0..ow {
                    let (mut max, mut sum, mut n) = (f32::NEG_INFINITY, 0f64, 0usize);
                    for (_, _, iy, ix) in taps(y, xx, k, s, p, h, wd) {
                        let v = x[(ci * h + iy) * wd + ix];
                        max = max.max(v);
                        sum += f64::from(v);
                        n += 1;
                    }
                    out.push(match self.kind {
                        PoolKind::Max => max,
                        PoolKind::Avg => (sum / n.max(1) as f64) as f32,
                    });
                }
            }
        }
        out
    }

    fn emit(&self, w: &mut Writer, at: &At<'_>) -> Option<Out> {
        let (k, s, p) = (
            self.kernel as i64,
            self.stride() as i64,
            self.padding as i64,
        );
        let mut attrs = vec![
            ("kernel_shape", Attr::Ints(vec![k, k])),
            ("strides", Attr::Ints(vec![s, s])),
            ("pads", Attr::Ints(vec![p, p, p, p])),
        ];
        let ty = match self.kind {
            PoolKind::Max => "MaxPool",
            PoolKind::Avg => {
                attrs.push(("count_include_pad", Attr::Int(0)));
                "AveragePool"
            }
        };
        let present = at.present_in.len();
        w.layers.push(LayerReport::new(
            at.family,
            at.b,
            Side::of(at.op, at.in_shape, at.out_shape, 0),
            Side::of(
                at.op,
                &at.in_shape.with_features(present),
                &at.out_shape.with_features(present),
                0,
            ),
            0,
            false,
        ));
        let out = format!("{}.out", at.prefix);
        Some(Out {
            name: w.g.node(ty, &[at.input], &out, &attrs),
            features: at.present_in.to_vec(),
            scale: at.b.scale,
        })
    }
}
