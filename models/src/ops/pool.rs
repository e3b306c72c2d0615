//! Max and average pooling over square windows.

use serde::Deserialize;

use super::conv::window_out_2d;
use crate::shape::Shape;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum PoolKind {
    Max,
    Avg,
}

impl PoolKind {
    pub fn name(self) -> &'static str {
        match self {
            PoolKind::Max => "max",
            PoolKind::Avg => "avg",
        }
    }
}

pub(super) fn check(kernel: usize, stride: Option<usize>, padding: usize) -> Result<(), String> {
    if kernel == 0 {
        return Err("pool: kernel must be at least 1".into());
    }
    if stride == Some(0) {
        return Err("pool: stride must be at least 1".into());
    }
    // ONNX pooling requires padding smaller than the window.
    if padding >= kernel {
        return Err(format!(
            "pool: padding {padding} must be smaller than kernel {kernel}"
        ));
    }
    Ok(())
}

pub(super) fn out_shape(
    kernel: usize,
    stride: usize,
    padding: usize,
    input: &Shape,
) -> Result<Shape, String> {
    if input.rank() != 3 {
        return Err(format!(
            "pool needs a [channels, height, width] input, got {input}"
        ));
    }
    match window_out_2d(input, kernel, stride, padding) {
        Some((oh, ow)) => Ok(Shape(vec![input.0[0], oh, ow])),
        None => Err(format!("pool: kernel {kernel} does not fit input {input}")),
    }
}

pub(super) fn flops(kernel: usize, output: &Shape) -> u64 {
    (kernel * kernel * output.size()) as u64
}
