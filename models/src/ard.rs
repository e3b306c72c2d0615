//! The ARD prior's settings: how precisions are shared and the inverse-gamma hyperprior.

use serde::Deserialize;

/// Which weights share one ARD precision.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Grouping {
    /// One precision per weight (Sparse VD style, unstructured pruning).
    #[default]
    Weight,
    /// One per output neuron (dense) or output channel (conv): whole units can die.
    #[serde(alias = "channel")]
    Neuron,
    /// One per input feature (or input channel): whole inputs can die.
    Input,
}

impl Grouping {
    pub fn name(self) -> &'static str {
        match self {
            Grouping::Weight => "weight",
            Grouping::Neuron => "neuron",
            Grouping::Input => "input",
        }
    }
}

/// Resolved ARD settings of one op: precisions α ~ Gamma(λ1, rate λ2), i.e. α⁻¹ ~ inv-gamma(λ1, λ2).
#[derive(Debug, Clone, Copy, PartialEq, serde::Serialize)]
pub struct Ard {
    pub grouping: Grouping,
    pub lambda1: f64,
    pub lambda2: f64,
}

impl Default for Ard {
    /// λ1 = 1, λ2 = 0: the MAP update reduces to the plain α = 1/(μ² + σ²).
    fn default() -> Self {
        Ard {
            grouping: Grouping::Weight,
            lambda1: 1.0,
            lambda2: 0.0,
        }
    }
}

/// ARD settings as written at family, edge or op level; unset fields inherit from the level above.
#[derive(Debug, Clone, Copy, PartialEq, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ArdOverride {
    pub grouping: Option<Grouping>,
    pub lambda1: Option<f64>,
    pub lambda2: Option<f64>,
}

impl Ard {
    /// Applies an override on top of these settings.
    pub fn with(self, o: Option<&ArdOverride>) -> Ard {
        match o {
            None => self,
            Some(o) => Ard {
                grouping: o.grouping.unwrap_or(self.grouping),
                lambda1: o.lambda1.unwrap_or(self.lambda1),
                lambda2: o.lambda2.unwrap_or(self.lambda2),
            },
        }
    }

    /// Checks that the MAP update α* = (n + 2λ1 − 2) / (S + 2λ2) is positive and finite for
    /// groups of at least `min_group` weights.
    pub fn check(&self, min_group: usize) -> Result<(), String> {
        if !(self.lambda1.is_finite() && self.lambda2.is_finite()) {
            return Err("ard: lambda1 and lambda2 must be finite".into());
        }
        if self.lambda2 < 0.0 {
            return Err(format!("ard: lambda2 must be >= 0, got {}", self.lambda2));
        }
        let numerator = min_group as f64 + 2.0 * self.lambda1 - 2.0;
        if numerator <= 0.0 {
            return Err(format!(
                "ard: with groups of {min_group} weight(s), lambda1 = {} gives a non-positive \
                 precision update (need n + 2*lambda1 - 2 > 0)",
                self.lambda1
            ));
        }
        Ok(())
    }
}
