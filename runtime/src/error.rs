/// Errors from loading or running a model. Every variant names the model (its path or the
/// name it was loaded under).
#[derive(Debug, thiserror::Error)]
pub enum RuntimeError {
    #[error("{model}: cannot read: {error}")]
    Io {
        model: String,
        error: std::io::Error,
    },
    #[error("{model}: not a valid ONNX file: {message}")]
    Decode { model: String, message: String },
    #[error("{model}: {message}")]
    Unsupported { model: String, message: String },
    #[error("{model}: tract could not {stage}: {message}")]
    Tract {
        model: String,
        stage: &'static str,
        message: String,
    },
    #[error(
        "{model}: input has {got} values, not a multiple of the {per_sample} per sample the model takes (shape {shape:?})"
    )]
    InputWidth {
        model: String,
        got: usize,
        per_sample: usize,
        shape: Vec<usize>,
    },
}
