//! The spec file as written (TOML, read with serde). [`crate::Family::parse`] validates it.

use serde::Deserialize;
use toml::Spanned;

use crate::ard::ArdOverride;
use crate::ops::Op;
use crate::structure::StructureSpec;

/// What the output vertex predicts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TaskKind {
    /// Logits over `classes` labels; softmax cross-entropy.
    Classification,
    /// Real targets; Gaussian likelihood.
    Regression,
    /// A variational autoencoder: the output reconstructs the input from a gated code
    /// (`docs/method.md` §8).
    Vae,
}

/// How a VAE's decoder output explains its input.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Likelihood {
    /// Each input value, scaled to [0, 1] by the training data's range, as the probability of
    /// a Bernoulli variable whose logit the decoder outputs (the usual choice for images).
    #[default]
    Bernoulli,
    /// A Gaussian per normalised input value: the decoder outputs its mean, its log-variance is
    /// learned per value.
    Gaussian,
}

impl Likelihood {
    pub fn name(self) -> &'static str {
        match self {
            Likelihood::Bernoulli => "bernoulli",
            Likelihood::Gaussian => "gaussian",
        }
    }
}

/// How a vertex combines its incoming edges.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    #[default]
    Sum,
    Mean,
    Concat,
}

impl Aggregation {
    pub fn name(self) -> &'static str {
        match self {
            Aggregation::Sum => "sum",
            Aggregation::Mean => "mean",
            Aggregation::Concat => "concat",
        }
    }
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FamilySpec {
    pub name: String,
    #[serde(default)]
    pub description: String,
    pub task: TaskKind,
    /// Number of classes (classification only).
    #[serde(default)]
    pub classes: Option<usize>,
    /// Number of real targets (regression only; default 1).
    #[serde(default)]
    pub targets: Option<usize>,
    /// A VAE's likelihood (VAE only; default Bernoulli).
    #[serde(default)]
    pub likelihood: Option<Likelihood>,
    /// Shape of one input sample.
    pub input: Spanned<Vec<usize>>,
    /// Family-wide ARD defaults.
    #[serde(default)]
    pub ard: Option<ArdOverride>,
    /// Structure defaults for edges with more than one op.
    #[serde(default)]
    pub search: Option<StructureSpec>,
    /// Vertices; the first is the input, the last the output.
    #[serde(rename = "vertex", default)]
    pub vertices: Vec<Spanned<VertexSpec>>,
    #[serde(rename = "edge", default)]
    pub edges: Vec<Spanned<EdgeSpec>>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct VertexSpec {
    pub name: String,
    #[serde(default)]
    pub agg: Aggregation,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EdgeSpec {
    pub from: Spanned<String>,
    pub to: Spanned<String>,
    #[serde(default)]
    pub ops: Vec<Op>,
    #[serde(default)]
    pub structure: Option<StructureSpec>,
    #[serde(default)]
    pub ard: Option<ArdOverride>,
}

/// A spec's `[[what]]` tables (`vertex` or `edge`), taken out of its parsed `table`, for the
/// families written from another one's spec (grown, split).
pub(crate) fn take_tables(
    table: &mut toml::Table,
    what: &str,
) -> Result<Vec<toml::Table>, crate::error::SpecError> {
    use crate::error::SpecError;
    let Some(toml::Value::Array(items)) = table.remove(what) else {
        return Err(SpecError::Syntax(format!(
            "the spec has no [[{what}]] tables"
        )));
    };
    items
        .into_iter()
        .map(|item| match item {
            toml::Value::Table(t) => Ok(t),
            _ => Err(SpecError::Syntax(format!(
                "a [[{what}]] entry is not a table"
            ))),
        })
        .collect()
}
