/// Everything that can be wrong with a data file. Every variant names the source (a path or a
/// bundled dataset's name) and the place in it.
#[derive(Debug, thiserror::Error)]
pub enum DataError {
    #[error("{source_name}: cannot read: {error}")]
    Io {
        source_name: String,
        error: std::io::Error,
    },
    #[error("{source_name}: IDX: {message} (byte offset {offset})")]
    Idx {
        source_name: String,
        offset: usize,
        message: String,
    },
    #[error("{source_name}: line {line}: {message}")]
    Csv {
        source_name: String,
        line: usize,
        message: String,
    },
    #[error("{source_name}: NPY: {message}")]
    Npy {
        source_name: String,
        message: String,
    },
    #[error("{source_name}: {message}")]
    Invalid {
        source_name: String,
        message: String,
    },
}

impl DataError {
    /// A problem with the contents of `source_name`, said in `message`.
    pub fn invalid(source_name: &str, message: impl Into<String>) -> Self {
        DataError::Invalid {
            source_name: source_name.to_string(),
            message: message.into(),
        }
    }

    /// `source_name` could not be read.
    pub fn io(source_name: &str, error: std::io::Error) -> Self {
        DataError::Io {
            source_name: source_name.to_string(),
            error,
        }
    }
}
