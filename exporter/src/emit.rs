//! Writes the shrunken model as ONNX: only needed features are computed, constants are
//! folded into biases, and a vertex whose contributions carry different feature sets aligns
//! them with one Pad (a zero column) and one Gather.

use ardent_models::{Activation, Aggregation, INPUT, Op, PoolKind, Shape};
use tract_onnx::pb;

use crate::collapse::{Branch, Collapsed};
use crate::onnx::{Attr, GraphBuilder, WeightType};

/// How weight matrices are stored in the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Storage {
    /// Every matrix dense: the file holds 4 (f16: 2) bytes per exported parameter.
    Dense,
    /// Every matrix as its non-zero values and the u16 gaps between their positions,
    /// scattered into a dense matrix by the graph itself (tract and onnxruntime fold that
    /// into a constant when they load the model, so it costs nothing per inference).
    Sparse,
    /// Per matrix, whichever takes fewer bytes.
    #[default]
    Auto,
}
use crate::report::{LayerReport, Side};
use crate::shrink::{Plan, column_feature, edge_offsets, fan_in, spatial};

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
    g: GraphBuilder,
    ty: WeightType,
    storage: Storage,
    layers: Vec<LayerReport>,
}

/// A tensor in the graph and the features (vertex- or op-local indices) it carries.
struct Value {
    name: String,
    features: Vec<usize>,
}

/// Builds the graph; `softmax` appends a Softmax to a classifier's output.
pub fn emit(
    c: &Collapsed,
    plan: &Plan,
    ty: WeightType,
    storage: Storage,
    softmax: bool,
) -> Emitted {
    let mut em = Emitter {
        c,
        plan,
        g: GraphBuilder::new(),
        ty,
        storage,
        layers: Vec::new(),
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
        em.g.node("Softmax", &[&out], OUTPUT_NAME, &[("axis", Attr::Int(1))]);
    } else {
        em.g.node("Identity", &[&out], OUTPUT_NAME, &[]);
    }
    Emitted {
        builder: em.g,
        layers: em.layers,
    }
}

fn image_dims(shape: &Shape, features: usize) -> Vec<usize> {
    let mut d = shape.0.clone();
    d[0] = features;
    d
}

