//! Writes the shrunken model as ONNX: only needed features are computed, constants are
//! folded into biases, and a vertex whose contributions carry different feature sets aligns
//! them with one Pad (a zero column) and one Gather.

use ardent_models::vae::OutputMap;
use ardent_models::{Aggregation, INPUT, Shape};
use tract_onnx::pb;

use crate::collapse::{Branch, Collapsed};
use crate::onnx::{Attr, GraphBuilder, WeightType};
use crate::ops::{At, export_op, spatial};
use crate::report::LayerReport;
use crate::shrink::{Plan, edge_offsets};
use crate::write::Writer;
pub use crate::write::{Storage, gaps};

/// Name of the model's input value.
pub const INPUT_NAME: &str = "input";
/// Name of the model's output value.
pub const OUTPUT_NAME: &str = "output";

/// The graph and what went into it.
#[derive(Debug)]
pub struct Emitted {
    pub builder: GraphBuilder,
    pub layers: Vec<LayerReport>,
}

struct Emitter<'a> {
    c: &'a Collapsed,
    plan: &'a Plan,
    w: Writer,
}

/// A tensor in the graph and the features (vertex- or op-local indices) it carries.
struct Value {
    name: String,
    features: Vec<usize>,
}

/// Builds the graph; `softmax` appends a Softmax to a classifier's output, `map` the map of a
/// VAE decoder's output to the data's scale (its constants always f32).
pub fn emit(
    c: &Collapsed,
    plan: &Plan,
    ty: WeightType,
    storage: Storage,
    softmax: bool,
    map: Option<&OutputMap>,
) -> Emitted {
    let mut em = Emitter {
        c,
        plan,
        w: Writer {
            g: GraphBuilder::new(),
            ty,
            storage,
            layers: Vec::new(),
        },
    };
    let f = &c.family;
    let offsets = edge_offsets(f);
    let mut tensors: Vec<Option<String>> = vec![None; f.vertices.len()];
    tensors[INPUT] = em.input();
    for &v in &f.order[1..] {
        let present = plan.present(v);
        if present.is_empty() {
            continue;
        }
        let vertex = &f.vertices[v];
        let mut parts: Vec<(usize, Value)> = Vec::new();
        let mut constants = vec![0f32; vertex.shape.features()];
        for &e in &vertex.incoming {
            let edge = &f.edges[e];
            for (i, b) in c.branches[e].iter().enumerate() {
                let out = match &tensors[edge.from] {
                    Some(t) => em.branch(b, i, &t.clone()),
                    None => None,
                };
                // A pass-through op carries its input's constant features in its tensor;
                // every other constant is added once, at the vertex.
                let mut carried = vec![false; plan.branch_kinds[e][i].len()];
                if let Some(out) = &out {
                    out.features.iter().for_each(|&j| carried[j] = true);
                }
                for (j, k) in plan.branch_kinds[e][i].iter().enumerate() {
                    if let (Some(k), false) = (k, carried[j]) {
                        constants[offsets[e] + j] += k;
                    }
                }
                if let Some(mut out) = out {
                    out.features.iter_mut().for_each(|j| *j += offsets[e]);
                    parts.push((e, out));
                }
            }
        }
        let name = em.aggregate(v, &present, parts, &constants);
        tensors[v] = Some(name);
    }
    let out = tensors[f.output]
        .clone()
        .expect("the output vertex needs all its features");
    let classify = matches!(f.task, ardent_models::Task::Classification { .. });
    if softmax && classify {
        em.w.g
            .node("Softmax", &[&out], OUTPUT_NAME, &[("axis", Attr::Int(1))]);
    } else if let Some(map) = map {
        let g = &mut em.w.g;
        let mut y = out;
        if map.sigmoid {
            let s = g.fresh("decoded_sigmoid");
            g.node("Sigmoid", &[&y], &s, &[]);
            y = s;
        }
        let scale = g.weight(
            "decoded.scale",
            &[map.scale.len()],
            &map.scale,
            WeightType::F32,
        );
        let scaled = g.fresh("decoded_scaled");
        g.node("Mul", &[&y, &scale], &scaled, &[]);
        let offset = g.weight(
            "decoded.offset",
            &[map.offset.len()],
            &map.offset,
            WeightType::F32,
        );
        g.node("Add", &[&scaled, &offset], OUTPUT_NAME, &[]);
    } else {
        em.w.g.node("Identity", &[&out], OUTPUT_NAME, &[]);
    }
    Emitted {
        builder: em.w.g,
        layers: em.w.layers,
    }
}

