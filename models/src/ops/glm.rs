//! A generalized linear model on a subset of the input features (the seed's wine example).

use crate::shape::Shape;

pub(super) fn check(features: &[usize], units: usize) -> Result<(), String> {
    if features.is_empty() {
        return Err("glm: features must name at least one input feature".into());
    }
    if units == 0 {
        return Err("glm: units must be at least 1".into());
    }
    let mut sorted = features.to_vec();
    sorted.sort_unstable();
    if let Some(w) = sorted.windows(2).find(|w| w[0] == w[1]) {
        return Err(format!("glm: feature {} is listed twice", w[0]));
    }
    Ok(())
}

pub(super) fn out_shape(features: &[usize], units: usize, input: &Shape) -> Result<Shape, String> {
    if input.rank() != 1 {
        return Err(format!("glm needs a vector input, got {input}"));
    }
    if let Some(&bad) = features.iter().find(|&&f| f >= input.size()) {
        return Err(format!(
            "glm: feature {bad} is out of range for an input of {} features",
            input.size()
        ));
    }
    Ok(Shape(vec![units]))
}

pub(super) fn params(features: usize, units: usize) -> usize {
    features * units + units
}

pub(super) fn flops(features: usize, units: usize) -> u64 {
    2 * (features * units) as u64 + units as u64
}
