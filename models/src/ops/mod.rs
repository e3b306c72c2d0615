//! The candidate basis functions an edge can carry. Each op family lives in its own file, as
//! a struct that answers for itself through [`OpFamily`]: its settings' check, the shape it
//! produces, its parameters, its FLOPs. [`Op`] is the spec's tagged union of them; adding a
//! family is its file here, a variant of [`Op`] and an arm of [`Op::family`].
//!
//! FLOPs are counted as 2 per multiply-add, 1 per output element for a bias and 1 for an
//! activation; pooling costs one per window element.

mod basic;
mod code;
mod conv;
mod dense;
mod glm;
mod norm;
mod pool;

use serde::Deserialize;

use crate::ard::ArdOverride;
use crate::role::TensorRole;
use crate::shape::Shape;

pub use basic::{Constant, Flatten, Identity, Zero};
pub use code::Code;
pub use conv::Conv2d;
pub use dense::Dense;
pub use glm::Glm;
pub use norm::BatchNorm;
pub use pool::{Pool, PoolKind};

/// Element-wise non-linearity applied after a dense, conv or GLM op.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Activation {
    #[default]
    None,
    Relu,
    Tanh,
    Sigmoid,
}

impl Activation {
    pub fn name(self) -> &'static str {
        match self {
            Activation::None => "none",
            Activation::Relu => "relu",
            Activation::Tanh => "tanh",
            Activation::Sigmoid => "sigmoid",
        }
    }

    /// The activation at `z`, in f64 (the closed form references and constant folding use).
    pub fn apply(self, z: f64) -> f64 {
        match self {
            Activation::None => z,
            Activation::Relu => z.max(0.0),
            Activation::Tanh => z.tanh(),
            Activation::Sigmoid => 1.0 / (1.0 + (-z).exp()),
        }
    }

    /// The activation's value at 0: what a parametric op outputs on a zero input without bias.
    pub fn at_zero(self) -> f32 {
        match self {
            Activation::Sigmoid => 0.5,
            _ => 0.0,
        }
    }

    pub(crate) fn flops(self) -> u64 {
        match self {
            Activation::None => 0,
            _ => 1,
        }
    }
}

pub(crate) fn yes() -> bool {
    true
}

pub(crate) fn one() -> usize {
    1
}

/// What an op family answers about itself in the IR. The defaults are those of an op
/// without weights that maps a zero input to zero.
pub trait OpFamily {
    /// Short name, as in the spec's `op = "..."`.
    fn name(&self) -> &'static str;

    /// A one-line description with the op's settings, e.g. `dense(300, relu)`.
    fn describe(&self) -> String {
        self.name().to_string()
    }

    /// Checks the op's own settings, independent of its input.
    fn check(&self) -> Result<(), String> {
        Ok(())
    }

    /// The shape the op produces from `input`, or why it cannot take that input.
    fn out_shape(&self, input: &Shape) -> Result<Shape, String>;

    /// Trainable parameters of the op on `input`.
    fn params(&self, _input: &Shape) -> usize {
        0
    }

    /// Parameters the op keeps once its input is constant: its bias (or its constant), which
    /// then holds the whole output.
    fn bias_params(&self) -> usize {
        0
    }

    /// FLOPs for one sample, given the op's input and output shapes.
    fn flops(&self, _input: &Shape, _output: &Shape) -> u64 {
        0
    }

    /// The value a Zero input turns into: `Some(false)` stays zero, `Some(true)` becomes a
    /// non-zero constant; `None` for ops that ignore their input.
    fn on_zero_input(&self) -> Option<bool> {
        Some(false)
    }

    /// The activation after the op's affine map (`None` for ops without one).
    fn activation(&self) -> Activation {
        Activation::None
    }

    /// True for ops with weights under an ARD prior.
    fn is_parametric(&self) -> bool {
        false
    }

    /// The op-level ARD override, if the spec gave one.
    fn ard_override(&self) -> Option<&ArdOverride> {
        None
    }

    /// The weight tensor of a parametric op on `input`: `[out, in]` or `[out, in, k, k]`.
    fn weight_shape(&self, _input: &Shape) -> Option<Vec<usize>> {
        None
    }

    /// The op's tensors other than ARD weights and their bias, as (name suffix, shape, role)
    /// on `input`.
    fn tensors(&self, _input: &Shape) -> Vec<(&'static str, Vec<usize>, TensorRole)> {
        Vec::new()
    }

    /// A parametric op's (fan-in, fan-out): the weights of one output unit and of one input
    /// unit, the smallest ARD groups by neuron and by input.
    fn fans(&self, _input: &Shape) -> Option<(usize, usize)> {
        None
    }
}

/// One candidate basis function, as written in a spec (`op = "dense"`, ...).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase")]
pub enum Op {
    Dense(Dense),
    Conv2d(Conv2d),
    Pool(Pool),
    Flatten,
    Identity,
    Zero,
    Constant(Constant),
    Glm(Glm),
    BatchNorm(BatchNorm),
    Code(Code),
}

impl Op {
    /// The op's family, which answers every question about it.
    pub fn family(&self) -> &(dyn OpFamily + 'static) {
        match self {
            Op::Dense(o) => o,
            Op::Conv2d(o) => o,
            Op::Pool(o) => o,
            Op::Flatten => &Flatten,
            Op::Identity => &Identity,
            Op::Zero => &Zero,
            Op::Constant(o) => o,
            Op::Glm(o) => o,
            Op::BatchNorm(o) => o,
            Op::Code(o) => o,
        }
    }
}

impl std::ops::Deref for Op {
    type Target = dyn OpFamily;

    fn deref(&self) -> &Self::Target {
        self.family()
    }
}
