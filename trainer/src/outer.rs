//! The outer problem's settings (`docs/method.md` §4), apart from the hypergradient
//! ([`crate::bilevel`]) so that the objective and the supernet can read them.

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
