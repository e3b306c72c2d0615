//! What an export did, per layer and in total: as JSON (serde) and as a terminal table.

use ardent_models::{Family, Op, Shape};
use serde::Serialize;

use crate::collapse::Branch;

/// One side (supernet or exported) of a layer.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Side {
    /// Per-sample input shape the layer reads.
    pub input: Vec<usize>,
    pub output: Vec<usize>,
    pub params: usize,
    pub flops: u64,
}

impl Side {
    /// The layer as the family's op computes it on `input`.
    pub fn of(op: &Op, input: &Shape, output: &Shape, params: usize) -> Side {
        Side {
            input: input.0.clone(),
            output: output.0.clone(),
            params,
            flops: op.flops(input, output),
        }
    }
}

/// One exported op.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LayerReport {
    /// `from -> to`.
    pub edge: String,
    /// The op with its settings, e.g. `dense(300, relu)`.
    pub op: String,
    /// γ (with a mean vertex's 1/n) folded into the op or applied after it.
    pub scale: f32,
    pub before: Side,
    pub after: Side,
    /// Zeros left inside the exported weight matrix (pruned weights of surviving units).
    pub zeros: usize,
    /// The matrix is stored as its non-zero values and their positions.
    pub sparse: bool,
}

impl LayerReport {
    pub fn new(
        f: &Family,
        b: &Branch,
        before: Side,
        after: Side,
        zeros: usize,
        sparse: bool,
    ) -> LayerReport {
        LayerReport {
            edge: f.edge_name(b.edge),
            op: f.edges[b.edge].ops[b.op].describe(),
            scale: b.scale,
            before,
            after,
            zeros,
            sparse,
        }
    }
}

/// The discrete choice made on one edge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgeChoice {
    pub edge: String,
    /// The kept ops (empty: the edge was dropped).
    pub ops: Vec<String>,
    /// False when none of its outputs reaches the model's output.
    pub exported: bool,
}

/// How the exported model compares with the collapsed one.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Verification {
    pub samples: usize,
    /// Where the samples came from: a dataset or `random`.
    pub source: String,
    pub max_abs_diff: f64,
    pub tolerance: f64,
    /// The same check on the NNEF archive, when one was written.
    pub nnef_max_abs_diff: Option<f64>,
}

/// Everything about one export.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Report {
    pub checkpoint: String,
    pub spec: String,
    /// The relative-density threshold; `None` when the weights were pruned by magnitude.
    pub lambda: Option<f64>,
    pub weight_type: String,
    /// Parameters of the whole family (every candidate of every edge).
    pub params_before: usize,
    /// Weights the relative-density rule keeps in the collapsed model.
    pub kept_weights: usize,
    /// Float scalars in the file's initializers: layer weights and biases plus constants.
    pub params_after: usize,
    /// Of which layer weights and biases.
    pub layer_params: usize,
    /// Of which other constants: the input normaliser, folded constants, γ scales.
    pub constants: usize,
    pub flops_before: u64,
    pub flops_after: u64,
    pub zeros: usize,
    pub file_bytes: usize,
    /// Size of the NNEF archive, when one was written.
    pub nnef_bytes: Option<usize>,
    pub input_features: usize,
    pub input_features_used: usize,
    /// What the model's input expects.
    pub input: InputInfo,
    pub edges: Vec<EdgeChoice>,
    pub layers: Vec<LayerReport>,
    pub verification: Option<Verification>,
    /// Accuracy of the exported model in tract, when data was given.
    pub accuracy: Option<f64>,
}

/// What an exported model's input expects: the file computes on (x − mean) / std inside, so it
/// takes values on the training data's scale (raw pixels 0–255 for IDX images), times `scale`
/// when the export baked another scaling in (`--input-scale`).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct InputInfo {
    /// The input's shape, batch first (`N`).
    pub shape: Vec<String>,
    /// `NCHW` for images, `NC` for feature vectors.
    pub layout: String,
    /// The factor between the training data's values and the values the file takes.
    pub scale: f32,
    /// The normaliser inside the file (already multiplied by `scale`): one value when every
    /// feature shares it, one per feature otherwise.
    pub mean: Vec<f32>,
    pub std: Vec<f32>,
    /// What the input is when it is not the training data (a VAE decoder's code).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub what: Option<String>,
}

