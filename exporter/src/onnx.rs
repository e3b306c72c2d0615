//! A small builder for ONNX graphs on top of tract's prost types: IR version 8, opset 17,
//! weights as little-endian `raw_data`, a named batch dimension.

use prost::Message;
use tract_onnx::pb;

/// ONNX IR version written by ardent.
pub const IR_VERSION: i64 = 8;
/// Default-domain opset written by ardent.
pub const OPSET: i64 = 17;
/// Name of the symbolic batch dimension.
pub const BATCH: &str = "N";

/// Element type of a stored weight.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightType {
    F32,
    F16,
}

/// Accumulates nodes and initializers, then writes a [`pb::ModelProto`].
#[derive(Debug, Default)]
pub struct GraphBuilder {
    nodes: Vec<pb::NodeProto>,
    initializers: Vec<pb::TensorProto>,
    metadata: Vec<(String, String)>,
    counter: usize,
}

/// An attribute value for [`GraphBuilder::node`].
#[derive(Debug, Clone)]
pub enum Attr {
    Int(i64),
    Ints(Vec<i64>),
    Float(f32),
    Tensor(Box<pb::TensorProto>),
}

impl GraphBuilder {
    pub fn new() -> GraphBuilder {
        GraphBuilder::default()
    }

    /// A fresh value name with the given prefix.
    pub fn fresh(&mut self, prefix: &str) -> String {
        self.counter += 1;
        format!("{prefix}_{}", self.counter)
    }

