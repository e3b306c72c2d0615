//! A plain forward pass of the collapsed model, sample by sample, with f64 accumulation:
//! the reference every exported file is checked against. It reads the family and the masked
//! weights directly; each op's part is its family's [`ExportOp::reference`], a plain loop
//! that shares no code with the op's emission.
//!
//! [`ExportOp::reference`]: crate::ops::ExportOp::reference

use ardent_models::Aggregation;

use crate::collapse::Collapsed;
use crate::ops::export_op;

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
                let out = export_op(&edge.ops[b.op]).reference(b, &values[edge.from], in_shape);
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
