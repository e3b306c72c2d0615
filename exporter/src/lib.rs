//! ardent's exporter: from a checkpoint to a compact ONNX file.
//!
//! The steps (`docs/method.md` §5–6): prune weights by the relative-density rule at λ
//! ([`masks`]), collapse γ to discrete ops ([`collapse`]), decide which neurons, channels,
//! input features and edges survive ([`shrink`]), write only those ([`emit`]), then load the
//! file in tract and check it against the collapsed model ([`verify`]). It works from
//! checkpoints and never depends on burn.

pub mod collapse;
pub mod emit;
mod error;
pub mod masks;
pub mod onnx;
mod ops;
pub mod reference;
pub mod report;
mod samples;
pub mod shrink;
pub mod sweep;
mod vae;
pub mod verify;
mod write;

pub use collapse::{Collapsed, Pruning};
pub use emit::Storage;
pub use error::ExportError;
pub use onnx::WeightType;
pub use report::Report;
pub use samples::evaluation_samples;
pub use vae::{ExportedVae, export_vae};

use std::path::Path;

use ardent_models::Checkpoint;
use tract_onnx::pb;

pub use ardent_models::DEFAULT_LAMBDA;

/// Samples to check the export on, and their labels when known.
#[derive(Debug, Clone)]
pub struct Samples {
    /// Raw (un-normalised) samples, row-major.
    pub inputs: Vec<f32>,
    /// Class labels, one per sample, for the accuracy.
    pub labels: Option<Vec<usize>>,
    /// Where they came from, for the report.
    pub source: String,
}

/// How to export.
#[derive(Debug, Clone)]
pub struct ExportOptions {
    pub lambda: f64,
    pub weight_type: WeightType,
    pub storage: Storage,
    /// Append a Softmax to a classifier's output.
    pub softmax: bool,
    /// Also write the model as an NNEF archive (for NNEF-only runtime builds).
    pub nnef: bool,
    /// How many samples the built-in verification compares (0 skips it).
    pub verify_samples: usize,
    /// Samples to verify on (the first `verify_samples`) and to measure accuracy on (all);
    /// random samples around the normaliser when absent. On the training data's scale.
    pub data: Option<Samples>,
    /// The file takes the training data's values times this (1/255 for pixels in 0–1): the
    /// normaliser inside is scaled to match. Positive and finite.
    pub input_scale: f32,
    /// A VAE decoder's map of its output to the data's scale, appended to the graph and
    /// applied to the reference it is checked against.
    pub output_map: Option<ardent_models::vae::OutputMap>,
    /// What the input is when it is not the training data (a VAE decoder's code), for the
    /// report and the file's `ardent.input`.
    pub input_what: Option<String>,
}

impl Default for ExportOptions {
    fn default() -> ExportOptions {
        ExportOptions {
            lambda: DEFAULT_LAMBDA,
            weight_type: WeightType::F32,
            storage: Storage::Auto,
            softmax: false,
            nnef: false,
            verify_samples: 256,
            data: None,
            input_scale: 1.0,
            output_map: None,
            input_what: None,
        }
    }
}

/// An exported model: the ONNX bytes and the report.
#[derive(Debug, Clone)]
pub struct Exported {
    pub bytes: Vec<u8>,
    /// The NNEF archive, when asked for.
    pub nnef: Option<Vec<u8>>,
    pub model: pb::ModelProto,
    pub report: Report,
}

/// The tolerance of the built-in check: f32 weights 1e-4, f16 weights 1e-2.
pub fn tolerance(ty: WeightType) -> f64 {
    match ty {
        WeightType::F32 => 1e-4,
        WeightType::F16 => 1e-2,
    }
}

/// Exports a checkpoint in memory; `name` (its path) goes into errors and the report.
/// Fails when the exported model, run in tract, differs from the collapsed model by more
/// than [`tolerance`].
pub fn export(
    ckpt: &Checkpoint,
    name: &str,
    options: &ExportOptions,
) -> Result<Exported, ExportError> {
    let collapsed = Collapsed::new(ckpt, options.lambda, name)?;
    export_collapsed(ckpt, collapsed, name, options)
}

