//! Dense (generalized-linear) layers: `act(W x + b)`.

use serde::Deserialize;

use super::{Activation, OpFamily, yes};
use crate::ard::ArdOverride;
use crate::shape::Shape;

/// `act(W x + b)` on a vector.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Dense {
    pub units: usize,
    #[serde(default)]
    pub activation: Activation,
    #[serde(default = "yes")]
    pub bias: bool,
    #[serde(default)]
    pub ard: Option<ArdOverride>,
}

impl OpFamily for Dense {
    fn name(&self) -> &'static str {
        "dense"
    }

    fn describe(&self) -> String {
        format!("dense({}, {})", self.units, self.activation.name())
    }

    fn check(&self) -> Result<(), String> {
        if self.units == 0 {
            return Err("dense: units must be at least 1".into());
        }
        Ok(())
    }

    fn out_shape(&self, input: &Shape) -> Result<Shape, String> {
        if input.rank() != 1 {
            return Err(format!(
                "dense needs a vector input, got {input}: put a flatten before it"
            ));
        }
        Ok(Shape(vec![self.units]))
    }

    fn params(&self, input: &Shape) -> usize {
        input.size() * self.units + self.bias_params()
    }

    fn bias_params(&self) -> usize {
        if self.bias { self.units } else { 0 }
    }

    fn flops(&self, input: &Shape, _output: &Shape) -> u64 {
        2 * (input.size() * self.units) as u64
            + self.bias_params() as u64
            + self.activation.flops() * self.units as u64
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
        Some(vec![self.units, input.size()])
    }

    fn fans(&self, input: &Shape) -> Option<(usize, usize)> {
        Some((input.size(), self.units))
    }
}