impl InputInfo {
    /// Describes the input of a model whose normaliser is `mean`, `std` (scaled by `scale`)
    /// over samples of `shape`.
    pub fn new(shape: &[usize], scale: f32, mean: &[f32], std: &[f32]) -> InputInfo {
        let pooled = |v: &[f32]| {
            if v.windows(2).all(|w| w[0] == w[1]) {
                v.iter().take(1).copied().collect()
            } else {
                v.to_vec()
            }
        };
        InputInfo {
            shape: std::iter::once("N".to_string())
                .chain(shape.iter().map(|d| d.to_string()))
                .collect(),
            layout: if shape.len() == 3 { "NCHW" } else { "NC" }.to_string(),
            scale,
            mean: pooled(mean),
            std: pooled(std),
            what: None,
        }
    }

    /// One line for people (ASCII, no quotes): the shape and layout, and which values to feed.
    pub fn describe(&self) -> String {
        let stats = |v: &[f32]| match v {
            [one] => format!("{one:.4}"),
            _ => {
                let lo = v.iter().copied().fold(f32::INFINITY, f32::min);
                let hi = v.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                format!("{lo:.4}..{hi:.4} per feature")
            }
        };
        // ASCII without quotes: the line also travels in NNEF archives' string properties.
        let scale = if let Some(what) = &self.what {
            what.clone()
        } else if self.scale == 1.0 {
            "values on the scale of the training data".to_string()
        } else {
            format!("the training data values times {}", self.scale)
        };
        format!(
            "[{}] {} f32, {} (normalised inside: mean {}, std {})",
            self.shape.join(", "),
            self.layout,
            scale,
            stats(&self.mean),
            stats(&self.std)
        )
    }
}

impl Report {
    /// A plain-text table for the terminal.
    pub fn table(&self) -> String {
        use std::fmt::Write;
        let shape = |s: &[usize]| {
            s.iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
                .join("x")
        };
        let mut out = String::new();
        let _ = writeln!(
            out,
            "{:<24} {:<26} {:>19} {:>19} {:>17} {:>8} {:<6}",
            "edge", "op", "in -> out before", "in -> out after", "params", "zeros", "stored"
        );
        for l in &self.layers {
            let _ = writeln!(
                out,
                "{:<24} {:<26} {:>19} {:>19} {:>17} {:>8} {:<6}",
                l.edge,
                l.op,
                format!("{} -> {}", shape(&l.before.input), shape(&l.before.output)),
                format!("{} -> {}", shape(&l.after.input), shape(&l.after.output)),
                format!("{} -> {}", l.before.params, l.after.params),
                l.zeros,
                if l.sparse { "sparse" } else { "dense" }
            );
        }
        let _ = writeln!(
            out,
            "parameters {} -> {} ({} in layers, {} constants; {} weights kept {})",
            self.params_before,
            self.params_after,
            self.layer_params,
            self.constants,
            self.kept_weights,
            match self.lambda {
                Some(l) => format!("at λ = {l}"),
                None => "by magnitude".to_string(),
            }
        );
        let _ = writeln!(
            out,
            "FLOPs/sample {} -> {}; input features used {}/{}; file {} bytes ({})",
            self.flops_before,
            self.flops_after,
            self.input_features_used,
            self.input_features,
            self.file_bytes,
            self.weight_type
        );
        let _ = writeln!(out, "input {}", self.input.describe());
        if let Some(v) = &self.verification {
            let _ = writeln!(
                out,
                "verified in tract on {} {} samples: max |diff| {:.2e} (tolerance {:.0e})",
                v.samples, v.source, v.max_abs_diff, v.tolerance
            );
        }
        if let (Some(bytes), Some(v)) = (self.nnef_bytes, &self.verification) {
            let diff = v
                .nnef_max_abs_diff
                .map_or("-".into(), |d| format!("{d:.2e}"));
            let _ = writeln!(out, "NNEF archive {bytes} bytes, max |diff| {diff}");
        } else if let Some(bytes) = self.nnef_bytes {
            let _ = writeln!(out, "NNEF archive {bytes} bytes (not verified)");
        }
        if let Some(a) = self.accuracy {
            let _ = writeln!(out, "accuracy in tract: {:.2} %", 100.0 * a);
        }
        out
    }
}
