//! The candidate basis functions an edge can carry. Each op family lives in its own file and
//! answers three questions: what shape it produces, how many parameters it has, and how many
//! FLOPs one sample costs. These are the only places in ardent that know which ops exist.
//!
//! FLOPs are counted as 2 per multiply-add, 1 per output element for a bias and 1 for an
//! activation; pooling costs one per window element.

mod basic;
mod conv;
mod dense;
mod glm;
mod pool;

use serde::Deserialize;

use crate::ard::ArdOverride;
use crate::shape::Shape;

pub use pool::PoolKind;

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

    fn flops(self) -> u64 {
        match self {
            Activation::None => 0,
            _ => 1,
        }
    }
}

fn yes() -> bool {
    true
}

fn one() -> usize {
    1
}

/// One candidate basis function, as written in a spec (`op = "dense"`, ...).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "op", rename_all = "lowercase", deny_unknown_fields)]
pub enum Op {
    /// `act(W x + b)` on a vector.
    Dense {
        units: usize,
        #[serde(default)]
        activation: Activation,
        #[serde(default = "yes")]
        bias: bool,
        #[serde(default)]
        ard: Option<ArdOverride>,
    },
    /// 2-D convolution on `[channels, height, width]`, square kernel, symmetric zero padding.
    Conv2d {
        channels: usize,
        kernel: usize,
        #[serde(default = "one")]
        stride: usize,
        #[serde(default)]
        padding: usize,
        #[serde(default)]
        activation: Activation,
        #[serde(default = "yes")]
        bias: bool,
        #[serde(default)]
        ard: Option<ArdOverride>,
    },
    /// Max or average pooling, square window; `stride` defaults to the window.
    Pool {
        kind: PoolKind,
        kernel: usize,
        #[serde(default)]
        stride: Option<usize>,
        #[serde(default)]
        padding: usize,
    },
    /// Reshapes any sample to a vector.
    Flatten,
    /// Passes its input through.
    Identity,
    /// Contributes nothing (the "none" op of architecture search).
    Zero,
    /// A learned vector that ignores the input: the constant model.
    Constant { units: usize },
    /// A generalized linear model on a subset of the input features: `act(W x[features] + b)`.
    Glm {
        features: Vec<usize>,
        #[serde(default = "one")]
        units: usize,
        #[serde(default)]
        activation: Activation,
        #[serde(default)]
        ard: Option<ArdOverride>,
    },
}

