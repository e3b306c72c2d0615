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

use ardent_models::{Family, INPUT};

use crate::collapse::Collapsed;
pub use crate::ops::Kind;
use crate::ops::export_op;

/// The result of both passes.
#[derive(Debug, Clone)]
pub struct Plan {
    /// Per vertex, per feature.
    pub kinds: Vec<Vec<Kind>>,
    pub need: Vec<Vec<bool>>,
    /// Per edge, per kept op, per output feature of the op (before padding).
    pub branch_kinds: Vec<Vec<Vec<Kind>>>,
    pub branch_need: Vec<Vec<Vec<bool>>>,
    /// The input normaliser is folded into the first layers (every consumer of the input
    /// can fold it: dense and GLM ops), rather than computed by its own nodes.
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
                    let k = export_op(&edge.ops[b.op]).out_kinds(b, input, &kinds[edge.from]);
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
                    export_op(&edge.ops[b.op]).need(
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
                export_op(&f.edges[e].ops[b.op]).folds_normaliser()
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
