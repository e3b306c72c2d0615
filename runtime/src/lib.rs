//! ardent's runtime: load an ONNX model or an NNEF archive with tract, optimize it, run it on
//! f32 batches. Without the default `onnx` feature it reads NNEF only (a smaller binary).
//!
//! This crate depends on tract and ardent-data only, never on burn, the trainer or the
//! exporter, so it builds for a board on its own.

pub mod args;
pub mod bench;
pub mod cli;
mod error;
mod info;
pub mod input;
mod model;
mod nnef;
#[cfg(feature = "onnx")]
mod onnx;
pub mod ops;
mod threads;

pub use error::RuntimeError;
pub use model::{LoadOptions, Model, ModelInfo};
pub use ops::{Rewrite, RewriteOptions, SPARSE_MAX_DENSITY};
pub use threads::set_threads;
