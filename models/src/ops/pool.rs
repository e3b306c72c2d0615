//! Max and average pooling over square windows.

use serde::Deserialize;

use super::OpFamily;
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

/// Max or average pooling, square window; `stride` defaults to the window.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Pool {
    pub kind: PoolKind,
    pub kernel: usize,
    #[serde(default)]
    pub stride: Option<usize>,
    #[serde(default)]
    pub padding: usize,
}

impl Pool {
    /// The stride, the window's side where the spec gives none.
    pub fn stride(&self) -> usize {
        self.stride.unwrap_or(self.kernel)
    }
}

impl OpFamily for Pool {
    fn name(&self) -> &'static str {
        "pool"
    }

    fn describe(&self) -> String {
        format!(
            "{}pool(k{}, s{})",
            self.kind.name(),
            self.kernel,
            self.stride()
        )
    }

    fn check(&self) -> Result<(), String> {
        let (kernel, padding) = (self.kernel, self.padding);
        if kernel == 0 {
            return Err("pool: kernel must be at least 1".into());
        }
        if self.stride == Some(0) {
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

    fn out_shape(&self, input: &Shape) -> Result<Shape, String> {
        if input.rank() != 3 {
            return Err(format!(
                "pool needs a [channels, height, width] input, got {input}"
            ));
        }
        match window_out_2d(input, self.kernel, self.stride(), self.padding) {
            Some((oh, ow)) => Ok(Shape(vec![input.0[0], oh, ow])),
            None => Err(format!(
                "pool: kernel {} does not fit input {input}",
                self.kernel
            )),
        }
    }

    fn flops(&self, _input: &Shape, output: &Shape) -> u64 {
        (self.kernel * self.kernel * output.size()) as u64
    }
}
