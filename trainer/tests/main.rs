//! ardent-trainer's tests against independent references, one binary.

mod adanet;
mod augment;
mod bilevel;
mod checkpoint;
mod fused;
mod gamma;
mod kl;
mod lrt;
mod norm;
mod objective;
mod prune;
mod relax;
mod vae;

use burn::tensor::{Device, Tensor};

static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

/// burn-flex draws every random number from one process-wide generator, so tests that draw
/// hold this while they run; otherwise parallel tests interleave their draws and seeded runs
/// stop being reproducible.
pub fn serial() -> std::sync::MutexGuard<'static, ()> {
    SERIAL
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

pub fn device() -> Device {
    let d = Device::flex();
    d.seed(7);
    d
}

pub fn vec2(t: Tensor<2>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_to_vec::<f32>()
        .expect("f32")
}

/// A family with one dense edge, small enough for exact checks.
pub fn tiny_family(grouping: &str, inputs: usize, units: usize) -> ardent_models::Family {
    ardent_models::Family::parse(&format!(
        r#"
name = "tiny"
task = "classification"
classes = {units}
input = [{inputs}]
[ard]
grouping = "{grouping}"
lambda1 = 1.5
lambda2 = 0.25
[[vertex]]
name = "x"
[[vertex]]
name = "y"
[[edge]]
from = "x"
to = "y"
ops = [{{ op = "dense", units = {units} }}]
"#
    ))
    .expect("valid tiny spec")
}
