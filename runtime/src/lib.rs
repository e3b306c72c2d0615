//! ardent's runtime: load an ONNX model with tract, optimize it, run it on f32 batches.
//!
//! This crate depends on tract and ardent-data only, never on burn, the trainer or the
//! exporter, so it builds for a board on its own.

mod error;
mod model;

pub use error::RuntimeError;
pub use model::{LoadOptions, Model, ModelInfo};
