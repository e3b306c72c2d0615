//! ONNX files: decoding, what the file says about itself, and the typed model.

use prost::Message;
use tract_onnx::pb;
use tract_onnx::prelude::*;

use crate::error::RuntimeError;
use crate::info::ModelInfo;

/// Decodes ONNX bytes into tract's typed model and the file's description.
pub(crate) fn load(bytes: &[u8], name: &str) -> Result<(TypedModel, ModelInfo), RuntimeError> {
    let proto = pb::ModelProto::decode(bytes).map_err(|e| RuntimeError::Decode {
        model: name.to_string(),
        message: e.to_string(),
    })?;
    load_proto(&proto, name)
}

/// The typed model and description of a decoded ONNX model.
pub(crate) fn load_proto(
    proto: &pb::ModelProto,
    name: &str,
) -> Result<(TypedModel, ModelInfo), RuntimeError> {
    let info = describe(proto, name)?;
    let tract = |stage: &'static str| {
        move |e: TractError| RuntimeError::Tract {
            model: name.to_string(),
            stage,
            message: format!("{e:#}"),
        }
    };
    let typed = tract_onnx::onnx()
        .model_for_proto_model(proto)
        .map_err(tract("load the graph"))?
        .into_typed()
        .map_err(tract("type the graph"))?;
    Ok((typed, info))
}

fn dims_of(value: &pb::ValueInfoProto) -> Option<Vec<Option<i64>>> {
    let ty = value.r#type.as_ref()?;
    let pb::type_proto::Value::TensorType(t) = ty.value.as_ref()?;
    let shape = t.shape.as_ref()?;
    Some(
        shape
            .dim
            .iter()
            .map(|d| match d.value {
                Some(pb::tensor_shape_proto::dimension::Value::DimValue(v)) => Some(v),
                _ => None,
            })
            .collect(),
    )
}

fn data_type_name(code: i32) -> String {
    pb::tensor_proto::DataType::try_from(code)
        .map(|d| d.as_str_name().to_lowercase())
        .unwrap_or_else(|_| format!("type {code}"))
}

/// Reads the parts of a decoded model the runtime reports on.
fn describe(proto: &pb::ModelProto, name: &str) -> Result<ModelInfo, RuntimeError> {
    let unsupported = |message: String| RuntimeError::Unsupported {
        model: name.to_string(),
        message,
    };
    let graph = proto
        .graph
        .as_ref()
        .ok_or_else(|| unsupported("the file holds no graph".into()))?;
    let initializers: std::collections::HashSet<&str> =
        graph.initializer.iter().map(|t| t.name.as_str()).collect();
    let inputs: Vec<&pb::ValueInfoProto> = graph
        .input
        .iter()
        .filter(|i| !initializers.contains(i.name.as_str()))
        .collect();
    let [input] = inputs.as_slice() else {
        return Err(unsupported(format!(
            "the runtime takes models with one input, this one has {}",
            inputs.len()
        )));
    };
    let [output] = graph.output.as_slice() else {
        return Err(unsupported(format!(
            "the runtime takes models with one output, this one has {}",
            graph.output.len()
        )));
    };
    let per_sample = |v: &pb::ValueInfoProto, what: &str| -> Result<Vec<usize>, RuntimeError> {
        let dims = dims_of(v)
            .ok_or_else(|| unsupported(format!("the {what} `{}` has no tensor shape", v.name)))?;
        if dims.is_empty() {
            return Err(unsupported(format!(
                "the {what} `{}` is a scalar; a batch dimension is expected",
                v.name
            )));
        }
        dims[1..]
            .iter()
            .map(|d| match d {
                Some(v) if *v > 0 => Ok(*v as usize),
                _ => Err(unsupported(format!(
                    "the {what} `{}` has a symbolic or zero dimension after the batch one",
                    v.name
                ))),
            })
            .collect()
    };
    let mut weight_types: Vec<String> = graph
        .initializer
        .iter()
        .map(|t| data_type_name(t.data_type))
        .collect();
    weight_types.sort();
    weight_types.dedup();
    Ok(ModelInfo {
        input_name: input.name.clone(),
        input_shape: per_sample(input, "input")?,
        output_name: output.name.clone(),
        output_shape: per_sample(output, "output")?,
        parameters: graph
            .initializer
            .iter()
            .filter(|t| {
                use pb::tensor_proto::DataType;
                [
                    DataType::Float,
                    DataType::Float16,
                    DataType::Double,
                    DataType::Bfloat16,
                ]
                .iter()
                .any(|&d| t.data_type == d as i32)
            })
            .map(|t| t.dims.iter().product::<i64>().max(0) as usize)
            .sum(),
        weight_types,
        opset: proto
            .opset_import
            .iter()
            .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
            .map_or(0, |o| o.version),
        ir_version: proto.ir_version,
        producer: proto.producer_name.clone(),
        metadata: proto
            .metadata_props
            .iter()
            .map(|e| (e.key.clone(), e.value.clone()))
            .collect(),
        ops: graph.node.iter().map(|n| n.op_type.clone()).collect(),
        format: format!(
            "ONNX IR {}, opset {}, by {}",
            proto.ir_version,
            proto
                .opset_import
                .iter()
                .find(|o| o.domain.is_empty() || o.domain == "ai.onnx")
                .map_or(0, |o| o.version),
            if proto.producer_name.is_empty() {
                "?"
            } else {
                &proto.producer_name
            }
        ),
    })
}
