//! How the structure weights γ of one edge are constrained, relaxed and scheduled.

use serde::Deserialize;

/// Where γ lives: on the simplex (a mixture or one choice) or in the unit cube (any subset).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Constraint {
    #[default]
    Simplex,
    Cube,
}

/// Interior (γ continuous) or vertices (γ discrete, relaxed during training).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Form {
    Interior,
    #[default]
    Vertices,
}

/// The distribution γ is sampled from during search; `Fixed` means γ is not searched.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Relaxation {
    #[default]
    GumbelSoftmax,
    Dirichlet,
    LogitNormal,
    Fixed,
}

impl Relaxation {
    pub fn name(self) -> &'static str {
        match self {
            Relaxation::GumbelSoftmax => "gumbel-softmax",
            Relaxation::Dirichlet => "dirichlet",
            Relaxation::LogitNormal => "logit-normal",
            Relaxation::Fixed => "fixed",
        }
    }
}

/// How the temperature moves from `temperature` to `temperature_final` over training.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Schedule {
    #[default]
    Constant,
    Exponential,
}

/// Prior concentration s: one value for every op of the edge, or one per op.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(untagged)]
pub enum Concentration {
    Scalar(f64),
    PerOp(Vec<f64>),
}

/// The structure spec as written in a spec file.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StructureSpec {
    /// The simplex unless written (a code's gate: the cube).
    #[serde(default)]
    pub constraint: Option<Constraint>,
    #[serde(default)]
    pub form: Form,
    #[serde(default)]
    pub relaxation: Relaxation,
    #[serde(default)]
    pub concentration: Option<Concentration>,
    #[serde(default)]
    pub temperature: Option<f64>,
    #[serde(default)]
    pub temperature_final: Option<f64>,
    #[serde(default)]
    pub schedule: Schedule,
    /// γ for a `fixed` edge; defaults to uniform on the simplex, all ones in the cube.
    #[serde(default)]
    pub gamma: Option<Vec<f64>>,
}

/// The resolved structure of one edge with `k` candidate ops.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Structure {
    pub constraint: Constraint,
    pub form: Form,
    pub relaxation: Relaxation,
    /// Prior concentration per op.
    pub concentration: Vec<f64>,
    pub temperature: f64,
    pub temperature_final: f64,
    pub schedule: Schedule,
    /// γ of a fixed edge (empty when searched).
    pub gamma: Vec<f64>,
}

impl Structure {
    /// A single-op edge: γ = [1], nothing to search.
    pub fn single() -> Structure {
        Structure {
            constraint: Constraint::Simplex,
            form: Form::Vertices,
            relaxation: Relaxation::Fixed,
            concentration: vec![1.0],
            temperature: 1.0,
            temperature_final: 1.0,
            schedule: Schedule::Constant,
            gamma: vec![1.0],
        }
    }

    /// Resolves a written spec for an edge of `k` ops.
    pub fn resolve(spec: &StructureSpec, k: usize) -> Result<Structure, String> {
        let constraint = spec.constraint.unwrap_or_default();
        let concentration = match &spec.concentration {
            None => vec![1.0; k],
            Some(Concentration::Scalar(s)) => vec![*s; k],
            Some(Concentration::PerOp(v)) if v.len() == k => v.clone(),
            Some(Concentration::PerOp(v)) => {
                return Err(format!(
                    "structure: concentration has {} values for {k} ops",
                    v.len()
                ));
            }
        };
        if let Some(bad) = concentration.iter().find(|s| !(s.is_finite() && **s > 0.0)) {
            return Err(format!("structure: concentration must be > 0, got {bad}"));
        }
        let temperature = spec.temperature.unwrap_or(1.0);
        let temperature_final = spec.temperature_final.unwrap_or(temperature);
        for (name, t) in [
            ("temperature", temperature),
            ("temperature_final", temperature_final),
        ] {
            if !(t.is_finite() && t > 0.0) {
                return Err(format!("structure: {name} must be > 0, got {t}"));
            }
        }
        if spec.schedule == Schedule::Constant && spec.temperature_final.is_some() {
            return Err(
                "structure: temperature_final needs schedule = \"exponential\"".to_string(),
            );
        }
        if spec.relaxation == Relaxation::Dirichlet && constraint == Constraint::Cube {
            return Err(
                "structure: relaxation = \"dirichlet\" lives on the simplex; for constraint = \"cube\" use \"gumbel-softmax\" (binary concrete) or \"logit-normal\"".into(),
            );
        }
        let gamma = match (spec.relaxation, &spec.gamma) {
            (Relaxation::Fixed, None) => match constraint {
                Constraint::Simplex => vec![1.0 / k as f64; k],
                Constraint::Cube => vec![1.0; k],
            },
            (Relaxation::Fixed, Some(g)) => {
                if g.len() != k {
                    return Err(format!(
                        "structure: gamma has {} values for {k} ops",
                        g.len()
                    ));
                }
                if g.iter()
                    .any(|x| !(x.is_finite() && (0.0..=1.0).contains(x)))
                {
                    return Err("structure: gamma values must lie in [0, 1]".into());
                }
                if constraint == Constraint::Simplex && (g.iter().sum::<f64>() - 1.0).abs() > 1e-6 {
                    return Err("structure: gamma on the simplex must sum to 1".into());
                }
                g.clone()
            }
            (_, Some(_)) => {
                return Err("structure: gamma can only be given for relaxation = \"fixed\"".into());
            }
            (_, None) => Vec::new(),
        };
        Ok(Structure {
            constraint,
            form: spec.form,
            relaxation: spec.relaxation,
            concentration,
            temperature,
            temperature_final,
            schedule: spec.schedule,
            gamma,
        })
    }

