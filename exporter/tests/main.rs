//! The exporter's tests, one binary: a file per concern.

mod agree;
mod common;
mod errors;
mod onnxruntime;
mod structure;
mod vae;
