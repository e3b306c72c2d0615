//! Loads an exported model in tract and runs it, to check it against the collapsed model.

use std::sync::Arc;

use tract_onnx::pb;
use tract_onnx::prelude::*;
use tract_onnx::tract_core::model::TypedRunnableModel;

use crate::error::ExportError;

/// An exported model loaded and optimized by tract.
#[derive(Debug)]
pub struct Loaded {
    plan: Arc<TypedRunnableModel>,
    input: Vec<usize>,
    checkpoint: String,
}

impl Loaded {
    /// Loads `proto`, whose input has the per-sample shape `input`.
    pub fn new(
        proto: &pb::ModelProto,
        input: &[usize],
        checkpoint: &str,
    ) -> Result<Loaded, ExportError> {
        let typed = typed(proto, checkpoint)?;
        Loaded::from_typed(typed, input, checkpoint, "ONNX")
    }

    /// Loads an NNEF archive written by [`to_nnef`].
    pub fn from_nnef(
        archive: &[u8],
        input: &[usize],
        checkpoint: &str,
    ) -> Result<Loaded, ExportError> {
        let typed = tract_nnef::nnef()
            .model_for_read(&mut std::io::Cursor::new(archive))
            .map_err(tract_error(checkpoint, "load the NNEF archive"))?;
        Loaded::from_typed(typed, input, checkpoint, "NNEF")
    }

    fn from_typed(
        typed: TypedModel,
        input: &[usize],
        checkpoint: &str,
        format: &'static str,
    ) -> Result<Loaded, ExportError> {
        let plan = typed
            .into_optimized()
            .map_err(tract_error(checkpoint, "optimize"))?
            .into_runnable()
            .map_err(tract_error(checkpoint, "plan"))?;
        Ok(Loaded {
            plan,
            input: input.to_vec(),
            checkpoint: format!("{checkpoint} ({format})"),
        })
    }

    /// Runs a batch of row-major samples; returns row-major outputs.
    pub fn run(&self, x: &[f32]) -> Result<Vec<f32>, ExportError> {
        let err = |stage: &'static str| {
            move |e: TractError| ExportError::Tract {
                checkpoint: self.checkpoint.clone(),
                stage,
                message: format!("{e:#}"),
            }
        };
        let per: usize = self.input.iter().product();
        let mut shape = vec![x.len() / per];
        shape.extend_from_slice(&self.input);
        let t = Tensor::from_shape(&shape, x).map_err(err("build the input"))?;
        let out = self.plan.run(tvec!(t.into_tvalue())).map_err(err("run"))?;
        let first = out.first().ok_or_else(|| ExportError::Tract {
            checkpoint: self.checkpoint.clone(),
            stage: "run",
            message: "no output".into(),
        })?;
        Ok(first
            .cast_to::<f32>()
            .map_err(err("read the output"))?
            .try_as_plain_ram()
            .map_err(err("read the output"))?
            .as_slice::<f32>()
            .map_err(err("read the output"))?
            .to_vec())
    }
}

fn tract_error(checkpoint: &str, stage: &'static str) -> impl Fn(TractError) -> ExportError {
    let checkpoint = checkpoint.to_string();
    move |e| ExportError::Tract {
        checkpoint: checkpoint.clone(),
        stage,
        message: format!("{e:#}"),
    }
}

/// The model as tract's typed graph, before optimization.
fn typed(proto: &pb::ModelProto, checkpoint: &str) -> Result<TypedModel, ExportError> {
    tract_onnx::onnx()
        .model_for_proto_model(proto)
        .map_err(tract_error(checkpoint, "load"))?
        .into_typed()
        .map_err(tract_error(checkpoint, "type"))
}

/// The model as a gzipped NNEF archive (deterministic), written by tract from its
/// decluttered graph; tract's ONNX loader keeps `metadata_props` among its properties. NNEF
/// stores every tensor dense, so the zeros of sparse layers are left to gzip.
pub fn to_nnef(proto: &pb::ModelProto, checkpoint: &str) -> Result<Vec<u8>, ExportError> {
    let typed = typed(proto, checkpoint)?
        .into_decluttered()
        .map_err(tract_error(checkpoint, "declutter"))?;
    let gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::best());
    tract_nnef::nnef()
        .write_to_tar_with_config(&typed, gz, false, true)
        .map_err(tract_error(checkpoint, "write NNEF"))?
        .finish()
        .map_err(|e| ExportError::Tract {
            checkpoint: checkpoint.to_string(),
            stage: "compress NNEF",
            message: e.to_string(),
        })
}

/// `n` random raw samples around the normaliser: mean + std · N(0, 1), from a fixed seed.
pub fn random_samples(mean: &[f32], std: &[f32], n: usize, seed: u64) -> Vec<f32> {
    let mut rng = ardent_data::SplitMix64(seed);
    let mut next = move || rng.uniform();
    let mut out = Vec::with_capacity(n * mean.len());
    for _ in 0..n {
        for (m, s) in mean.iter().zip(std) {
            let (u1, u2) = (next().max(1e-300), next());
            let z = (-2.0 * u1.ln()).sqrt() * (std::f64::consts::TAU * u2).cos();
            out.push(m + s * z as f32);
        }
    }
    out
}

/// Row-wise softmax, in place.
pub fn softmax_rows(x: &mut [f32], width: usize) {
    for row in x.chunks_exact_mut(width) {
        let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
        let sum: f32 = row
            .iter_mut()
            .map(|v| {
                *v = (*v - max).exp();
                *v
            })
            .sum();
        row.iter_mut().for_each(|v| *v /= sum);
    }
}

/// The largest absolute difference between two equally long slices.
pub fn max_abs_diff(a: &[f32], b: &[f32]) -> f64 {
    a.iter()
        .zip(b)
        .map(|(x, y)| {
            let d = (f64::from(*x) - f64::from(*y)).abs();
            if d.is_nan() { f64::INFINITY } else { d }
        })
        .fold(
            if a.len() == b.len() {
                0.0
            } else {
                f64::INFINITY
            },
            f64::max,
        )
}
