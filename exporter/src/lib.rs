//! ardent's exporter: relative-density masks, structure collapse, compact ONNX.
//!
//! It works from checkpoints and never depends on burn.

pub mod masks;
pub mod onnx;
