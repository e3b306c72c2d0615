use std::path::PathBuf;

/// Everything that stops a training run. Each variant says what and where.
#[derive(Debug, thiserror::Error)]
pub enum TrainError {
    #[error(transparent)]
    Data(#[from] ardent_data::DataError),
    #[error(transparent)]
    Spec(#[from] ardent_models::SpecError),
    #[error(transparent)]
    Checkpoint(#[from] ardent_models::CheckpointError),
    #[error("{0}")]
    Config(String),
    /// `--device` names a device this build or this machine cannot give.
    #[error("--device {name}: {reason}")]
    Device { name: String, reason: String },
    #[error(
        "epoch {epoch}, step {step}: {what} is {value}; the run diverged (try a lower --lr). {}",
        match checkpoint {
            Some(p) => format!("The last good checkpoint is kept at {}", p.display()),
            None => "No checkpoint had been written yet".to_string(),
        }
    )]
    Diverged {
        epoch: usize,
        step: u64,
        what: String,
        value: f32,
        checkpoint: Option<PathBuf>,
    },
    /// An error met while doing `what` (resuming from a file, loading one).
    #[error("{what}: {source}")]
    Within {
        what: String,
        source: Box<TrainError>,
    },
    #[error("cannot record {what} in the checkpoint: {error}")]
    Record {
        what: &'static str,
        error: serde_json::Error,
    },
    #[error("cannot write metrics to {path}: {error}")]
    Metrics {
        path: PathBuf,
        error: std::io::Error,
    },
}
