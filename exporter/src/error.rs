//! Everything that can stop an export.

use std::path::PathBuf;

/// Why an export failed. Every variant names what it is about: the checkpoint, an edge or
/// the output file.
#[derive(Debug, thiserror::Error)]
pub enum ExportError {
    #[error(transparent)]
    Data(#[from] ardent_data::DataError),
    #[error(transparent)]
    Checkpoint(#[from] ardent_models::CheckpointError),
    #[error("{checkpoint}: {message}")]
    Invalid { checkpoint: String, message: String },
    #[error("the input scale must be positive and finite, got {0}")]
    InputScale(f32),
    #[error("λ must lie in (0, 1), got {0}")]
    Lambda(f64),
    #[error("{checkpoint}: the exported model does not load in tract ({stage}): {message}")]
    Tract {
        checkpoint: String,
        stage: &'static str,
        message: String,
    },
    #[error(
        "{checkpoint}: verification failed: the exported model differs from the collapsed model by {diff:e} on {samples} samples (tolerance {tolerance:e})"
    )]
    Mismatch {
        checkpoint: String,
        diff: f64,
        tolerance: f64,
        samples: usize,
    },
    #[error("{path}: cannot write: {error}")]
    Write {
        path: PathBuf,
        error: std::io::Error,
    },
}