    /// Adds an f32 initializer (stored as f16 when asked) and returns its name.
    pub fn weight(&mut self, name: &str, dims: &[usize], values: &[f32], ty: WeightType) -> String {
        debug_assert_eq!(dims.iter().product::<usize>(), values.len());
        let (data_type, raw_data) = match ty {
            WeightType::F32 => (
                pb::tensor_proto::DataType::Float as i32,
                bytemuck::cast_slice::<f32, u8>(values).to_vec(),
            ),
            WeightType::F16 => {
                let halves: Vec<half::f16> =
                    values.iter().map(|&v| half::f16::from_f32(v)).collect();
                (
                    pb::tensor_proto::DataType::Float16 as i32,
                    bytemuck::cast_slice::<half::f16, u8>(&halves).to_vec(),
                )
            }
        };
        self.initializers.push(pb::TensorProto {
            name: name.to_string(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type,
            raw_data: if cfg!(target_endian = "little") {
                raw_data
            } else {
                swap_bytes(&raw_data, if ty == WeightType::F32 { 4 } else { 2 })
            },
            ..Default::default()
        });
        name.to_string()
    }

    /// Adds an int64 initializer (indices, shapes) and returns its name.
    pub fn int64s(&mut self, name: &str, dims: &[usize], values: &[i64]) -> String {
        self.initializers.push(pb::TensorProto {
            name: name.to_string(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: pb::tensor_proto::DataType::Int64 as i32,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.to_string()
    }

    /// Adds a uint16 initializer (the deltas of sparse weights' positions) and returns its
    /// name.
    pub fn uint16s(&mut self, name: &str, dims: &[usize], values: &[u16]) -> String {
        self.initializers.push(pb::TensorProto {
            name: name.to_string(),
            dims: dims.iter().map(|&d| d as i64).collect(),
            data_type: pb::tensor_proto::DataType::Uint16 as i32,
            raw_data: values.iter().flat_map(|v| v.to_le_bytes()).collect(),
            ..Default::default()
        });
        name.to_string()
    }

    /// Adds a node with one output named `output`; returns that name.
    pub fn node(
        &mut self,
        op: &str,
        inputs: &[&str],
        output: &str,
        attrs: &[(&str, Attr)],
    ) -> String {
        let attribute = attrs
            .iter()
            .map(|(name, a)| {
                let mut p = pb::AttributeProto {
                    name: name.to_string(),
                    ..Default::default()
                };
                match a {
                    Attr::Int(i) => {
                        p.i = *i;
                        p.r#type = pb::attribute_proto::AttributeType::Int as i32;
                    }
                    Attr::Ints(v) => {
                        p.ints = v.clone();
                        p.r#type = pb::attribute_proto::AttributeType::Ints as i32;
                    }
                    Attr::Float(f) => {
                        p.f = *f;
                        p.r#type = pb::attribute_proto::AttributeType::Float as i32;
                    }
                    Attr::Tensor(t) => {
                        p.t = Some((**t).clone());
                        p.r#type = pb::attribute_proto::AttributeType::Tensor as i32;
                    }
                }
                p
            })
            .collect();
        self.nodes.push(pb::NodeProto {
            input: inputs.iter().map(|s| s.to_string()).collect(),
            output: vec![output.to_string()],
            name: format!("{op}_{}", self.nodes.len()),
            op_type: op.to_string(),
            attribute,
            ..Default::default()
        });
        output.to_string()
    }

    /// Adds a `metadata_props` entry.
    pub fn metadata(&mut self, key: &str, value: impl Into<String>) {
        self.metadata.push((key.to_string(), value.into()));
    }

    /// Float scalars (f32 or f16) stored in the initializers so far; integer initializers
    /// (indices, shapes) are not parameters.
    pub fn parameters(&self) -> usize {
        use pb::tensor_proto::DataType;
        self.initializers
            .iter()
            .filter(|t| {
                t.data_type == DataType::Float as i32 || t.data_type == DataType::Float16 as i32
            })
            .map(|t| t.dims.iter().product::<i64>() as usize)
            .sum()
    }

    /// Finishes the model: `input` of per-sample shape `input_shape`, `output` of
    /// `output_shape`, both f32 with a leading batch dimension named [`BATCH`].
    pub fn finish(
        self,
        graph_name: &str,
        input: (&str, &[usize]),
        output: (&str, &[usize]),
    ) -> pb::ModelProto {
        let value = |name: &str, shape: &[usize]| {
            let mut dim = vec![pb::tensor_shape_proto::Dimension {
                denotation: String::new(),
                value: Some(pb::tensor_shape_proto::dimension::Value::DimParam(
                    BATCH.into(),
                )),
            }];
            dim.extend(shape.iter().map(|&d| pb::tensor_shape_proto::Dimension {
                denotation: String::new(),
                value: Some(pb::tensor_shape_proto::dimension::Value::DimValue(d as i64)),
            }));
            pb::ValueInfoProto {
                name: name.to_string(),
                r#type: Some(pb::TypeProto {
                    denotation: String::new(),
                    value: Some(pb::type_proto::Value::TensorType(pb::type_proto::Tensor {
                        elem_type: pb::tensor_proto::DataType::Float as i32,
                        shape: Some(pb::TensorShapeProto { dim }),
                    })),
                }),
                doc_string: String::new(),
            }
        };
        pb::ModelProto {
            ir_version: IR_VERSION,
            opset_import: vec![pb::OperatorSetIdProto {
                domain: String::new(),
                version: OPSET,
            }],
            producer_name: "ardent".into(),
            producer_version: env!("CARGO_PKG_VERSION").into(),
            graph: Some(pb::GraphProto {
                node: self.nodes,
                name: graph_name.to_string(),
                initializer: self.initializers,
                input: vec![value(input.0, input.1)],
                output: vec![value(output.0, output.1)],
                ..Default::default()
            }),
            metadata_props: self
                .metadata
                .into_iter()
                .map(|(key, value)| pb::StringStringEntryProto { key, value })
                .collect(),
            ..Default::default()
        }
    }
}

fn swap_bytes(bytes: &[u8], width: usize) -> Vec<u8> {
    bytes
        .chunks_exact(width)
        .flat_map(|c| c.iter().rev().copied())
        .collect()
}

/// Encodes a model to bytes.
pub fn encode(model: &pb::ModelProto) -> Vec<u8> {
    model.encode_to_vec()
}
