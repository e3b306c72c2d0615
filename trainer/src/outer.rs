//! The outer problem's settings (`docs/method.md` §4), apart from the hypergradient
//! ([`crate::bilevel`]) so that the objective and the supernet can read them.

use ardent_models::Family;
use serde::{Deserialize, Serialize};

/// First-order (DARTS-1) or second-order (DARTS-2) hypergradient.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Order {
    First,
    Second,
}

/// A reference structure p′ for the outer problem: per searched edge, the log concentration
/// of a distribution over its γ in the edge's relaxation family (`None` for the other edges),
/// and its weight λ_struct.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Reference {
    pub weight: f64,
    pub log_concentration: Vec<Option<Vec<f64>>>,
}

/// The outer problem's weights and how its hypergradient is taken.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OuterConfig {
    /// λ_lik^Q.
    pub lik: f64,
    /// λ_prior^Q.
    pub prior: f64,
    pub order: Order,
    /// ξ, the virtual inner step of the second-order hypergradient.
    pub xi: f64,
    /// The structure's q(γ) parameters are outer variables (DARTS) rather than inner ones.
    pub structure_outer: bool,
    /// Reference structures p′ and their weights λ_struct.
    #[serde(default)]
    pub references: Vec<Reference>,
}

impl Reference {
    /// Parses `EDGE=s1,s2,...;EDGE=...@λ` (the concentrations of p′ on searched edges of
    /// `family`, and its weight λ_struct); the error says what is wrong with `text`.
    pub fn parse(text: &str, family: &Family) -> Result<Reference, String> {
        let (body, weight) = text
            .rsplit_once('@')
            .ok_or_else(|| "needs its weight after `@`, as in `x->a=5,1,1@0.5`".to_string())?;
        let weight: f64 = weight
            .trim()
            .parse()
            .ok()
            .filter(|w: &f64| w.is_finite())
            .ok_or_else(|| format!("the weight `{weight}` is not a finite number"))?;
        let squeeze = |s: &str| s.chars().filter(|c| !c.is_whitespace()).collect::<String>();
        let searched: Vec<(usize, String)> = family
            .edges
            .iter()
            .enumerate()
            .filter(|(_, e)| e.structure.is_searched())
            .map(|(e, _)| (e, squeeze(&family.edge_name(e))))
            .collect();
        let mut log_concentration = vec![None; family.edges.len()];
        for item in body.split(';').filter(|s| !s.trim().is_empty()) {
            let (edge, values) = item
                .split_once('=')
                .ok_or_else(|| format!("`{item}` is not EDGE=s1,s2,..."))?;
            let edge = squeeze(edge);
            let Some(&(e, _)) = searched.iter().find(|(_, name)| *name == edge) else {
                let names: Vec<&str> = searched.iter().map(|(_, n)| n.as_str()).collect();
                return Err(format!(
                    "`{edge}` is not a searched edge of `{}` (those are: {})",
                    family.name,
                    names.join(", ")
                ));
            };
            let s: Vec<f64> = values
                .split(',')
                .map(|v| {
                    v.trim()
                        .parse::<f64>()
                        .ok()
                        .filter(|x| x.is_finite() && *x > 0.0)
                })
                .collect::<Option<_>>()
                .ok_or_else(|| format!("`{values}`: concentrations must be numbers > 0"))?;
            let k = family.edges[e].ops.len();
            if s.len() != k {
                return Err(format!(
                    "`{edge}` has {k} ops, but {} values are given",
                    s.len()
                ));
            }
            log_concentration[e] = Some(s.iter().map(|v| v.ln()).collect());
        }
        if log_concentration.iter().all(Option::is_none) {
            return Err("names no edge".to_string());
        }
        Ok(Reference {
            weight,
            log_concentration,
        })
    }
}
