//! ardent-models' tests, one binary: counts against hand computations, and bad specs.

mod counts;
mod errors;

use std::path::PathBuf;

pub fn zoo(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("zoo")
        .join(name)
}
