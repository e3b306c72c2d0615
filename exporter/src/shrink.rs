//! Structured removal, decided before anything is written. Two passes over the collapsed
//! model:
//!
//! 1. forward, *kinds*: every feature (channel, for images) of every vertex and op output is
//!    either live (it depends on the input) or a known constant. A neuron whose live inputs
//!    all have pruned weights outputs `act(b + Σ w·c)`, a constant, not zero.
//! 2. backward, *need*: a feature is needed when a consumer reads it through a surviving
//!    weight, or it is an output. Constants are folded into the consumers' biases instead of
//!    being computed, except where a padded convolution reads a non-zero constant channel:
//!    its border sees the padding's zeros, so that channel must exist as a tensor.
//!
//! A vertex's exported tensor carries exactly its needed features, in index order.

use ardent_models::{Family, INPUT, Op, Shape};

use crate::collapse::{Branch, Collapsed};

/// `None`: the feature depends on the input; `Some(c)`: it is the constant `c`.
pub type Kind = Option<f32>;

/// The result of both passes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Per vertex, per feature.
    pub kinds: Vec<Vec<Kind>>,
    pub need: Vec<Vec<bool>>,
    /// Per edge, per kept op, per output feature of the op (before padding).
    pub branch_kinds: Vec<Vec<Vec<Kind>>>,
    pub branch_need: Vec<Vec<Vec<bool>>>,
    /// The input normaliser is folded into the first layers (every consumer of the input is
    /// a dense or GLM op), rather than computed by its own nodes.
    pub fold_input: bool,
    /// Input features some kept weight reads (the input tensor may carry more: see
    /// [`Plan::new`]).
    pub input_read: usize,
}

/// Positions, per vertex, at which an edge's output starts: 0 except on concat vertices.
pub fn edge_offsets(f: &Family) -> Vec<usize> {
    let mut off = vec![0; f.edges.len()];
    for v in &f.vertices {
        if v.agg == ardent_models::Aggregation::Concat {
            let mut at = 0;
            for &e in &v.incoming {
                off[e] = at;
                at += f.edges[e].shape.features();
            }
        }
    }
    off
}

/// Spatial size of a shape: 1 for vectors, h·w for images.
pub fn spatial(s: &Shape) -> usize {
    s.size() / s.features()
}

/// For a dense or GLM op on input shape `input`: the input feature (channel) column `j` of
/// the weight matrix reads.
pub fn column_feature(op: &Op, input: &Shape, j: usize) -> usize {
    match op {
        Op::Glm { features, .. } => features[j],
        _ => j / spatial(input),
    }
}

/// Number of weight-matrix columns (dense, GLM) or input channels (conv).
pub fn fan_in(op: &Op, input: &Shape) -> usize {
    match op {
        Op::Glm { features, .. } => features.len(),
        Op::Conv2d { .. } => input.features(),
        _ => input.size(),
    }
}

fn act(op: &Op, z: f64) -> f32 {
    op.activation().apply(z) as f32
}

/// Padding of a conv op (0 for others).
pub fn conv_padding(op: &Op) -> usize {
    match op {
        Op::Conv2d { padding, .. } => *padding,
        _ => 0,
    }
}

/// Whether a conv reads input channel `c` as a tensor: it is live, or a non-zero constant
/// under padding.
fn conv_reads(op: &Op, kind: Kind) -> bool {
    match kind {
        None => true,
        Some(c) => conv_padding(op) > 0 && c != 0.0,
    }
}

fn kernel_area(op: &Op) -> usize {
    match op {
        Op::Conv2d { kernel, .. } => kernel * kernel,
        _ => 1,
    }
}

/// The kinds of one kept op's output features.
fn op_kinds(op: &Op, b: &Branch, input: &Shape, kin: &[Kind]) -> Vec<Kind> {
    let w = &b.weights.weight;
    let s = b.scale;
    let scaled = |k: Kind| k.map(|c| c * s);
    match op {
        Op::Dense { .. } | Op::Glm { .. } => {
            let cols = fan_in(op, input);
            w.chunks_exact(cols)
                .enumerate()
                .map(|(o, row)| {
                    let mut z = b.weights.bias.as_ref().map_or(0.0, |b| f64::from(b[o]));
                    for (j, &wv) in row.iter().enumerate() {
                        if wv == 0.0 {
                            continue;
                        }
                        match kin[column_feature(op, input, j)] {
                            None => return None,
                            Some(c) => z += f64::from(wv) * f64::from(c),
                        }
                    }
                    Some(act(op, z) * s)
                })
                .collect()
        }
        Op::Conv2d { .. } => {
            let (cin, area) = (input.features(), kernel_area(op));
            w.chunks_exact(cin * area)
                .enumerate()
                .map(|(o, per_out)| {
                    let mut z = b.weights.bias.as_ref().map_or(0.0, |b| f64::from(b[o]));
                    for (c, kernel) in per_out.chunks_exact(area).enumerate() {
                        if kernel.iter().all(|&v| v == 0.0) {
                            continue;
                        }
                        if conv_reads(op, kin[c]) {
                            return None;
                        }
                        let sum: f64 = kernel.iter().map(|&v| f64::from(v)).sum();
                        z += sum * f64::from(kin[c].unwrap_or(0.0));
                    }
                    Some(act(op, z) * s)
                })
                .collect()
        }
        Op::Pool { .. } | Op::Identity => kin.iter().map(|&k| scaled(k)).collect(),
        Op::Flatten => {
            let hw = spatial(input);
            kin.iter()
                .flat_map(|&k| std::iter::repeat_n(scaled(k), hw))
                .collect()
        }
        Op::Constant { .. } => b.weights.value.iter().map(|&v| Some(v * s)).collect(),
        Op::Zero => vec![Some(0.0); kin.len()],
    }
}

