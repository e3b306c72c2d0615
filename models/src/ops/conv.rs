//! 2-D convolution on `[channels, height, width]` samples.

use serde::Deserialize;

use super::{Activation, OpFamily, one, yes};
use crate::ard::ArdOverride;
use crate::shape::Shape;

/// 2-D convolution on `[channels, height, width]`, square kernel, symmetric zero padding.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Conv2d {
    pub channels: usize,
    pub kernel: usize,
    #[serde(default = "one")]
    pub stride: usize,
    #[serde(default)]
    pub padding: usize,
    #[serde(default)]
    pub activation: Activation,
    #[serde(default = "yes")]
    pub bias: bool,
    #[serde(default)]
    pub ard: Option<ArdOverride>,
}

/// Output side of a window sliding over `side` cells (ONNX's floor rule).
pub(crate) fn window_out(
    side: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Option<usize> {
    let padded = side + 2 * padding;
    (padded >= kernel).then(|| (padded - kernel) / stride + 1)
}

/// Output height and width of a square window over a `[channels, height, width]` input.
pub(crate) fn window_out_2d(
    input: &Shape,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Option<(usize, usize)> {
    Some((
        window_out(input.0[1], kernel, stride, padding)?,
        window_out(input.0[2], kernel, stride, padding)?,
    ))
}

impl OpFamily for Conv2d {
    fn name(&self) -> &'static str {
        "conv2d"
    }

    fn describe(&self) -> String {
        format!(
            "conv2d({}, k{}, s{}, p{}, {})",
            self.channels,
            self.kernel,
            self.stride,
            self.padding,
            self.activation.name()
        )
    }

    fn check(&self) -> Result<(), String> {
        if self.channels == 0 {
            return Err("conv2d: channels must be at least 1".into());
        }
        if self.kernel == 0 {
            return Err("conv2d: kernel must be at least 1".into());
        }
        if self.stride == 0 {
            return Err("conv2d: stride must be at least 1".into());
        }
        Ok(())
    }

    fn out_shape(&self, input: &Shape) -> Result<Shape, String> {
        if input.rank() != 3 {
            return Err(format!(
                "conv2d needs a [channels, height, width] input, got {input}"
            ));
        }
        let (k, p) = (self.kernel, self.padding);
        match window_out_2d(input, k, self.stride, p) {
            Some((oh, ow)) => Ok(Shape(vec![self.channels, oh, ow])),
            None => Err(format!(
                "conv2d: kernel {k} with padding {p} does not fit input {input}"
            )),
        }
    }

    fn params(&self, input: &Shape) -> usize {
        input.features() * self.channels * self.kernel * self.kernel + self.bias_params()
    }

    fn bias_params(&self) -> usize {
        if self.bias { self.channels } else { 0 }
    }

    fn flops(&self, input: &Shape, output: &Shape) -> u64 {
        let per_output =
            2 * (input.features() * self.kernel * self.kernel) as u64 + u64::from(self.bias);
        (per_output + self.activation.flops()) * output.size() as u64
    }

    fn on_zero_input(&self) -> Option<bool> {
        Some(self.bias || self.activation.at_zero() != 0.0)
    }

    fn activation(&self) -> Activation {
        self.activation
    }

    fn is_parametric(&self) -> bool {
        true
    }

    fn ard_override(&self) -> Option<&ArdOverride> {
        self.ard.as_ref()
    }

    fn weight_shape(&self, input: &Shape) -> Option<Vec<usize>> {
        Some(vec![
            self.channels,
            input.features(),
            self.kernel,
            self.kernel,
        ])
    }

    fn fans(&self, input: &Shape) -> Option<(usize, usize)> {
        let taps = self.kernel * self.kernel;
        Some((input.features() * taps, self.channels * taps))
    }
}
