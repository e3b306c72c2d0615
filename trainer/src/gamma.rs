//! Relaxed samples of the structure weights γ from a searched edge's logits θ
//! (`METHOD.md` §3): Gumbel-softmax on the simplex, binary concrete per op in the cube; in
//! vertex form the forward value is the hard (one-hot, or 0/1) sample and the gradient is the
//! soft sample's (straight-through).

use burn::tensor::{Distribution, Tensor, TensorData};

use ardent_models::structure::{Constraint, Form, Structure};

use crate::convert::values;

/// Uniform noise in (0, 1), away from its ends so the logs below stay finite.
fn uniform(k: usize, device: &burn::tensor::Device) -> Tensor<1> {
    Tensor::random([k], Distribution::Uniform(1e-6, 1.0 - 1e-6), device)
}

/// Gumbel-softmax: softmax((θ + G) / τ) with G = −log(−log U).
pub fn gumbel_softmax(logits: Tensor<1>, temperature: f64, hard: bool) -> Tensor<1> {
    let [k] = logits.dims();
    let g = uniform(k, &logits.device()).log().neg().log().neg();
    let soft = burn::tensor::activation::softmax((logits + g).div_scalar(temperature), 0);
    if !hard {
        return soft;
    }
    let v = values(soft.clone().detach());
    let best = (0..k).fold(0, |b, r| if v[r] > v[b] { r } else { b });
    let one_hot: Vec<f32> = (0..k).map(|r| if r == best { 1.0 } else { 0.0 }).collect();
    straight_through(soft, one_hot)
}

/// Binary concrete per component: sigmoid((θ + log U − log(1 − U)) / τ).
pub fn binary_concrete(logits: Tensor<1>, temperature: f64, hard: bool) -> Tensor<1> {
    let [k] = logits.dims();
    let u = uniform(k, &logits.device());
    let noise = u.clone().log() - u.neg().add_scalar(1.0).log();
    let soft = burn::tensor::activation::sigmoid((logits + noise).div_scalar(temperature));
    if !hard {
        return soft;
    }
    let bits: Vec<f32> = values(soft.clone().detach())
        .iter()
        .map(|&p| if p > 0.5 { 1.0 } else { 0.0 })
        .collect();
    straight_through(soft, bits)
}

/// `hard` in the forward pass, `soft`'s gradient in the backward pass.
fn straight_through(soft: Tensor<1>, hard: Vec<f32>) -> Tensor<1> {
    let n = hard.len();
    let hard = Tensor::from_data(TensorData::new(hard, [n]), &soft.device());
    hard - soft.clone().detach() + soft
}

/// One relaxed sample of γ for an edge with `structure`, at `temperature`.
pub fn sample(logits: Tensor<1>, structure: &Structure, temperature: f64) -> Tensor<1> {
    let hard = structure.form == Form::Vertices;
    match structure.constraint {
        Constraint::Simplex => gumbel_softmax(logits, temperature, hard),
        Constraint::Cube => binary_concrete(logits, temperature, hard),
    }
}