impl Op {
    /// Short name, as in the spec's `op = "..."`.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Dense { .. } => "dense",
            Op::Conv2d { .. } => "conv2d",
            Op::Pool { .. } => "pool",
            Op::Flatten => "flatten",
            Op::Identity => "identity",
            Op::Zero => "zero",
            Op::Constant { .. } => "constant",
            Op::Glm { .. } => "glm",
        }
    }

    /// A one-line description with the op's settings, e.g. `dense(300, relu)`.
    pub fn describe(&self) -> String {
        match self {
            Op::Dense {
                units, activation, ..
            } => format!("dense({units}, {})", activation.name()),
            Op::Conv2d {
                channels,
                kernel,
                stride,
                padding,
                activation,
                ..
            } => format!(
                "conv2d({channels}, k{kernel}, s{stride}, p{padding}, {})",
                activation.name()
            ),
            Op::Pool {
                kind,
                kernel,
                stride,
                ..
            } => format!(
                "{}pool(k{kernel}, s{})",
                kind.name(),
                stride.unwrap_or(*kernel)
            ),
            Op::Constant { units } => format!("constant({units})"),
            Op::Glm {
                features, units, ..
            } => format!("glm({} features -> {units})", features.len()),
            other => other.name().to_string(),
        }
    }

    /// The activation after the op's affine map (`None` for ops without one).
    pub fn activation(&self) -> Activation {
        match self {
            Op::Dense { activation, .. }
            | Op::Conv2d { activation, .. }
            | Op::Glm { activation, .. } => *activation,
            _ => Activation::None,
        }
    }

    /// True for ops with weights under an ARD prior (dense, conv2d, glm).
    pub fn is_parametric(&self) -> bool {
        matches!(self, Op::Dense { .. } | Op::Conv2d { .. } | Op::Glm { .. })
    }

    /// The op-level ARD override, if the spec gave one.
    pub fn ard_override(&self) -> Option<&ArdOverride> {
        match self {
            Op::Dense { ard, .. } | Op::Conv2d { ard, .. } | Op::Glm { ard, .. } => ard.as_ref(),
            _ => None,
        }
    }

    /// Checks the op's own settings, independent of its input.
    pub fn check(&self) -> Result<(), String> {
        match self {
            Op::Dense { units, .. } => dense::check(*units),
            Op::Conv2d {
                channels,
                kernel,
                stride,
                ..
            } => conv::check(*channels, *kernel, *stride),
            Op::Pool {
                kernel,
                stride,
                padding,
                ..
            } => pool::check(*kernel, *stride, *padding),
            Op::Constant { units } => basic::check_constant(*units),
            Op::Glm {
                features, units, ..
            } => glm::check(features, *units),
            Op::Flatten | Op::Identity | Op::Zero => Ok(()),
        }
    }

    /// The shape the op produces from `input`, or why it cannot take that input.
    /// `Zero` returns its input shape; an edge widens it to the edge's shape.
    pub fn out_shape(&self, input: &Shape) -> Result<Shape, String> {
        match self {
            Op::Dense { units, .. } => dense::out_shape(*units, input),
            Op::Conv2d {
                channels,
                kernel,
                stride,
                padding,
                ..
            } => conv::out_shape(*channels, *kernel, *stride, *padding, input),
            Op::Pool {
                kernel,
                stride,
                padding,
                ..
            } => pool::out_shape(*kernel, stride.unwrap_or(*kernel), *padding, input),
            Op::Flatten => Ok(basic::flatten_shape(input)),
            Op::Identity | Op::Zero => Ok(input.clone()),
            Op::Constant { units } => Ok(Shape(vec![*units])),
            Op::Glm {
                features, units, ..
            } => glm::out_shape(features, *units, input),
        }
    }

    /// Trainable parameters of the op on `input`.
    pub fn params(&self, input: &Shape) -> usize {
        match self {
            Op::Dense { units, bias, .. } => dense::params(input.size(), *units, *bias),
            Op::Conv2d {
                channels,
                kernel,
                bias,
                ..
            } => conv::params(input.features(), *channels, *kernel, *bias),
            Op::Glm {
                features, units, ..
            } => glm::params(features.len(), *units),
            Op::Constant { units } => *units,
            Op::Pool { .. } | Op::Flatten | Op::Identity | Op::Zero => 0,
        }
    }

    /// Parameters the op keeps once its input is constant: its bias (or its constant), which
    /// then holds the whole output.
    pub fn bias_params(&self) -> usize {
        match self {
            Op::Dense {
                units, bias: true, ..
            } => *units,
            Op::Conv2d {
                channels,
                bias: true,
                ..
            } => *channels,
            Op::Glm { units, .. } | Op::Constant { units } => *units,
            _ => 0,
        }
    }

    /// FLOPs for one sample, given the op's input and output shapes.
    pub fn flops(&self, input: &Shape, output: &Shape) -> u64 {
        match self {
            Op::Dense {
                units,
                activation,
                bias,
                ..
            } => dense::flops(input.size(), *units, *bias) + activation.flops() * *units as u64,
            Op::Conv2d {
                kernel,
                activation,
                bias,
                ..
            } => {
                conv::flops(input.features(), *kernel, *bias, output)
                    + activation.flops() * output.size() as u64
            }
            Op::Pool { kernel, .. } => pool::flops(*kernel, output),
            Op::Glm {
                features,
                units,
                activation,
                ..
            } => glm::flops(features.len(), *units) + activation.flops() * *units as u64,
            Op::Constant { .. } | Op::Flatten | Op::Identity | Op::Zero => 0,
        }
    }

    /// The value a Zero input turns into: `Some(false)` stays zero, `Some(true)` becomes a
    /// non-zero constant; `None` for ops that ignore their input.
    pub fn on_zero_input(&self) -> Option<bool> {
        match self {
            Op::Dense {
                activation, bias, ..
            }
            | Op::Conv2d {
                activation, bias, ..
            } => Some(*bias || activation.at_zero() != 0.0),
            Op::Glm { .. } => Some(true),
            Op::Constant { .. } => None,
            Op::Pool { .. } | Op::Flatten | Op::Identity | Op::Zero => Some(false),
        }
    }
}
