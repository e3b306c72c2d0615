//! The Gaussian code of a variational autoencoder, gated per dimension (`docs/method.md` §8).
//!
//! Its input is the encoder's statistics `[2·dims]`: the means of q(z | x) first, then their
//! log-variances. It outputs `z ⊙ γ` (`[dims]`), z drawn from q(z | x) by reparameterization
//! and γ the gate: one structure weight per code dimension, in the unit cube, under the
//! relaxations of a searched cube edge. A dimension whose gate collapses to 0 is removed on
//! export, with the encoder's statistics of it and the decoder's weights that read it.

use serde::Deserialize;

use super::OpFamily;
use crate::role::TensorRole;
use crate::shape::Shape;
use crate::structure::{Constraint, Relaxation, Structure, StructureSpec};

/// The prior concentration of a gate whose spec gives none: p(γ_j > ½) = s / (1 + s) ≈ 9 %,
/// so a dimension that the data does not hold open drifts shut.
pub const GATE_CONCENTRATION: f64 = 0.1;

/// The probability that a gate is open when training starts, unless the spec says otherwise:
/// the code starts whole, and dimensions are shut as they prove useless.
pub const GATE_OPEN: f64 = 0.95;

fn gate_open() -> f64 {
    GATE_OPEN
}

/// A Gaussian code of `dims` dimensions with a gate per dimension.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Code {
    pub dims: usize,
    /// The gate's structure, written as an edge's (`constraint` is the cube, and may be left
    /// out); without it the gate is binary concrete (`gumbel-softmax`) at concentration
    /// [`GATE_CONCENTRATION`] and temperature ½. `relaxation = "fixed"` with γ = 1 is a plain
    /// VAE. Unlike a searched edge's, the gate's prior concentration stays as written: learned
    /// per dimension, it would follow q(γ) and stop pulling useless dimensions shut.
    #[serde(default)]
    pub gate: Option<StructureSpec>,
    /// The probability that each gate is open when training starts (its logits start at
    /// logit(`open`)), in (0, 1).
    #[serde(default = "gate_open")]
    pub open: f64,
}

impl Code {
    /// The gate's resolved structure, `dims` entries in the cube, or why it cannot be one.
    pub fn gate(&self) -> Result<Structure, String> {
        let spec = self.gate.clone().unwrap_or(StructureSpec {
            constraint: None,
            form: Default::default(),
            relaxation: Relaxation::GumbelSoftmax,
            concentration: Some(crate::structure::Concentration::Scalar(GATE_CONCENTRATION)),
            temperature: Some(0.5),
            temperature_final: None,
            schedule: Default::default(),
            gamma: None,
        });
        if spec.constraint == Some(Constraint::Simplex) {
            return Err("code: the gate lives in the cube (a weight per dimension), not on the simplex; leave `constraint` out".into());
        }
        let spec = StructureSpec {
            constraint: Some(Constraint::Cube),
            ..spec
        };
        Structure::resolve(&spec, self.dims).map_err(|m| format!("code: gate: {m}"))
    }
}

impl OpFamily for Code {
    fn name(&self) -> &'static str {
        "code"
    }

    fn describe(&self) -> String {
        format!("code({})", self.dims)
    }

    fn check(&self) -> Result<(), String> {
        if self.dims == 0 {
            return Err("code: dims must be at least 1".into());
        }
        if !(self.open > 0.0 && self.open < 1.0) {
            return Err(format!(
                "code: open is the probability that a gate starts open, in (0, 1); got {}",
                self.open
            ));
        }
        self.gate().map(|_| ())
    }

    fn out_shape(&self, input: &Shape) -> Result<Shape, String> {
        if *input != Shape(vec![2 * self.dims]) {
            return Err(format!(
                "code({0}) takes the means and log-variances of its {0} dimensions, a vector of {1}, got {input}",
                self.dims,
                2 * self.dims
            ));
        }
        Ok(Shape(vec![self.dims]))
    }

    /// σ = exp(½ log σ²), z = μ + σ ε, z ⊙ γ: four per dimension.
    fn flops(&self, _input: &Shape, _output: &Shape) -> u64 {
        4 * self.dims as u64
    }

    /// A zero input is the prior: z is noise, not zero.
    fn on_zero_input(&self) -> Option<bool> {
        Some(true)
    }

    fn tensors(&self, _input: &Shape) -> Vec<(&'static str, Vec<usize>, TensorRole)> {
        let Ok(gate) = self.gate() else {
            return Vec::new();
        };
        if !gate.is_searched() {
            return Vec::new();
        }
        let d = vec![self.dims];
        let mut out = vec![
            ("gate.logits", d.clone(), TensorRole::CodeGateLogits),
            ("gate.log_prior", d.clone(), TensorRole::CodeGateLogPrior),
        ];
        if gate.relaxation == Relaxation::LogitNormal {
            out.push(("gate.log_sigma", d, TensorRole::CodeGateLogSigma));
        }
        out
    }
}
