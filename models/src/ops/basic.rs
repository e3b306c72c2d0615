//! Shape-only ops: flatten, identity, zero, and the constant model.

use serde::Deserialize;

use super::OpFamily;
use crate::role::TensorRole;
use crate::shape::Shape;

/// Reshapes any sample to a vector.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Flatten;

/// Passes its input through.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Identity;

/// Contributes nothing (the "none" op of architecture search). Its shape is its input's; an
/// edge widens it to the edge's shape.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Zero;

/// A learned vector that ignores the input: the constant model.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Constant {
    pub units: usize,
}

impl OpFamily for Flatten {
    fn name(&self) -> &'static str {
        "flatten"
    }

    fn out_shape(&self, input: &Shape) -> Result<Shape, String> {
        Ok(Shape(vec![input.size()]))
    }
}

impl OpFamily for Identity {
    fn name(&self) -> &'static str {
        "identity"
    }

    fn out_shape(&self, input: &Shape) -> Result<Shape, String> {
        Ok(input.clone())
    }
}

impl OpFamily for Zero {
    fn name(&self) -> &'static str {
        "zero"
    }

    fn out_shape(&self, input: &Shape) -> Result<Shape, String> {
        Ok(input.clone())
    }
}

impl OpFamily for Constant {
    fn name(&self) -> &'static str {
        "constant"
    }

    fn describe(&self) -> String {
        format!("constant({})", self.units)
    }

    fn check(&self) -> Result<(), String> {
        if self.units == 0 {
            return Err("constant: units must be at least 1".into());
        }
        Ok(())
    }

    fn out_shape(&self, _input: &Shape) -> Result<Shape, String> {
        Ok(Shape(vec![self.units]))
    }

    fn params(&self, _input: &Shape) -> usize {
        self.units
    }

    fn bias_params(&self) -> usize {
        self.units
    }

    fn on_zero_input(&self) -> Option<bool> {
        None
    }

    fn tensors(&self, _input: &Shape) -> Vec<(&'static str, Vec<usize>, TensorRole)> {
        vec![("value", vec![self.units], TensorRole::Constant)]
    }
}
