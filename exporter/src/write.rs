//! Writing weights into the graph: f32 or f16 initializers, weight matrices dense or as
//! their non-zero values and gaps, the weighted node and its activation, and the layer
//! report of each op written. What every op's emission shares.

use ardent_models::Activation;

use crate::onnx::{Attr, GraphBuilder, WeightType};
use crate::report::LayerReport;

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

/// The graph being written, how its weights are stored, and the report of its layers.
pub struct Writer {
    pub g: GraphBuilder,
    pub ty: WeightType,
    pub storage: Storage,
    pub layers: Vec<LayerReport>,
}

impl Writer {
    /// A float initializer, cast to f32 in the graph when stored as f16.
    pub fn param(&mut self, name: &str, dims: &[usize], values: &[f32]) -> String {
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
    pub fn matrix(&mut self, name: &str, dims: &[usize], values: &[f32]) -> (String, usize, bool) {
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

    /// The weight matrix (dense or sparse), the bias when the op has one or constants were
    /// folded into it, and the node `(op type, output name, attributes)` reading `x`, the
    /// weight and the bias. Returns the output, the float scalars stored in the weight,
    /// whether there is a bias, and whether the weight is stored sparse.
    /// `has_bias`: the op has a bias of its own.
    #[allow(clippy::too_many_arguments)]
    pub fn weighted(
        &mut self,
        has_bias: bool,
        node: (&str, &str, &[(&str, Attr)]),
        x: &str,
        prefix: &str,
        dims: &[usize],
        weight: &[f32],
        bias: &[f32],
    ) -> (String, usize, bool, bool) {
        let (wname, stored, sparse) = self.matrix(&format!("{prefix}.weight"), dims, weight);
        let mut inputs = vec![x.to_string(), wname];
        let has_bias = has_bias || bias.iter().any(|&v| v != 0.0);
        if has_bias {
            inputs.push(self.param(&format!("{prefix}.bias"), &[bias.len()], bias));
        }
        let refs: Vec<&str> = inputs.iter().map(String::as_str).collect();
        let (op_type, output, attrs) = node;
        let out = self.g.node(op_type, &refs, output, attrs);
        (out, stored, has_bias, sparse)
    }

    /// `x` through activation `a` (itself for none).
    pub fn activate(&mut self, a: Activation, x: String, prefix: &str) -> String {
        let op = match a {
            Activation::None => return x,
            Activation::Relu => "Relu",
            Activation::Tanh => "Tanh",
            Activation::Sigmoid => "Sigmoid",
        };
        self.g.node(op, &[&x], &format!("{prefix}.act"), &[])
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
