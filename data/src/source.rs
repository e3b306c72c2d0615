//! Where a command's data comes from: a bundled set by name, or a path.

use std::path::Path;

use crate::{CsvOptions, DataError, LoadOptions, Splits, TargetKind, bundled, load_path};

/// A dataset as a user names it: a bundled set (`digits`, `wine`) or a path that
/// [`load_path`] reads (an MNIST IDX folder, `train.csv`, NPY pairs, a CSV file).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Source {
    /// The bundled set's name or the path, as given.
    pub name: String,
    /// How a CSV file is read.
    pub csv: CsvOptions,
    /// Keep at most this many training samples (the test split is kept whole).
    pub max_samples: Option<usize>,
    /// Accept NaN and ±inf in a file's features (refused by default; the bundled sets have
    /// none).
    pub allow_non_finite: bool,
}

impl Source {
    /// The source `name` with CSV's defaults and every sample.
    pub fn new(name: impl Into<String>) -> Source {
        Source {
            name: name.into(),
            csv: CsvOptions::default(),
            max_samples: None,
            allow_non_finite: false,
        }
    }

    /// Reads the splits with targets of `kind`. What the readers decided on their own (a
    /// guessed CSV header, labels written as decimals) is in each dataset's `notes`.
    pub fn load(&self, kind: TargetKind) -> Result<Splits, DataError> {
        let mut splits = match bundled::by_name(&self.name) {
            Some(d) => Splits {
                train: d?,
                test: None,
            },
            None => {
                let options = LoadOptions {
                    allow_non_finite: self.allow_non_finite,
                    csv: self.csv.clone(),
                };
                load_path(Path::new(&self.name), kind, &options)?
            }
        };
        if let Some(n) = self.max_samples {
            splits.train = splits.train.take(n);
        }
        Ok(splits)
    }
}
