//! ardent-models' tests, one binary: counts against hand computations, bad specs, grown families, and the
//! relative-density rule against its closed form.

mod counts;
mod errors;
mod grow;
mod pruning;
mod vae;

use std::path::PathBuf;

pub fn zoo(name: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("zoo")
        .join(name)
}