/// Exports a model already collapsed from `ckpt` (with any [`Pruning`]); `options.lambda` is
/// not used, the collapse's pruning is. Verified as [`export`] is.
pub fn export_collapsed(
    ckpt: &Checkpoint,
    mut collapsed: Collapsed,
    name: &str,
    options: &ExportOptions,
) -> Result<Exported, ExportError> {
    let scale = options.input_scale;
    if !(scale.is_finite() && scale > 0.0) {
        return Err(ExportError::InputScale(scale));
    }
    // Inputs x' = scale · x normalise to the same values: (x' − scale·mean) / (scale·std).
    if scale != 1.0 {
        collapsed.mean.iter_mut().for_each(|m| *m *= scale);
        collapsed.std.iter_mut().for_each(|s| *s *= scale);
    }
    // The caller's samples are on the training data's scale; the file takes them scaled.
    let data: Option<Samples> = options.data.as_ref().map(|d| {
        let mut d = d.clone();
        if scale != 1.0 {
            d.inputs.iter_mut().for_each(|v| *v *= scale);
        }
        d
    });
    let plan = shrink::Plan::new(&collapsed);
    let emitted = emit::emit(
        &collapsed,
        &plan,
        options.weight_type,
        options.storage,
        options.softmax,
        options.output_map.as_ref(),
    );
    let f = &collapsed.family;
    let params_after = emitted.builder.parameters();
    let layer_params: usize = emitted.layers.iter().map(|l| l.after.params).sum();
    let edges: Vec<report::EdgeChoice> = (0..f.edges.len())
        .map(|e| report::EdgeChoice {
            edge: f.edge_name(e),
            ops: collapsed.branches[e]
                .iter()
                .map(|b| f.edges[e].ops[b.op].describe())
                .collect(),
            exported: plan.branch_need[e].iter().any(|n| n.iter().any(|&x| x)),
        })
        .collect();
    let input_features = f.input_shape().features();
    let mut report = Report {
        checkpoint: name.to_string(),
        spec: f.name.clone(),
        lambda: collapsed.pruning.lambda(),
        weight_type: match options.weight_type {
            WeightType::F32 => "f32",
            WeightType::F16 => "f16",
        }
        .to_string(),
        params_before: collapsed.params_before,
        kept_weights: collapsed.kept_weights(),
        params_after,
        layer_params,
        constants: params_after - layer_params,
        flops_before: emitted.layers.iter().map(|l| l.before.flops).sum(),
        flops_after: emitted.layers.iter().map(|l| l.after.flops).sum(),
        zeros: emitted.layers.iter().map(|l| l.zeros).sum(),
        file_bytes: 0,
        nnef_bytes: None,
        input_features,
        input_features_used: plan.input_read,
        input: report::InputInfo {
            what: options.input_what.clone(),
            ..report::InputInfo::new(&f.input_shape().0, scale, &collapsed.mean, &collapsed.std)
        },
        edges,
        layers: emitted.layers,
        verification: None,
        accuracy: None,
    };
    let mut builder = emitted.builder;
    add_metadata(&mut builder, &report, ckpt);
    let model = emit::finish(builder, &collapsed);

    let input_shape = f.input_shape().0.clone();
    let per: usize = input_shape.iter().product();
    let outputs = f.task.outputs();
    let mut checked: Option<(Vec<f32>, Vec<f32>)> = None;
    if options.verify_samples > 0 || data.as_ref().is_some_and(|d| d.labels.is_some()) {
        let loaded = verify::Loaded::new(&model, &input_shape, name)?;
        if options.verify_samples > 0 {
            let (x, source) = match &data {
                Some(d) if !d.inputs.is_empty() => {
                    let n = options.verify_samples.min(d.inputs.len() / per);
                    (d.inputs[..n * per].to_vec(), d.source.clone())
                }
                _ => (
                    verify::random_samples(
                        &collapsed.mean,
                        &collapsed.std,
                        options.verify_samples,
                        0x5eed,
                    ),
                    "random".to_string(),
                ),
            };
            let got = loaded.run(&x)?;
            let mut want = reference::forward(&collapsed, &x);
            if options.softmax && matches!(f.task, ardent_models::Task::Classification { .. }) {
                verify::softmax_rows(&mut want, outputs);
            }
            if let Some(map) = &options.output_map {
                map.apply(&mut want);
            }
            let diff = verify::max_abs_diff(&got, &want);
            // A decoder's map to the data's scale multiplies the model's rounding by its scale
            // (255 for pixels), so the tolerance is the model's, scaled alike.
            let tol = tolerance(options.weight_type)
                * options.output_map.as_ref().map_or(1.0, |m| {
                    m.scale
                        .iter()
                        .fold(1.0f64, |a, s| a.max(f64::from(s.abs())))
                });
            let samples = x.len() / per;
            if diff > tol {
                return Err(ExportError::Mismatch {
                    checkpoint: name.to_string(),
                    diff,
                    tolerance: tol,
                    samples,
                });
            }
            report.verification = Some(report::Verification {
                samples,
                source,
                max_abs_diff: diff,
                tolerance: tol,
                nnef_max_abs_diff: None,
            });
            checked = Some((x, want));
        }
        if let Some(Samples {
            inputs,
            labels: Some(labels),
            ..
        }) = &data
        {
            let mut correct = 0usize;
            for (chunk, lab) in inputs.chunks(1024 * per).zip(labels.chunks(1024)) {
                let out = loaded.run(chunk)?;
                correct += out
                    .chunks_exact(outputs)
                    .zip(lab)
                    .filter(|(row, l)| ardent_data::argmax(row) == **l)
                    .count();
            }
            report.accuracy = Some(correct as f64 / labels.len().max(1) as f64);
        }
    }
    let mut model = model;
    if let Some(a) = report.accuracy {
        model.metadata_props.push(pb::StringStringEntryProto {
            key: "ardent.accuracy".into(),
            value: format!("{a:.6}"),
        });
    }
    let bytes = onnx::encode(&model);
    report.file_bytes = bytes.len();
    let nnef = if options.nnef {
        let archive = verify::to_nnef(&model, name)?;
        if let (Some((x, want)), Some(v)) = (&checked, report.verification.as_mut()) {
            let got = verify::Loaded::from_nnef(&archive, &input_shape, name)?.run(x)?;
            let diff = verify::max_abs_diff(&got, want);
            if diff > v.tolerance {
                return Err(ExportError::Mismatch {
                    checkpoint: format!("{name} (NNEF)"),
                    diff,
                    tolerance: v.tolerance,
                    samples: v.samples,
                });
            }
            v.nnef_max_abs_diff = Some(diff);
        }
        report.nnef_bytes = Some(archive.len());
        Some(archive)
    } else {
        None
    };
    Ok(Exported {
        bytes,
        nnef,
        model,
        report,
    })
}