/// Marks in `need_in` the input features one kept op reads as a tensor to produce the
/// output features `out_need`.
fn op_need(
    op: &Op,
    b: &Branch,
    input: &Shape,
    kin: &[Kind],
    out_need: &[bool],
    need_in: &mut [bool],
) {
    let w = &b.weights.weight;
    match op {
        Op::Dense { .. } | Op::Glm { .. } => {
            let cols = fan_in(op, input);
            for (row, _) in w.chunks_exact(cols).zip(out_need).filter(|(_, n)| **n) {
                for (j, &wv) in row.iter().enumerate() {
                    let c = column_feature(op, input, j);
                    if wv != 0.0 && kin[c].is_none() {
                        need_in[c] = true;
                    }
                }
            }
        }
        Op::Conv2d { .. } => {
            let (cin, area) = (input.features(), kernel_area(op));
            for (per_out, _) in w
                .chunks_exact(cin * area)
                .zip(out_need)
                .filter(|(_, n)| **n)
            {
                for (c, kernel) in per_out.chunks_exact(area).enumerate() {
                    if conv_reads(op, kin[c]) && kernel.iter().any(|&v| v != 0.0) {
                        need_in[c] = true;
                    }
                }
            }
        }
        Op::Pool { .. } | Op::Identity => {
            for (n, &o) in need_in.iter_mut().zip(out_need) {
                *n |= o;
            }
        }
        Op::Flatten => {
            let hw = spatial(input);
            for (c, n) in need_in.iter_mut().enumerate() {
                *n |= out_need[c * hw..(c + 1) * hw].iter().any(|&o| o);
            }
        }
        Op::Constant { .. } | Op::Zero => {}
    }
}

impl Plan {
    /// Runs both passes.
    pub fn new(c: &Collapsed) -> Plan {
        let f = &c.family;
        let offsets = edge_offsets(f);
        let mut kinds: Vec<Vec<Kind>> = f
            .vertices
            .iter()
            .map(|v| vec![Some(0.0); v.shape.features()])
            .collect();
        kinds[INPUT] = vec![None; f.input_shape().features()];
        let mut branch_kinds: Vec<Vec<Vec<Kind>>> = vec![Vec::new(); f.edges.len()];
        for &v in &f.order[1..] {
            let mut acc: Vec<Kind> = vec![Some(0.0); f.vertices[v].shape.features()];
            for &e in &f.vertices[v].incoming {
                let edge = &f.edges[e];
                let input = &f.vertices[edge.from].shape;
                for b in &c.branches[e] {
                    let k = op_kinds(&edge.ops[b.op], b, input, &kinds[edge.from]);
                    for (j, kj) in k.iter().enumerate() {
                        let slot = &mut acc[offsets[e] + j];
                        *slot = match (*slot, *kj) {
                            (Some(a), Some(b)) => Some(a + b),
                            _ => None,
                        };
                    }
                    branch_kinds[e].push(k);
                }
            }
            kinds[v] = acc;
        }

        let mut need: Vec<Vec<bool>> = kinds.iter().map(|k| vec![false; k.len()]).collect();
        need[f.output] = vec![true; kinds[f.output].len()];
        let mut branch_need: Vec<Vec<Vec<bool>>> = vec![Vec::new(); f.edges.len()];
        for &v in f.order.iter().rev() {
            for &e in &f.vertices[v].incoming {
                let edge = &f.edges[e];
                let input = &f.vertices[edge.from].shape;
                let mut need_in = std::mem::take(&mut need[edge.from]);
                for (i, b) in c.branches[e].iter().enumerate() {
                    let out_need: Vec<bool> = branch_kinds[e][i]
                        .iter()
                        .enumerate()
                        .map(|(j, k)| k.is_none() && need[v][offsets[e] + j])
                        .collect();
                    op_need(
                        &edge.ops[b.op],
                        b,
                        input,
                        &kinds[edge.from],
                        &out_need,
                        &mut need_in,
                    );
                    branch_need[e].push(out_need);
                }
                need[edge.from] = need_in;
            }
        }

        // A Gather at the input costs more than the zero columns it saves unless it drops at
        // least half the features: on Fashion-MNIST's 756 of 784 pixels it took 90 µs of
        // 845 in tract and 1.4 of 2.0 ms in onnxruntime at batch 256 (BENCHMARKS.md), while
        // the zero columns are free in sparse storage.
        let input_read = need[INPUT].iter().filter(|&&n| n).count();
        if 2 * input_read > need[INPUT].len() {
            need[INPUT].iter_mut().for_each(|n| *n = true);
        }
        let fold_input = f.vertices[INPUT].outgoing.iter().all(|&e| {
            c.branches[e].iter().enumerate().all(|(i, b)| {
                matches!(f.edges[e].ops[b.op], Op::Dense { .. } | Op::Glm { .. })
                    || !branch_need[e][i].iter().any(|&n| n)
            })
        });
        Plan {
            kinds,
            need,
            branch_kinds,
            branch_need,
            fold_input,
            input_read,
        }
    }

    /// The features vertex `v`'s tensor carries, in order.
    pub fn present(&self, v: usize) -> Vec<usize> {
        (0..self.need[v].len())
            .filter(|&j| self.need[v][j])
            .collect()
    }
}
