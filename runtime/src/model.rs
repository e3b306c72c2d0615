use std::path::Path;
use std::sync::Arc;

use tract_nnef::prelude::*;
use tract_nnef::tract_core::model::TypedRunnableModel;

use crate::error::RuntimeError;
use crate::ops::{Rewrite, RewriteOptions};

/// How to prepare a model for running.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct LoadOptions {
    /// Fix the batch dimension (faster plans); `None` keeps it symbolic so any batch runs.
    pub batch: Option<usize>,
    /// Where ardent's own ops replace tract's (sparse products of mostly-zero weights).
    pub rewrite: RewriteOptions,
}

pub use crate::info::ModelInfo;

/// A loaded, optimized model ready to run.
#[derive(Debug, Clone)]
pub struct Model {
    name: String,
    info: ModelInfo,
    options: LoadOptions,
    rewrites: Vec<Rewrite>,
    plan: Arc<TypedRunnableModel>,
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

    /// Loads a model from the bytes of an ONNX file or an NNEF archive (tar or gzipped tar;
    /// told apart by their first bytes); `name` goes into errors.
    pub fn load_bytes(
        bytes: &[u8],
        name: &str,
        options: LoadOptions,
    ) -> Result<Model, RuntimeError> {
        let (typed, info) = if crate::nnef::looks_like(bytes) {
            crate::nnef::load(bytes, name)?
        } else {
            Self::load_onnx(bytes, name)?
        };
        Model::plan(typed, info, name, options)
    }

    #[cfg(feature = "onnx")]
    fn load_onnx(bytes: &[u8], name: &str) -> Result<(TypedModel, ModelInfo), RuntimeError> {
        crate::onnx::load(bytes, name)
    }

    #[cfg(not(feature = "onnx"))]
    fn load_onnx(_: &[u8], name: &str) -> Result<(TypedModel, ModelInfo), RuntimeError> {
        Err(RuntimeError::Unsupported {
            model: name.to_string(),
            message: "not an NNEF archive, and this build reads NNEF only (built without the `onnx` feature)".into(),
        })
    }

    /// Loads a decoded ONNX model.
    #[cfg(feature = "onnx")]
    pub fn load_proto(
        proto: &tract_onnx::pb::ModelProto,
        name: &str,
        options: LoadOptions,
    ) -> Result<Model, RuntimeError> {
        let (typed, info) = crate::onnx::load_proto(proto, name)?;
        Model::plan(typed, info, name, options)
    }

    fn plan(
        typed: TypedModel,
        info: ModelInfo,
        name: &str,
        options: LoadOptions,
    ) -> Result<Model, RuntimeError> {
        let tract = |stage: &'static str| {
            move |e: TractError| RuntimeError::Tract {
                model: name.to_string(),
                stage,
                message: format!("{e:#}"),
            }
        };
        // tract folds constant chains (ardent's sparse weight storage among them) while it
        // declutters, so the rewrite sees every weight as one constant. The rewrite runs before
        // the batch size is fixed: at batch 1 tract's declutter drops the batch axis, and the
        // products lose the shape the rewrite recognises.
        let mut typed = typed
            .into_decluttered()
            .map_err(tract("declutter the graph"))?;
        let rewrites = crate::ops::rewrite(&mut typed, options.rewrite, options.batch)
            .map_err(tract("put ardent's sparse products in"))?;
        if let Some(batch) = options.batch {
            let input = typed.input_outlets().map_err(tract("find the input"))?[0];
            let first = typed
                .outlet_fact(input)
                .map_err(tract("find the input"))?
                .shape
                .dims()
                .first()
                .cloned();
            if let Some(TDim::Sym(s)) = first {
                let subs = std::collections::HashMap::from([(s, TDim::Val(batch as i64))]);
                typed = typed
                    .set_symbols(&subs)
                    .map_err(tract("fix the batch size"))?;
            }
        }
        let plan = typed
            .into_optimized()
            .map_err(tract("optimize the graph"))?
            .into_runnable()
            .map_err(tract("plan the graph"))?;
        Ok(Model {
            name: name.to_string(),
            info,
            options,
            rewrites,
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

    /// Every product the runtime considered replacing with an op of its own, with what it
    /// decided and why.
    pub fn rewrites(&self) -> &[Rewrite] {
        &self.rewrites
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