fn image_dims(shape: &Shape, features: usize) -> Vec<usize> {
    let mut d = shape.0.clone();
    d[0] = features;
    d
}

impl Emitter<'_> {
    /// The input, restricted to the needed features and normalised unless the first layers
    /// absorb the normaliser.
    fn input(&mut self) -> Option<String> {
        let f = &self.c.family;
        let present = self.plan.present(INPUT);
        if present.is_empty() {
            return None;
        }
        let shape = f.input_shape().clone();
        let hw = spatial(&shape);
        let mut x = INPUT_NAME.to_string();
        if present.len() < shape.features() {
            let idx: Vec<i64> = present.iter().map(|&j| j as i64).collect();
            let i = self.w.g.int64s("input.features", &[idx.len()], &idx);
            x = self.w.g.node(
                "Gather",
                &[&x, &i],
                "input.gathered",
                &[("axis", Attr::Int(1))],
            );
        }
        if self.plan.fold_input {
            return Some(x);
        }
        let pick = |v: &[f32]| -> Vec<f32> {
            present
                .iter()
                .flat_map(|&c| v[c * hw..(c + 1) * hw].iter().copied())
                .collect()
        };
        let (mean, std) = (pick(&self.c.mean), pick(&self.c.std));
        let uniform = |v: &[f32]| v.iter().all(|&a| a == v[0]);
        let dims = if uniform(&mean) && uniform(&std) {
            Vec::new()
        } else {
            image_dims(&shape, present.len())
        };
        let take = |v: &[f32]| {
            if dims.is_empty() {
                vec![v[0]]
            } else {
                v.to_vec()
            }
        };
        let m = self.w.param("input.mean", &dims, &take(&mean));
        let s = self.w.param("input.std", &dims, &take(&std));
        let centred = self.w.g.node("Sub", &[&x, &m], "input.centred", &[]);
        Some(
            self.w
                .g
                .node("Div", &[&centred, &s], "input.normalised", &[]),
        )
    }

    /// Emits one kept op; `None` when none of its outputs is needed as a tensor.
    fn branch(&mut self, b: &Branch, i: usize, input: &str) -> Option<Value> {
        let f = &self.c.family;
        let edge = &f.edges[b.edge];
        let out_need = &self.plan.branch_need[b.edge][i];
        if !out_need.iter().any(|&n| n) {
            return None;
        }
        let op = &edge.ops[b.op];
        let prefix = ardent_models::layout::op_prefix(f, b.edge, b.op);
        let rows: Vec<usize> = (0..out_need.len()).filter(|&j| out_need[j]).collect();
        let present_in = self.plan.present(edge.from);
        let at_input = edge.from == INPUT && self.plan.fold_input;
        let at = At {
            family: f,
            b,
            op,
            input,
            in_shape: &f.vertices[edge.from].shape,
            present_in: &present_in,
            kin: &self.plan.kinds[edge.from],
            out_shape: &edge.op_shapes[b.op],
            rows: &rows,
            normaliser: at_input.then_some((self.c.mean.as_slice(), self.c.std.as_slice())),
            prefix: &prefix,
        };
        let out = export_op(op).emit(&mut self.w, &at)?;
        let name = if out.scale != 1.0 {
            let s = self.w.param(&format!("{prefix}.gamma"), &[], &[out.scale]);
            self.w
                .g
                .node("Mul", &[&out.name, &s], &format!("{prefix}.scaled"), &[])
        } else {
            out.name
        };
        Some(Value {
            name,
            features: out.features,
        })
    }

    /// Sums (or concatenates) a vertex's contributions over its present features and adds
    /// the constant ones.
    fn aggregate(
        &mut self,
        v: usize,
        present: &[usize],
        parts: Vec<(usize, Value)>,
        constants: &[f32],
    ) -> String {
        let f = &self.c.family;
        let vertex = &f.vertices[v];
        let key = format!("vertex.{v}");
        let image = vertex.shape.rank() == 3;
        let mut terms: Vec<String> = Vec::new();
        let concat_direct = vertex.agg == Aggregation::Concat && {
            let mut all: Vec<usize> = Vec::new();
            let mut ok = true;
            let mut seen = std::collections::HashSet::new();
            for (e, p) in &parts {
                ok &= seen.insert(*e);
                all.extend(&p.features);
            }
            ok && all == present
        };
        if concat_direct && parts.len() > 1 {
            let names: Vec<&str> = parts.iter().map(|(_, p)| p.name.as_str()).collect();
            terms.push(self.w.g.node(
                "Concat",
                &names,
                &format!("{key}.concat"),
                &[("axis", Attr::Int(1))],
            ));
        } else {
            for (n, (_, p)) in parts.into_iter().enumerate() {
                if p.features == present {
                    terms.push(p.name);
                    continue;
                }
                let mut idx = Vec::with_capacity(present.len());
                let mut padded = false;
                for j in present {
                    idx.push(match p.features.iter().position(|x| x == j) {
                        Some(q) => q as i64,
                        None => {
                            padded = true;
                            p.features.len() as i64
                        }
                    });
                }
                let mut x = p.name;
                if padded {
                    let rank = if image { 4 } else { 2 };
                    let mut pads = vec![0i64; 2 * rank];
                    pads[rank + 1] = 1;
                    let pads = self
                        .w
                        .g
                        .int64s(&format!("{key}.{n}.pads"), &[2 * rank], &pads);
                    x = self
                        .w
                        .g
                        .node("Pad", &[&x, &pads], &format!("{key}.{n}.padded"), &[]);
                }
                let i = self
                    .w
                    .g
                    .int64s(&format!("{key}.{n}.index"), &[idx.len()], &idx);
                terms.push(self.w.g.node(
                    "Gather",
                    &[&x, &i],
                    &format!("{key}.{n}.aligned"),
                    &[("axis", Attr::Int(1))],
                ));
            }
        }
        let mut acc = terms.first().cloned();
        for (n, t) in terms.iter().enumerate().skip(1) {
            let prev = acc.take().expect("set by the first term");
            acc = Some(
                self.w
                    .g
                    .node("Add", &[&prev, t], &format!("{key}.sum{n}"), &[]),
            );
        }
        let cv: Vec<f32> = present.iter().map(|&j| constants[j]).collect();
        let dims: Vec<usize> = if image {
            vec![present.len(), 1, 1]
        } else {
            vec![present.len()]
        };
        match acc {
            Some(a) if cv.iter().all(|&c| c == 0.0) => a,
            Some(a) => {
                let c = self.w.param(&format!("{key}.constant"), &dims, &cv);
                self.w
                    .g
                    .node("Add", &[&a, &c], &format!("{key}.value"), &[])
            }
            None => {
                // Nothing here depends on the input: broadcast the constants over the batch.
                let c = self.w.param(&format!("{key}.constant"), &dims, &cv);
                let shape = self
                    .w
                    .g
                    .node("Shape", &[INPUT_NAME], &format!("{key}.shape"), &[]);
                let (s, e) = (
                    self.w.g.int64s(&format!("{key}.start"), &[1], &[0]),
                    self.w.g.int64s(&format!("{key}.end"), &[1], &[1]),
                );
                let batch = self
                    .w
                    .g
                    .node("Slice", &[&shape, &s, &e], &format!("{key}.batch"), &[]);
                let rest: Vec<i64> = image_dims(&vertex.shape, present.len())
                    .iter()
                    .map(|&d| d as i64)
                    .collect();
                let r = self
                    .w
                    .g
                    .int64s(&format!("{key}.dims"), &[rest.len()], &rest);
                let full = self.w.g.node(
                    "Concat",
                    &[&batch, &r],
                    &format!("{key}.full"),
                    &[("axis", Attr::Int(0))],
                );
                self.w
                    .g
                    .node("Expand", &[&c, &full], &format!("{key}.value"), &[])
            }
        }
    }
}

