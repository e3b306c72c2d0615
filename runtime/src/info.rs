//! What a model file says about itself, read by the ONNX and NNEF loaders alike.

use std::collections::BTreeMap;

/// What a model file says about itself: for ONNX read from its protobuf before tract sees it,
/// for NNEF from the typed model and its properties.
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
    /// The file format, e.g. `ONNX IR 8, opset 17, by ardent` or `NNEF (tract)`.
    pub format: String,
}
