//! NNEF archives (tar, or gzipped tar) as tract writes them: the typed model, and a
//! description read off it (an ardent export keeps its ONNX metadata as tract properties).

use std::collections::BTreeMap;

use tract_nnef::prelude::*;
use tract_nnef::tract_core::ops::konst::Const;

use crate::error::RuntimeError;
use crate::info::ModelInfo;

/// The prefix tract's ONNX loader gives `metadata_props` entries among a model's properties.
const METADATA: &str = "onnx.metadata_props.";

/// True for the first bytes of a tar archive or of a gzip stream (a `.tgz`: ONNX files are
/// never gzipped by ardent, and tract reads NNEF through gzip).
pub(crate) fn looks_like(bytes: &[u8]) -> bool {
    bytes.get(257..262) == Some(b"ustar") || bytes.starts_with(&[0x1f, 0x8b])
}

/// Reads an NNEF archive into tract's typed model and its description.
pub(crate) fn load(bytes: &[u8], name: &str) -> Result<(TypedModel, ModelInfo), RuntimeError> {
    let tract = |stage: &'static str| {
        move |e: TractError| RuntimeError::Tract {
            model: name.to_string(),
            stage,
            message: format!("{e:#}"),
        }
    };
    let mut reader = std::io::Cursor::new(bytes);
    let model = tract_nnef::nnef()
        .model_for_read(&mut reader)
        .map_err(tract("load the NNEF archive"))?;
    let info = describe(&model, name)?;
    Ok((model, info))
}

fn describe(model: &TypedModel, name: &str) -> Result<ModelInfo, RuntimeError> {
    let unsupported = |message: String| RuntimeError::Unsupported {
        model: name.to_string(),
        message,
    };
    let (inputs, outputs) = (model.input_outlets(), model.output_outlets());
    let (Ok([input]), Ok([output])) = (
        <&[OutletId; 1]>::try_from(inputs.as_deref().unwrap_or(&[])),
        <&[OutletId; 1]>::try_from(outputs.as_deref().unwrap_or(&[])),
    ) else {
        return Err(unsupported(
            "the runtime takes models with one input and one output".into(),
        ));
    };
    let per_sample = |o: OutletId, what: &str| -> Result<Vec<usize>, RuntimeError> {
        let fact = model
            .outlet_fact(o)
            .map_err(|e| unsupported(format!("the {what} has no type: {e}")))?;
        let dims = fact.shape.dims();
        if dims.is_empty() {
            return Err(unsupported(format!(
                "the {what} is a scalar; a batch dimension is expected"
            )));
        }
        dims[1..]
            .iter()
            .map(|d| match d.to_i64() {
                Ok(v) if v > 0 => Ok(v as usize),
                _ => Err(unsupported(format!(
                    "the {what} has a symbolic or zero dimension after the batch one"
                ))),
            })
            .collect()
    };
    let mut parameters = 0;
    let mut weight_types = Vec::new();
    for node in model.nodes() {
        if let Some(k) = node.op_as::<Const>() {
            let t = k.val();
            let dt = t.datum_type();
            weight_types.push(format!("{dt:?}").to_lowercase());
            if dt.is_float() {
                parameters += t.len();
            }
        }
    }
    weight_types.sort();
    weight_types.dedup();
    let metadata: BTreeMap<String, String> = model
        .properties
        .iter()
        .filter_map(|(k, v)| {
            let key = k.strip_prefix(METADATA)?;
            let value = v
                .try_as_plain_ram()
                .ok()?
                .to_scalar::<String>()
                .ok()?
                .clone();
            Some((key.to_string(), value))
        })
        .collect();
    Ok(ModelInfo {
        input_name: model.node(input.node).name.clone(),
        input_shape: per_sample(*input, "input")?,
        output_name: model.node(output.node).name.clone(),
        output_shape: per_sample(*output, "output")?,
        parameters,
        weight_types,
        opset: 0,
        ir_version: 0,
        producer: metadata
            .get("ardent.version")
            .map(|v| format!("ardent {v}"))
            .unwrap_or_default(),
        metadata,
        ops: model
            .nodes()
            .iter()
            .map(|n| n.op.name().to_string())
            .collect(),
        format: "NNEF (tract)".into(),
    })
}
