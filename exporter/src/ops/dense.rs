//! Dense and GLM ops: a weight matrix over columns that read input features, written as one
//! Gemm over the present columns with constants (and, at the input, the normaliser) folded
//! into the bias.

use ardent_models::ops::{Dense, Glm};
use ardent_models::{Activation, Shape};

use super::{At, ExportOp, Kind, Out, act, activation_flops, fold_scale, spatial};
use crate::collapse::Branch;
use crate::onnx::Attr;
use crate::report::{LayerReport, Side};
use crate::write::Writer;

/// What dense and GLM share: an activation after a matrix whose columns read the whole
/// input (dense) or the listed features (GLM).
struct Affine<'a> {
    activation: Activation,
    features: Option<&'a [usize]>,
}

impl Affine<'_> {
    /// Columns of the weight matrix.
    fn cols(&self, input: &Shape) -> usize {
        self.features.map_or(input.size(), <[usize]>::len)
    }

    /// The input feature (channel) column `j` reads.
    fn feature(&self, input: &Shape, j: usize) -> usize {
        self.features.map_or(j / spatial(input), |f| f[j])
    }

    /// The flat input value column `j` reads.
    fn flat(&self, j: usize) -> usize {
        self.features.map_or(j, |f| f[j])
    }

    fn reference(&self, b: &Branch, x: &[f32]) -> Vec<f32> {
        let x: Vec<f32> = match self.features {
            Some(f) => f.iter().map(|&i| x[i]).collect(),
            None => x.to_vec(),
        };
        let bias = b.weights.bias.as_deref();
        b.weights
            .weight
            .chunks_exact(x.len())
            .enumerate()
            .map(|(o, row)| {
                let z: f64 = row
                    .iter()
                    .zip(&x)
                    .map(|(w, x)| f64::from(*w) * f64::from(*x))
                    .sum::<f64>()
                    + bias.map_or(0.0, |b| f64::from(b[o]));
                act(self.activation, z)
            })
            .collect()
    }

    fn out_kinds(&self, b: &Branch, input: &Shape, kin: &[Kind]) -> Vec<Kind> {
        let cols = self.cols(input);
        b.weights
            .weight
            .chunks_exact(cols)
            .enumerate()
            .map(|(o, row)| {
                let mut z = b.weights.bias.as_ref().map_or(0.0, |b| f64::from(b[o]));
                for (j, &wv) in row.iter().enumerate() {
                    if wv == 0.0 {
                        continue;
                    }
                    match kin[self.feature(input, j)] {
                        None => return None,
                        Some(c) => z += f64::from(wv) * f64::from(c),
                    }
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
        let cols = self.cols(input);
        let rows = b.weights.weight.chunks_exact(cols).zip(out_need);
        for (row, _) in rows.filter(|(_, n)| **n) {
            for (j, &wv) in row.iter().enumerate() {
                let c = self.feature(input, j);
                if wv != 0.0 && kin[c].is_none() {
                    need_in[c] = true;
                }
            }
        }
    }

    /// One Gemm over the present input columns; returns the output and the scale still to
    /// apply.
    fn emit(&self, w: &mut Writer, at: &At<'_>) -> Out {
        let (b, in_shape, prefix) = (at.b, at.in_shape, at.prefix);
        let cols = self.cols(in_shape);
        let mut position = vec![usize::MAX; in_shape.features()];
        for (p, &c) in at.present_in.iter().enumerate() {
            position[c] = p;
        }
        let hw = spatial(in_shape);
        let mut x = at.input.to_string();
        // The matrix columns that read the tensor, in the tensor's order.
        let used: Vec<usize> = match self.features {
            Some(features) => {
                let used: Vec<usize> = (0..cols)
                    .filter(|&j| position[features[j]] != usize::MAX)
                    .collect();
                let idx: Vec<i64> = used.iter().map(|&j| position[features[j]] as i64).collect();
                let i =
                    w.g.int64s(&format!("{prefix}.features"), &[idx.len()], &idx);
                x = w.g.node(
                    "Gather",
                    &[&x, &i],
                    &format!("{prefix}.gathered"),
                    &[("axis", Attr::Int(1))],
                );
                used
            }
            None => {
                if in_shape.rank() == 3 {
                    x = w.g.node(
                        "Flatten",
                        &[&x],
                        &format!("{prefix}.flat"),
                        &[("axis", Attr::Int(1))],
                    );
                }
                at.present_in
                    .iter()
                    .flat_map(|&c| c * hw..(c + 1) * hw)
                    .collect()
            }
        };
        let mut is_used = vec![false; cols];
        used.iter().for_each(|&j| is_used[j] = true);
        let (s, after) = fold_scale(b, self.activation);
        let mut weight = Vec::with_capacity(at.rows.len() * used.len());
        let mut bias = Vec::with_capacity(at.rows.len());
        for &o in at.rows {
            let row = &b.weights.weight[o * cols..(o + 1) * cols];
            let mut z = b.weights.bias.as_ref().map_or(0.0, |b| f64::from(b[o]));
            for j in 0..cols {
                if !is_used[j] && row[j] != 0.0 {
                    let c = at.kin[self.feature(in_shape, j)].unwrap_or(0.0);
                    z += f64::from(row[j]) * f64::from(c);
                }
            }
            for &j in &used {
                let mut wv = f64::from(row[j]);
                if let Some((mean, std)) = at.normaliser {
                    let flat = self.flat(j);
                    wv /= f64::from(std[flat]);
                    z -= wv * f64::from(mean[flat]);
                }
                weight.push((wv * s) as f32);
            }
            bias.push((z * s) as f32);
        }
        let zeros = weight.iter().filter(|&&v| v == 0.0).count();
        let (out, stored, has_bias, sparse) = w.weighted(
            b.weights.bias.is_some(),
            (
                "Gemm",
                &format!("{prefix}.linear"),
                &[("transB", Attr::Int(1))],
            ),
            &x,
            prefix,
            &[at.rows.len(), used.len()],
            &weight,
            &bias,
        );
        let rows = at.rows.len();
        w.layers.push(LayerReport::new(
            at.family,
            b,
            Side::of(at.op, in_shape, at.out_shape, at.op.params(in_shape)),
            Side {
                input: vec![used.len()],
                output: vec![rows],
                params: stored + if has_bias { bias.len() } else { 0 },
                flops: 2 * (weight.len() as u64)
                    + if has_bias { rows as u64 } else { 0 }
                    + activation_flops(self.activation) * rows as u64,
            },
            zeros,
            sparse,
        ));
        Out {
            name: w.activate(self.activation, out, prefix),
            features: at.rows.to_vec(),
            scale: after,
        }
    }
}

/// An op that is an [`Affine`].
trait AsAffine {
    fn affine(&self) -> Affine<'_>;
}

impl AsAffine for Dense {
    fn affine(&self) -> Affine<'_> {
        Affine {
            activation: self.activation,
            features: None,
        }
    }
}

impl AsAffine for Glm {
    fn affine(&self) -> Affine<'_> {
        Affine {
            activation: self.activation,
            features: Some(&self.features),
        }
    }
}

impl<T: AsAffine> ExportOp for T {
    fn reference(&self, b: &Branch, x: &[f32], _input: &Shape) -> Vec<f32> {
        self.affine().reference(b, x)
    }

    fn out_kinds(&self, b: &Branch, input: &Shape, kin: &[Kind]) -> Vec<Kind> {
        self.affine().out_kinds(b, input, kin)
    }

    fn need(
        &self,
        b: &Branch,
        input: &Shape,
        kin: &[Kind],
        out_need: &[bool],
        need_in: &mut [bool],
    ) {
        self.affine().need(b, input, kin, out_need, need_in)
    }

    fn folds_normaliser(&self) -> bool {
        true
    }

    fn emit(&self, w: &mut Writer, at: &At<'_>) -> Option<Out> {
        Some(self.affine().emit(w, at))
    }
}