/// Finishes the graph with its input and output declarations.
pub fn finish(g: GraphBuilder, c: &Collapsed) -> pb::ModelProto {
    let f = &c.family;
    g.finish(
        &f.name,
        (INPUT_NAME, &f.input_shape().0),
        (OUTPUT_NAME, &[f.task.outputs()]),
    )
}

#[cfg(test)]
mod tests {
    use super::gaps;

    fn expand(deltas: &[u16], kept: &[f32], len: usize) -> Vec<f32> {
        let mut out = vec![0.0; len];
        let mut at = 0usize;
        for (d, v) in deltas.iter().zip(kept) {
            at += usize::from(*d);
            out[at] += v;
        }
        out
    }

    #[test]
    fn gaps_give_the_positions_back_even_across_wide_gaps() {
        let mut values = vec![0f32; 200_000];
        for (p, v) in [(0, 1.0), (1, -2.0), (70_000, 3.0), (199_999, 4.0)] {
            values[p] = v;
        }
        let (d, k) = gaps(&values);
        assert_eq!(expand(&d, &k, values.len()), values);
        // 70,000 − 1 and 199,999 − 70,000 each need one stepping stone.
        assert_eq!(k.iter().filter(|v| **v == 0.0).count(), 2);
        assert_eq!(gaps(&[0.0, 0.0]), (vec![], vec![]));
    }
}
