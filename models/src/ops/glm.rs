//! A generalized linear model on a subset of the input features (the seed's wine example).

use serde::Deserialize;

use super::{Activation, OpFamily, one};
use crate::ard::ArdOverride;
use crate::shape::Shape;

/// `act(W x[features] + b)` on a vector; always with a bias.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Glm {
    pub features: Vec<usize>,
    #[serde(default = "one")]
    pub units: usize,
    #[serde(default)]
    pub activation: Activation,
    #[serde(default)]
    pub ard: Option<ArdOverride>,
}

impl OpFamily for Glm {
    fn name(&self) -> &'static str {
        "glm"
    }

    fn describe(&self) -> String {
        format!("glm({} features -> {})", self.features.len(), self.units)
    }

    fn check(&self) -> Result<(), String> {
        if self.features.is_empty() {
            return Err("glm: features must name at least one input feature".into());
        }
        if self.units == 0 {
            return Err("glm: units must be at least 1".into());
        }
        let mut sorted = self.features.clone();
        sorted.sort_unstable();
        if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
            return Err(format!("glm: feature {} is listed twice", w[0]));
        }
        Ok(())
    }

    fn out_shape(&self, input: &Shape) -> Result<Shape, String> {
        if input.rank() != 1 {
            return Err(format!("glm needs a vector input, got {input}"));
        }
        if let Some(&bad) = self.features.iter().find(|&&f| f >= input.size()) {
            return Err(format!(
                "glm: feature {bad} is out of range for an input of {} features",
                input.size()
            ));
        }
        Ok(Shape(vec![self.units]))
    }

    fn params(&self, _input: &Shape) -> usize {
        self.features.len() * self.units + self.units
    }

    fn bias_params(&self) -> usize {
        self.units
    }

    fn flops(&self, _input: &Shape, _output: &Shape) -> u64 {
        2 * (self.features.len() * self.units) as u64
            + self.units as u64
            + self.activation.flops() * self.units as u64
    }

    fn on_zero_input(&self) -> Option<bool> {
        Some(true)
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

    fn weight_shape(&self, _input: &Shape) -> Option<Vec<usize>> {
        Some(vec![self.units, self.features.len()])
    }

    fn fans(&self, _input: &Shape) -> Option<(usize, usize)> {
        Some((self.features.len(), self.units))
    }
}
