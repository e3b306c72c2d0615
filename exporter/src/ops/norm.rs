//! Batch normalisation, exported as what it is at inference: one scale and one offset per
//! channel, `act(a·x + b)` with a = scale / √(var + ε) and b = shift − mean·a, written as a
//! Mul and an Add over the channels present (γ's scale folded into both where the
//! activation allows).

use ardent_models::Shape;
use ardent_models::ops::BatchNorm;

use super::{At, ExportOp, Kind, Out, act, activation_flops, fold_scale, spatial};
use crate::collapse::Branch;
use crate::report::{LayerReport, Side};
use crate::write::Writer;

/// Per channel (a, b) of `b`'s stored statistics, in f64.
fn affine(op: &BatchNorm, b: &Branch) -> Vec<(f64, f64)> {
    let t = |name: &str| b.weights.tensors.get(name).map_or(&[][..], Vec::as_slice);
    let (scale, shift, mean, var) = (t("scale"), t("shift"), t("running_mean"), t("running_var"));
    (0..scale.len())
        .map(|c| {
            let a = f64::from(scale[c]) / (f64::from(var[c]) + op.epsilon).sqrt();
            (a, f64::from(shift[c]) - f64::from(mean[c]) * a)
        })
        .collect()
}

impl ExportOp for BatchNorm {
    fn reference(&self, b: &Branch, x: &[f32], input: &Shape) -> Vec<f32> {
        let hw = spatial(input);
        let ab = affine(self, b);
        x.iter()
            .enumerate()
            .map(|(i, &v)| {
                let (a, c) = ab[i / hw];
                act(self.activation, a * f64::from(v) + c)
            })
            .collect()
    }

    fn out_kinds(&self, b: &Branch, _input: &Shape, kin: &[Kind]) -> Vec<Kind> {
        affine(self, b)
            .iter()
            .zip(kin)
            .map(|(&(a, c), k)| k.map(|k| act(self.activation, a * f64::from(k) + c) * b.scale))
            .collect()
    }

    fn emit(&self, w: &mut Writer, at: &At<'_>) -> Option<Out> {
        let (b, prefix) = (at.b, at.prefix);
        let (s, after) = fold_scale(b, self.activation);
        let ab = affine(self, b);
        let (scale, offset): (Vec<f32>, Vec<f32>) = at
            .present_in
            .iter()
            .map(|&c| ((ab[c].0 * s) as f32, (ab[c].1 * s) as f32))
            .unzip();
        let p = at.present_in.len();
        let dims = if at.in_shape.rank() == 3 {
            vec![p, 1, 1]
        } else {
            vec![p]
        };
        let a = w.param(&format!("{prefix}.scale"), &dims, &scale);
        let c = w.param(&format!("{prefix}.offset"), &dims, &offset);
        let scaled = w.g.node(
            "Mul",
            &[at.input, &a],
            &format!("{prefix}.scaled_input"),
            &[],
        );
        let shifted =
            w.g.node("Add", &[&scaled, &c], &format!("{prefix}.shifted"), &[]);
        let out_present = at.out_shape.with_features(p);
        w.layers.push(LayerReport::new(
            at.family,
            b,
            Side::of(at.op, at.in_shape, at.out_shape, at.op.params(at.in_shape)),
            Side {
                input: at.in_shape.with_features(p).0,
                output: out_present.0.clone(),
                params: 2 * p,
                flops: (2 + activation_flops(self.activation)) * out_present.size() as u64,
            },
            0,
            false,
        ));
        Some(Out {
            name: w.activate(self.activation, shifted, prefix),
            features: at.present_in.to_vec(),
            scale: after,
        })
    }
}
