//! Shape-only ops: flatten, identity, zero, and the constant model.

use crate::shape::Shape;

pub(super) fn flatten_shape(input: &Shape) -> Shape {
    Shape(vec![input.size()])
}

pub(super) fn check_constant(units: usize) -> Result<(), String> {
    if units == 0 {
        return Err("constant: units must be at least 1".into());
    }
    Ok(())
}