fn add_metadata(g: &mut onnx::GraphBuilder, r: &Report, ckpt: &Checkpoint) {
    g.metadata("ardent.version", env!("CARGO_PKG_VERSION"));
    // What to feed: the file normalises inside, so it takes values on the training data's
    // scale (times the export's input scale), not values a user has already normalised.
    g.metadata("ardent.input", r.input.describe());
    g.metadata("ardent.input.layout", r.input.layout.clone());
    g.metadata("ardent.input.scale", r.input.scale.to_string());
    // A shared normaliser is two numbers; a per-feature one stays in the graph, where the
    // description gives its range, rather than doubling a small file's size here.
    if let ([mean], [std]) = (r.input.mean.as_slice(), r.input.std.as_slice()) {
        g.metadata("ardent.input.mean", mean.to_string());
        g.metadata("ardent.input.std", std.to_string());
    }
    g.metadata("ardent.spec", r.spec.clone());
    match r.lambda {
        Some(l) => g.metadata("ardent.lambda", l.to_string()),
        None => g.metadata("ardent.pruning", "magnitude"),
    }
    g.metadata("ardent.params_before", r.params_before.to_string());
    g.metadata("ardent.params_after", r.params_after.to_string());
    g.metadata("ardent.kept_weights", r.kept_weights.to_string());
    g.metadata("ardent.weights", r.weight_type.clone());
    let edges: serde_json::Map<String, serde_json::Value> = r
        .edges
        .iter()
        .map(|e| (e.edge.clone(), serde_json::json!(e.ops)))
        .collect();
    g.metadata("ardent.edges", serde_json::Value::Object(edges).to_string());
    g.metadata("ardent.trained_epochs", ckpt.meta.epoch.to_string());
    if let Some(acc) = ckpt
        .meta
        .metrics
        .get("valid_accuracy")
        .filter(|v| !v.is_null())
    {
        g.metadata("ardent.trainer_valid_accuracy", acc.to_string());
    }
}

/// Writes `bytes` to `path` atomically (a temporary file in the same directory, then a
/// rename), so an existing file is never left half-written.
pub fn write(path: &Path, bytes: &[u8]) -> Result<(), ExportError> {
    ardent_data::write_atomic(path, bytes).map_err(|error| ExportError::Write {
        path: path.to_path_buf(),
        error,
    })
}
