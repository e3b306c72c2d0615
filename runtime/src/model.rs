use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use prost::Message;
use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::model::TypedRunnableModel;

use crate::error::RuntimeError;

/// How to prepare a model for running.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LoadOptions {
    /// Fix the batch dimension (faster plans); `None` keeps it symbolic so any batch runs.
    pub batch: Option<usize>,
}

/// What a model file says about itself, read from its protobuf before tract sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct ModelInfo {
    pub input_name: String,
    /// Shape of one input sample (the first, batch, dimension left out).
    pub input_shape: Vec<usize>,
    pub output_name: String,
    /// Shape of one output sample.
    pub output_shape: Vec<usize>,
    /// Floating-point scalars stored in the initializers (integer indices and shapes are
    /// not parameters).
    pub parameters: usize,
    /// Element types of the initializers, e.g. `["float"]` or `["float16"]`.
    pub weight_types: Vec<String>,
    pub opset: i64,
    pub ir_version: i64,
    pub producer: String,
    /// `metadata_props`, e.g. the ardent exporter's λ and parameter counts.
    pub metadata: BTreeMap<String, String>,
    /// Operator types in graph order, repeated as they occur.
    pub ops: Vec<String>,
}

/// A loaded, optimized model ready to run.
#[derive(Debug, Clone)]
pub struct Model {
    name: String,
    info: ModelInfo,
    options: LoadOptions,
    plan: Arc<TypedRunnableModel>,
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
    })
}

impl Model {
    /// Loads a model file; errors name the path.
    pub fn load_path(path: impl AsRef<Path>, options: LoadOptions) -> Result<Model, RuntimeError> {
        let path = path.as_ref();
        let name = path.display().to_string();
        let bytes = std::fs::read(path).map_err(|error| RuntimeError::Io {
            model: name.clone(),
            error,
        })?;
        Model::load_bytes(&bytes, &name, options)
    }

    /// Loads a model from the bytes of an ONNX file; `name` goes into errors.
    pub fn load_bytes(
        bytes: &[u8],
        name: &str,
        options: LoadOptions,
    ) -> Result<Model, RuntimeError> {
        let proto = pb::ModelProto::decode(bytes).map_err(|e| RuntimeError::Decode {
            model: name.to_string(),
            message: e.to_string(),
        })?;
        Model::load_proto(&proto, name, options)
    }

    /// Loads a decoded model.
    pub fn load_proto(
        proto: &pb::ModelProto,
        name: &str,
        options: LoadOptions,
    ) -> Result<Model, RuntimeError> {
        let info = describe(proto, name)?;
        let tract = |stage: &'static str| {
            move |e: TractError| RuntimeError::Tract {
                model: name.to_string(),
                stage,
                message: format!("{e:#}"),
            }
        };
        let mut model = onnx()
            .model_for_proto_model(proto)
            .map_err(tract("load the graph"))?;
        if let Some(batch) = options.batch {
            let mut shape = vec![batch];
            shape.extend_from_slice(&info.input_shape);
            model = model
                .with_input_fact(0, f32::fact(&shape).into())
                .map_err(tract("fix the batch size"))?;
        }
        let plan = model
            .into_optimized()
            .map_err(tract("optimize the graph"))?
            .into_runnable()
            .map_err(tract("plan the graph"))?;
        Ok(Model {
            name: name.to_string(),
            info,
            options,
            plan,
        })
    }

    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    pub fn options(&self) -> LoadOptions {
        self.options
    }

    /// Values in one input sample.
    pub fn input_size(&self) -> usize {
        self.info.input_shape.iter().product()
    }

    /// Values in one output sample.
    pub fn output_size(&self) -> usize {
        self.info.output_shape.iter().product()
    }

    /// Runs a batch given as row-major samples; returns row-major outputs.
    /// `input.len()` must be a multiple of [`Model::input_size`] (and equal to the fixed
    /// batch times it, when the batch was fixed at load time).
    pub fn run(&self, input: &[f32]) -> Result<Vec<f32>, RuntimeError> {
        let per = self.input_size();
        if input.is_empty() || !input.len().is_multiple_of(per) {
            return Err(self.width_error(input.len()));
        }
        let batch = input.len() / per;
        if self.options.batch.is_some_and(|b| b != batch) {
            return Err(self.width_error(input.len()));
        }
        let mut shape = vec![batch];
        shape.extend_from_slice(&self.info.input_shape);
        let tract = |stage: &'static str| {
            move |e: TractError| RuntimeError::Tract {
                model: self.name.clone(),
                stage,
                message: format!("{e:#}"),
            }
        };
        let tensor = Tensor::from_shape(&shape, input).map_err(tract("build the input"))?;
        let out = self
            .plan
            .run(tvec!(tensor.into_tvalue()))
            .map_err(tract("run the model"))?;
        let first = out.first().ok_or_else(|| RuntimeError::Unsupported {
            model: self.name.clone(),
            message: "the model produced no output".into(),
        })?;
        let values = first
            .cast_to::<f32>()
            .map_err(tract("read the output"))?
            .try_as_plain_ram()
            .map_err(tract("read the output"))?
            .as_slice::<f32>()
            .map_err(tract("read the output"))?
            .to_vec();
        Ok(values)
    }

    fn width_error(&self, got: usize) -> RuntimeError {
        let per_sample = match self.options.batch {
            Some(b) => b * self.input_size(),
            None => self.input_size(),
        };
        RuntimeError::InputWidth {
            model: self.name.clone(),
            got,
            per_sample,
            shape: self.info.input_shape.clone(),
        }
    }
}
