use std::path::PathBuf;

/// A place in a spec file, 1-based, for error messages.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Location {
    pub line: usize,
    pub column: usize,
}

impl Location {
    /// Turns a byte offset into `src` into a line and column.
    pub fn from_offset(src: &str, offset: usize) -> Self {
        let before = &src[..offset.min(src.len())];
        let line = before.bytes().filter(|&b| b == b'\n').count() + 1;
        let column = before
            .rfind('\n')
            .map_or(before.len(), |nl| before.len() - nl - 1)
            + 1;
        Location { line, column }
    }
}

impl std::fmt::Display for Location {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "line {}, column {}", self.line, self.column)
    }
}

/// Everything that can be wrong with a model-family spec.
///
/// Variants that point into the spec carry a [`Location`]; [`SpecError::InFile`] adds the path.
#[derive(Debug, thiserror::Error)]
pub enum SpecError {
    #[error("{path}: {source}")]
    InFile {
        path: PathBuf,
        #[source]
        source: Box<SpecError>,
    },
    #[error("cannot read: {0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Syntax(String),
    #[error("{at}: {message}")]
    Invalid { at: Location, message: String },
    #[error("{0}")]
    Graph(String),
}

impl SpecError {
    pub(crate) fn invalid(at: Location, message: impl Into<String>) -> Self {
        SpecError::Invalid {
            at,
            message: message.into(),
        }
    }

    /// Attaches the spec file's path to the error.
    pub fn in_file(self, path: impl Into<PathBuf>) -> Self {
        SpecError::InFile {
            path: path.into(),
            source: Box::new(self),
        }
    }
}
