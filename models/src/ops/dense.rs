//! Dense (generalized-linear) layers: `act(W x + b)`.

use crate::shape::Shape;

pub(super) fn check(units: usize) -> Result<(), String> {
    if units == 0 {
        return Err("dense: units must be at least 1".into());
    }
    Ok(())
}

pub(super) fn out_shape(units: usize, input: &Shape) -> Result<Shape, String> {
    if input.rank() != 1 {
        return Err(format!(
            "dense needs a vector input, got {input}: put a flatten before it"
        ));
    }
    Ok(Shape(vec![units]))
}

pub(super) fn params(inputs: usize, units: usize, bias: bool) -> usize {
    inputs * units + if bias { units } else { 0 }
}

pub(super) fn flops(inputs: usize, units: usize, bias: bool) -> u64 {
    2 * (inputs * units) as u64 + if bias { units as u64 } else { 0 }
}
