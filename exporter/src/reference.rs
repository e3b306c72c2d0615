//! A plain forward pass of the collapsed model, sample by sample, with f64 accumulation:
//! the reference every exported file is checked against. It reads the family and the masked
//! weights directly and shares no code with the ONNX emitter.

use ardent_models::{Activation, Aggregation, Op, PoolKind, Shape};

use crate::collapse::Collapsed;

/// Runs `input` (row-major raw samples, `batch × input size`) through the collapsed model;
/// returns `batch × outputs` values.
pub fn forward(c: &Collapsed, input: &[f32]) -> Vec<f32> {
    let f = &c.family;
    let size = f.input_shape().size();
    let mut out = Vec::new();
    for sample in input.chunks_exact(size) {
        let x: Vec<f32> = sample
            .iter()
            .zip(&c.mean)
            .zip(&c.std)
            .map(|((x, m), s)| (x - m) / s)
            .collect();
        out.extend(forward_one(c, x));
    }
    out
}

fn forward_one(c: &Collapsed, x: Vec<f32>) -> Vec<f32> {
    let f = &c.family;
    let mut values: Vec<Vec<f32>> = vec![Vec::new(); f.vertices.len()];
    values[ardent_models::INPUT] = x;
    for &v in &f.order[1..] {
        let vertex = &f.vertices[v];
        let spatial = vertex.shape.size() / vertex.shape.features();
        let mut value = vec![0f32; vertex.shape.size()];
        let mut offset = 0;
        for &e in &vertex.incoming {
            let edge = &f.edges[e];
            let in_shape = &f.vertices[edge.from].shape;
            for b in &c.branches[e] {
                let out = op_forward(&edge.ops[b.op], b, &values[edge.from], in_shape);
                for (i, y) in out.iter().enumerate() {
                    value[offset + i] += b.scale * y;
                }
            }
            if vertex.agg == Aggregation::Concat {
                offset += edge.shape.features() * spatial;
            }
        }
        values[v] = value;
    }
    std::mem::take(&mut values[f.output])
}

fn act(a: Activation, z: f64) -> f32 {
    a.apply(z) as f32
}

fn affine(w: &[f32], bias: Option<&[f32]>, x: &[f32], a: Activation) -> Vec<f32> {
    w.chunks_exact(x.len())
        .enumerate()
        .map(|(o, row)| {
            let z: f64 = row
                .iter()
                .zip(x)
                .map(|(w, x)| f64::from(*w) * f64::from(*x))
                .sum::<f64>()
                + bias.map_or(0.0, |b| f64::from(b[o]));
            act(a, z)
        })
        .collect()
}

fn op_forward(op: &Op, b: &crate::collapse::Branch, x: &[f32], shape: &Shape) -> Vec<f32> {
    let w = &b.weights;
    match op {
        Op::Dense { activation, .. } => affine(&w.weight, w.bias.as_deref(), x, *activation),
        Op::Glm {
            features,
            activation,
            ..
        } => {
            let sel: Vec<f32> = features.iter().map(|&i| x[i]).collect();
            affine(&w.weight, w.bias.as_deref(), &sel, *activation)
        }
        Op::Conv2d {
            channels,
            kernel,
            stride,
            padding,
            activation,
            ..
        } => conv(
            x,
            shape,
            &w.weight,
            w.bias.as_deref(),
            *channels,
            *kernel,
            *stride,
            *padding,
            *activation,
        ),
        Op::Pool {
            kind,
            kernel,
            stride,
            padding,
        } => pool(
            x,
            shape,
            *kind,
            *kernel,
            stride.unwrap_or(*kernel),
            *padding,
        ),
        Op::Constant { .. } => w.value.clone(),
        Op::Flatten | Op::Identity => x.to_vec(),
        Op::Zero => vec![0.0; x.len()],
    }
}

fn window(n: usize, k: usize, s: usize, p: usize) -> usize {
    (n + 2 * p - k) / s + 1
}

/// The kernel taps `(ky, kx, iy, ix)` of output position (y, x) that fall inside an
/// `h × w` input (padding reads nothing), row by row.
fn taps(
    y: usize,
    x: usize,
    k: usize,
    s: usize,
    p: usize,
    h: usize,
    w: usize,
) -> impl Iterator<Item = (usize, usize, usize, usize)> {
    let at = move |o: usize, t: usize, n: usize| (o * s + t).checked_sub(p).filter(|&i| i < n);
    (0..k).flat_map(move |ky| {
        (0..k).filter_map(move |kx| Some((ky, kx, at(y, ky, h)?, at(x, kx, w)?)))
    })
}

#[allow(clippy::too_many_arguments)]
fn conv(
    x: &[f32],
    shape: &Shape,
    w: &[f32],
    bias: Option<&[f32]>,
    out_c: usize,
    k: usize,
    s: usize,
    p: usize,
    a: Activation,
) -> Vec<f32> {
    let (c, h, wd) = (shape.0[0], shape.0[1], shape.0[2]);
    let (oh, ow) = (window(h, k, s, p), window(wd, k, s, p));
    let mut out = Vec::with_capacity(out_c * oh * ow);
    for o in 0..out_c {
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
                out.push(act(a, z));
            }
        }
    }
    out
}

fn pool(x: &[f32], shape: &Shape, kind: PoolKind, k: usize, s: usize, p: usize) -> Vec<f32> {
    let (c, h, wd) = (shape.0[0], shape.0[1], shape.0[2]);
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
                out.push(match kind {
                    PoolKind::Max => max,
                    PoolKind::Avg => (sum / n.max(1) as f64) as f32,
                });
            }
        }
    }
    out
}