impl Emitter<'_> {
    /// A float initializer, cast to f32 in the graph when stored as f16.
    fn param(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
        let n = self.g.weight(name, dims, values, self.ty);
        match self.ty {
            WeightType::F32 => n,
            WeightType::F16 => {
                let out = format!("{name}.f32");
                self.g.node("Cast", &[&n], &out, &[("to", Attr::Int(1))])
            }
        }
    }

    /// A weight matrix, dense or sparse as [`Storage`] says; returns the f32 value's name,
    /// the float scalars stored and whether it was stored sparse.
    fn matrix(&mut self, name: &str, dims: &[usize], values: &[f32]) -> (String, usize, bool) {
        let (deltas, kept) = gaps(values);
        let per = match self.ty {
            WeightType::F32 => 4,
            WeightType::F16 => 2,
        };
        // The scatter's nodes and small initializers take about 300 bytes.
        let sparse_bytes = kept.len() * (per + 2) + 300;
        let sparse = !kept.is_empty()
            && match self.storage {
                Storage::Dense => false,
                Storage::Sparse => true,
                Storage::Auto => sparse_bytes < values.len() * per,
            };
        if !sparse {
            return (self.param(name, dims, values), values.len(), false);
        }
        let v = self.param(&format!("{name}.values"), &[kept.len()], &kept);
        let d = self
            .g
            .uint16s(&format!("{name}.gaps"), &[deltas.len()], &deltas);
        let d = self.g.node(
            "Cast",
            &[&d],
            &format!("{name}.gaps.i32"),
            &[("to", Attr::Int(6))],
        );
        let axis = self.g.int64s(&format!("{name}.axis"), &[], &[0]);
        let idx = self
            .g
            .node("CumSum", &[&d, &axis], &format!("{name}.positions"), &[]);
        let len = self
            .g
            .int64s(&format!("{name}.len"), &[1], &[values.len() as i64]);
        let zero = tract_onnx::pb::TensorProto {
            dims: vec![1],
            data_type: tract_onnx::pb::tensor_proto::DataType::Float as i32,
            raw_data: 0f32.to_le_bytes().to_vec(),
            ..Default::default()
        };
        let zeros = self.g.node(
            "ConstantOfShape",
            &[&len],
            &format!("{name}.zeros"),
            &[("value", Attr::Tensor(Box::new(zero)))],
        );
        let flat = self.g.node(
            "ScatterElements",
            &[&zeros, &idx, &v],
            &format!("{name}.flat"),
            &[("axis", Attr::Int(0))],
        );
        let shape: Vec<i64> = dims.iter().map(|&d| d as i64).collect();
        let shape = self
            .g
            .int64s(&format!("{name}.shape"), &[shape.len()], &shape);
        let out = self.g.node("Reshape", &[&flat, &shape], name, &[]);
        (out, kept.len(), true)
    }

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
            let i = self.g.int64s("input.features", &[idx.len()], &idx);
            x = self.g.node(
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
        let m = self.param("input.mean", &dims, &take(&mean));
        let s = self.param("input.std", &dims, &take(&std));
        let centred = self.g.node("Sub", &[&x, &m], "input.centred", &[]);
        Some(self.g.node("Div", &[&centred, &s], "input.normalised", &[]))
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
        let in_shape = &f.vertices[edge.from].shape;
        let present_in = self.plan.present(edge.from);
        let prefix = ardent_models::layout::op_prefix(f, b.edge, b.op);
        let rows: Vec<usize> = (0..out_need.len()).filter(|&j| out_need[j]).collect();
        let mut post_scale = b.scale;
        let (name, features) = match op {
            Op::Dense { activation, .. } | Op::Glm { activation, .. } => {
                let (name, s) = self.affine(
                    b,
                    op,
                    *activation,
                    input,
                    in_shape,
                    &present_in,
                    &rows,
                    &prefix,
                );
                post_scale = s;
                (name, rows)
            }
            Op::Conv2d { activation, .. } => {
                let (name, s) = self.conv(
                    b,
                    op,
                    *activation,
                    input,
                    in_shape,
                    &present_in,
                    &rows,
                    &prefix,
                );
                post_scale = s;
                (name, rows)
            }
            Op::Pool {
                kind,
                kernel,
                stride,
                padding,
            } => {
                let (k, s, p) = (
                    *kernel as i64,
                    stride.unwrap_or(*kernel) as i64,
                    *padding as i64,
                );
                let mut attrs = vec![
                    ("kernel_shape", Attr::Ints(vec![k, k])),
                    ("strides", Attr::Ints(vec![s, s])),
                    ("pads", Attr::Ints(vec![p, p, p, p])),
                ];
                let ty = match kind {
                    PoolKind::Max => "MaxPool",
                    PoolKind::Avg => {
                        attrs.push(("count_include_pad", Attr::Int(0)));
                        "AveragePool"
                    }
                };
                let out_shape = &edge.op_shapes[b.op];
                self.layers.push(LayerReport::new(
                    f,
                    b,
                    Side::of(op, in_shape, out_shape, 0),
                    Side::of(
                        op,
                        &in_shape.with_features(present_in.len()),
                        &out_shape.with_features(present_in.len()),
                        0,
                    ),
                    0,
                    false,
                ));
                let out = format!("{prefix}.out");
                (self.g.node(ty, &[input], &out, &attrs), present_in)
            }
            Op::Flatten if in_shape.rank() == 3 => {
                let hw = spatial(in_shape);
                let out = format!("{prefix}.out");
                let name = self
                    .g
                    .node("Flatten", &[input], &out, &[("axis", Attr::Int(1))]);
                let features = present_in
                    .iter()
                    .flat_map(|&c| c * hw..(c + 1) * hw)
                    .collect();
                (name, features)
            }
            Op::Flatten | Op::Identity => (input.to_string(), present_in),
            Op::Constant { .. } | Op::Zero => return None,
        };
        let name = if post_scale != 1.0 {
            let s = self.param(&format!("{prefix}.gamma"), &[], &[post_scale]);
            self.g
                .node("Mul", &[&name, &s], &format!("{prefix}.scaled"), &[])
        } else {
            name
        };
        Some(Value { name, features })
    }

    /// Dense or GLM: one Gemm over the present input columns, constants and (at the input)
    /// the normaliser folded into the bias; returns the output and the scale still to apply.
    #[allow(clippy::too_many_arguments)]
    fn affine(
        &mut self,
        b: &Branch,
        op: &Op,
        activation: Activation,
        input: &str,
        in_shape: &Shape,
        present_in: &[usize],
        rows: &[usize],
        prefix: &str,
    ) -> (String, f32) {
        let f = &self.c.family;
        let kin = &self.plan.kinds[f.edges[b.edge].from];
        let at_input = f.edges[b.edge].from == INPUT && self.plan.fold_input;
        let cols = fan_in(op, in_shape);
        let mut position = vec![usize::MAX; in_shape.features()];
        for (p, &c) in present_in.iter().enumerate() {
            position[c] = p;
        }
        let hw = spatial(in_shape);
        let mut x = input.to_string();
        // The matrix columns that read the tensor, in the tensor's order.
        let used: Vec<usize> = match op {
            Op::Glm { features, .. } => {
                let used: Vec<usize> = (0..cols)
                    .filter(|&j| position[features[j]] != usize::MAX)
                    .collect();
                let idx: Vec<i64> = used.iter().map(|&j| position[features[j]] as i64).collect();
                let i = self
                    .g
                    .int64s(&format!("{prefix}.features"), &[idx.len()], &idx);
                x = self.g.node(
                    "Gather",
                    &[&x, &i],
                    &format!("{prefix}.gathered"),
                    &[("axis", Attr::Int(1))],
                );
                used
            }
            _ => {
                if in_shape.rank() == 3 {
                    x = self.g.node(
                        "Flatten",
                        &[&x],
                        &format!("{prefix}.flat"),
                        &[("axis", Attr::Int(1))],
                    );
                }
                present_in
                    .iter()
                    .flat_map(|&c| c * hw..(c + 1) * hw)
                    .collect()
            }
        };
        let mut is_used = vec![false; cols];
        used.iter().for_each(|&j| is_used[j] = true);
        let fold = b.scale > 0.0 && matches!(activation, Activation::None | Activation::Relu);
        let s = if fold { f64::from(b.scale) } else { 1.0 };
        let w = &b.weights.weight;
        let mut weight = Vec::with_capacity(rows.len() * used.len());
        let mut bias = Vec::with_capacity(rows.len());
        for &o in rows {
            let row = &w[o * cols..(o + 1) * cols];
            let mut z = b.weights.bias.as_ref().map_or(0.0, |b| f64::from(b[o]));
            for j in 0..cols {
                if !is_used[j] && row[j] != 0.0 {
                    let c = kin[column_feature(op, in_shape, j)].unwrap_or(0.0);
                    z += f64::from(row[j]) * f64::from(c);
                }
            }
            for &j in &used {
                let mut wv = f64::from(row[j]);
                if at_input {
                    let flat = match op {
                        Op::Glm { features, .. } => features[j],
                        _ => j,
                    };
                    wv /= f64::from(self.c.std[flat]);
                    z -= wv * f64::from(self.c.mean[flat]);
                }
                weight.push((wv * s) as f32);
            }
            bias.push((z * s) as f32);
        }
        let zeros = weight.iter().filter(|&&v| v == 0.0).count();
        let (out, stored, has_bias, sparse) = self.weighted(
            b,
            (
                "Gemm",
                &format!("{prefix}.linear"),
                &[("transB", Attr::Int(1))],
            ),
            &x,
            prefix,
            &[rows.len(), used.len()],
            &weight,
            &bias,
        );
        let edge = &f.edges[b.edge];
        self.layers.push(LayerReport::new(
            f,
            b,
            Side::of(op, in_shape, &edge.op_shapes[b.op], op.params(in_shape)),
            Side {
                input: vec![used.len()],
                output: vec![rows.len()],
                params: stored + if has_bias { bias.len() } else { 0 },
                flops: 2 * (weight.len() as u64)
                    + if has_bias { rows.len() as u64 } else { 0 }
                    + activation_flops(activation) * rows.len() as u64,
            },
            zeros,
            sparse,
        ));
        (
            self.activate(activation, out, prefix),
            if fold { 1.0 } else { b.scale },
        )
    }

    #[allow(clippy::too_many_arguments)]
    fn conv(
        &mut self,
        b: &Branch,
        op: &Op,
        activation: Activation,
        input: &str,
        in_shape: &Shape,
        present_in: &[usize],
        rows: &[usize],
        prefix: &str,
    ) -> (String, f32) {
        let f = &self.c.family;
        let kin = &self.plan.kinds[f.edges[b.edge].from];
        let Op::Conv2d {
            kernel,
            stride,
            padding,
            ..
        } = op
        else {
            unreachable!("conv() is called for conv ops only")
        };
        let (k, cin) = (*kernel, in_shape.features());
        let area = k * k;
        let mut present = vec![false; cin];
        present_in.iter().for_each(|&c| present[c] = true);
        let fold = b.scale > 0.0 && matches!(activation, Activation::None | Activation::Relu);
        let s = if fold { f64::from(b.scale) } else { 1.0 };
        let w = &b.weights.weight;
        let mut weight = Vec::with_capacity(rows.len() * present_in.len() * area);
        let mut bias = Vec::with_capacity(rows.len());
        for &o in rows {
            let mut z = b.weights.bias.as_ref().map_or(0.0, |b| f64::from(b[o]));
            for c in 0..cin {
                let kernel = &w[(o * cin + c) * area..(o * cin + c + 1) * area];
                if present[c] {
                    weight.extend(kernel.iter().map(|&v| (f64::from(v) * s) as f32));
                } else {
                    let sum: f64 = kernel.iter().map(|&v| f64::from(v)).sum();
                    z += sum * f64::from(kin[c].unwrap_or(0.0));
                }
            }
            bias.push((z * s) as f32);
        }
        let zeros = weight.iter().filter(|&&v| v == 0.0).count();
        let (ki, si, pi) = (k as i64, *stride as i64, *padding as i64);
        let (out, stored, has_bias, sparse) = self.weighted(
            b,
            (
                "Conv",
                &format!("{prefix}.conv"),
                &[
                    ("kernel_shape", Attr::Ints(vec![ki, ki])),
                    ("strides", Attr::Ints(vec![si, si])),
                    ("pads", Attr::Ints(vec![pi, pi, pi, pi])),
                ],
            ),
            input,
            prefix,
            &[rows.len(), present_in.len(), k, k],
            &weight,
            &bias,
        );
        let edge = &f.edges[b.edge];
        let out_shape = &edge.op_shapes[b.op];
        let after_out = out_shape.with_features(rows.len());
        let params = stored + if has_bias { bias.len() } else { 0 };
        let spatial_out = spatial(out_shape) as u64;
        self.layers.push(LayerReport::new(
            f,
            b,
            Side::of(op, in_shape, out_shape, op.params(in_shape)),
            Side {
                input: in_shape.with_features(present_in.len()).0,
                output: after_out.0,
                params,
                flops: spatial_out
                    * (2 * weight.len() as u64
                        + if has_bias { rows.len() as u64 } else { 0 }
                        + activation_flops(activation) * rows.len() as u64),
            },
            zeros,
            sparse,
        ));
        (
            self.activate(activation, out, prefix),
            if fold { 1.0 } else { b.scale },
        )
    }

    /// The weight matrix (dense or sparse), the bias when the op has one or constants were
    /// folded into it, and the node `(op type, output name, attributes)` reading `x`, the
    /// weight and the bias. Returns the output, the float scalars stored in the weight,
    /// whether there is a bias, and whether the weight is stored sparse.
    #[allow(clippy::too_many_arguments)]
    fn weighted(
        &mut self,
        b: &Branch,
        node: (&str, &str, &[(&str, Attr)]),
        x: &str,
        prefix: &str,
        dims: &[usize],
        weight: &[f32],
        bias: &[f32],
    ) -> (String, usize, bool, bool) {
        let (wname, stored, sparse) = self.matrix(&format!("{prefix}.weight"), dims, weight);
        let mut inputs = vec![x.to_string(), wname];
        let has_bias = b.weights.bias.is_some() || bias.iter().any(|&v| v != 0.0);
        if has_bias {
            inputs.push(self.param(&format!("{prefix}.bias"), &[bias.len()], bias));
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let (op_type, output, attrs) = node;
        let out = self.g.node(op_type, &refs, output, attrs);
        (out, stored, has_bias, sparse)
    }

    fn activate(&mut self, a: Activation, x: String, prefix: &str) -> String {
        let op = match a {
            Activation::None => return x,
            Activation::Relu => "Relu",
            Activation::Tanh => "Tanh",
            Activation::Sigmoid => "Sigmoid",
        };
        self.g.node(op, &[&x], &format!("{prefix}.act"), &[])
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
            terms.push(self.g.node(
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
                        .g
                        .int64s(&format!("{key}.{n}.pads"), &[2 * rank], &pads);
                    x = self
                        .g
                        .node("Pad", &[&x, &pads], &format!("{key}.{n}.padded"), &[]);
                }
                let i = self
                    .g
                    .int64s(&format!("{key}.{n}.index"), &[idx.len()], &idx);
                terms.push(self.g.node(
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
                self.g
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
                let c = self.param(&format!("{key}.constant"), &dims, &cv);
                self.g.node("Add", &[&a, &c], &format!("{key}.value"), &[])
            }
            None => {
                // Nothing here depends on the input: broadcast the constants over the batch.
                let c = self.param(&format!("{key}.constant"), &dims, &cv);
                let shape = self
                    .g
                    .node("Shape", &[INPUT_NAME], &format!("{key}.shape"), &[]);
                let (s, e) = (
                    self.g.int64s(&format!("{key}.start"), &[1], &[0]),
                    self.g.int64s(&format!("{key}.end"), &[1], &[1]),
                );
                let batch = self
                    .g
                    .node("Slice", &[&shape, &s, &e], &format!("{key}.batch"), &[]);
                let rest: Vec<i64> = image_dims(&vertex.shape, present.len())
                    .iter()
                    .map(|&d| d as i64)
                    .collect();
                let r = self.g.int64s(&format!("{key}.dims"), &[rest.len()], &rest);
                let full = self.g.node(
                    "Concat",
                    &[&batch, &r],
                    &format!("{key}.full"),
                    &[("axis", Attr::Int(0))],
                );
                self.g
                    .node("Expand", &[&c, &full], &format!("{key}.value"), &[])
            }
        }
    }
}

/// The non-zero values of `values` and the gaps between their positions (the first gap
/// counts from 0), as u16: a gap wider than `u16::MAX` is bridged by zero-valued entries.
/// Cumulative sums of the gaps give the positions back.
pub fn gaps(values: &[f32]) -> (Vec<u16>, Vec<f32>) {
    let mut deltas: Vec<u16> = Vec::new();
    let mut kept: Vec<f32> = Vec::new();
    let mut at = 0usize;
    for (p, &v) in values.iter().enumerate().filter(|(_, v)| **v != 0.0) {
        while p - at > usize::from(u16::MAX) {
            at += usize::from(u16::MAX);
            deltas.push(u16::MAX);
            kept.push(0.0);
        }
        deltas.push((p - at) as u16);
        kept.push(v);
        at = p;
    }
    (deltas, kept)
}

fn activation_flops(a: Activation) -> u64 {
    u64::from(a != Activation::None)
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
