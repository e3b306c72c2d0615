//! Batch normalisation: per channel (feature), `act(scale · (x − mean) / √(var + ε) + shift)`,
//! with the batch's statistics while training and running averages of them otherwise.

use serde::Deserialize;

use super::{Activation, OpFamily};
use crate::role::TensorRole;
use crate::shape::Shape;

fn epsilon() -> f64 {
    1e-5
}

fn momentum() -> f64 {
    0.1
}

/// Batch normalisation over the feature axis (channels of an image), with learned scale and
/// shift as point estimates (no ARD prior); `momentum` is the weight of each batch in the
/// running averages.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BatchNorm {
    #[serde(default)]
    pub activation: Activation,
    #[serde(default = "epsilon")]
    pub epsilon: f64,
    #[serde(default = "momentum")]
    pub momentum: f64,
}

impl OpFamily for BatchNorm {
    fn name(&self) -> &'static str {
        "batchnorm"
    }

    fn describe(&self) -> String {
        format!("batchnorm({})", self.activation.name())
    }

    fn check(&self) -> Result<(), String> {
        if !(self.epsilon.is_finite() && self.epsilon > 0.0) {
            return Err(format!(
                "batchnorm: epsilon must be > 0, got {}",
                self.epsilon
            ));
        }
        if !(self.momentum > 0.0 && self.momentum <= 1.0) {
            return Err(format!(
                "batchnorm: momentum must be in (0, 1], got {}",
                self.momentum
            ));
        }
        Ok(())
    }

    fn out_shape(&self, input: &Shape) -> Result<Shape, String> {
        match input.rank() {
            1 | 3 => Ok(input.clone()),
            _ => Err(format!(
                "batchnorm needs a vector or a [channels, height, width] input, got {input}"
            )),
        }
    }

    /// Exported, the op is one scale and one offset per channel.
    fn params(&self, input: &Shape) -> usize {
        2 * input.features()
    }

    fn bias_params(&self) -> usize {
        0
    }

    fn flops(&self, _input: &Shape, output: &Shape) -> u64 {
        (2 + self.activation.flops()) * output.size() as u64
    }

    fn on_zero_input(&self) -> Option<bool> {
        Some(true)
    }

    fn activation(&self) -> Activation {
        self.activation
    }

    fn tensors(&self, input: &Shape) -> Vec<(&'static str, Vec<usize>, TensorRole)> {
        let c = vec![input.features()];
        vec![
            ("scale", c.clone(), TensorRole::NormScale),
            ("shift", c.clone(), TensorRole::NormShift),
            ("running_mean", c.clone(), TensorRole::NormMean),
            ("running_var", c, TensorRole::NormVar),
        ]
    }
}