    /// True when γ is learned.
    pub fn is_searched(&self) -> bool {
        self.relaxation != Relaxation::Fixed
    }

    /// True when op `r` never runs: a fixed edge gives it γ = 0. Its weights still have a
    /// place in the checkpoint, but training and counting leave them out.
    pub fn never_runs(&self, r: usize) -> bool {
        !self.is_searched() && self.gamma[r] == 0.0
    }

    /// The probabilities a searched edge's logits θ stand for: softmax(θ) on the simplex,
    /// sigmoid(θ_r) per op in the cube. A fixed edge's γ is returned as it is.
    pub fn probabilities(&self, logits: &[f64]) -> Vec<f64> {
        if !self.is_searched() {
            return self.gamma.clone();
        }
        match self.constraint {
            Constraint::Simplex => {
                let max = logits.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                let e: Vec<f64> = logits.iter().map(|l| (l - max).exp()).collect();
                let sum: f64 = e.iter().sum();
                e.iter().map(|x| x / sum).collect()
            }
            Constraint::Cube => logits.iter().map(|l| 1.0 / (1.0 + (-l).exp())).collect(),
        }
    }

    /// The collapse (`docs/method.md` §6; `Structure::collapse` for an edge's ops) of a code's
    /// gate (§8): its `n` entries are code dimensions, each kept when it would be as an op of
    /// an edge of this structure.
    pub fn collapse_gate(&self, n: usize, logits: &[f64]) -> Vec<(usize, f64)> {
        self.collapse_where(n, |_| true, logits)
    }

    pub(crate) fn collapse_where(
        &self,
        n: usize,
        live: impl Fn(usize) -> bool,
        logits: &[f64],
    ) -> Vec<(usize, f64)> {
        if !self.is_searched() {
            return (0..n)
                .filter(|&r| live(r) && self.gamma[r] > 0.0)
                .map(|r| (r, self.gamma[r]))
                .collect();
        }
        let p = self.probabilities(logits);
        let factor = |r: usize| match self.form {
            Form::Vertices => 1.0,
            Form::Interior => p[r],
        };
        match self.constraint {
            Constraint::Simplex => {
                let best = (0..p.len()).fold(0, |b, r| if p[r] > p[b] { r } else { b });
                if live(best) {
                    vec![(best, factor(best))]
                } else {
                    Vec::new()
                }
            }
            Constraint::Cube => (0..p.len())
                .filter(|&r| live(r) && p[r] > 0.5)
                .map(|r| (r, factor(r)))
                .collect(),
        }
    }

    /// Temperature at training progress `t` in [0, 1].
    pub fn temperature_at(&self, t: f64) -> f64 {
        match self.schedule {
            Schedule::Constant => self.temperature,
            Schedule::Exponential => {
                let t = t.clamp(0.0, 1.0);
                self.temperature * (self.temperature_final / self.temperature).powf(t)
            }
        }
    }
}
