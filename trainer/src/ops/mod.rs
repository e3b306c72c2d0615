//! What every op family does in training, one file each as in the IR, answering through
//! [`TrainOp`]: its parameters and its burn forward. Adding a family is its file here and an
//! arm of [`train_op`].

pub mod code;
mod constant;
pub mod conv;
pub mod dense;
pub mod elementwise;
pub mod fused;
mod kl;
pub mod matmul;
pub mod norm;
pub mod stateless;

pub use kl::{ard_alpha, ard_kl};

use burn::module::{Module, Param};
use burn::tensor::activation;
use burn::tensor::{Device, Tensor};

use ardent_models::ops::{Flatten, Identity, Zero};
use ardent_models::{Activation, Ard, Op, Shape, TensorF32, TensorRole};

use crate::value::Value;
use conv::VarConv;
use dense::VarDense;
use norm::Norm;

/// The parameters of one candidate op, of the kind its family makes ([`TrainOp::init`]).
#[derive(Module, Debug)]
pub enum OpParams {
    /// An op without parameters.
    None(NoParams),
    Dense(VarDense),
    Conv(VarConv),
    /// A learned vector, broadcast over the batch.
    Constant(Param<Tensor<1>>),
    Norm(Norm),
    /// A VAE code's gate.
    Code(code::CodeGate),
}

/// The parameters of an op that has none.
#[derive(Module, Debug, Default)]
pub struct NoParams;

impl OpParams {
    /// No parameters: an op without weights.
    pub fn none() -> OpParams {
        OpParams::None(NoParams)
    }

    /// The variational dense (or GLM) weights, if the op has them.
    pub fn dense(&self) -> Option<&VarDense> {
        match self {
            OpParams::Dense(d) => Some(d),
            _ => None,
        }
    }

    pub fn dense_mut(&mut self) -> Option<&mut VarDense> {
        match self {
            OpParams::Dense(d) => Some(d),
            _ => None,
        }
    }

    /// The variational conv weights, if the op has them.
    pub fn conv(&self) -> Option<&VarConv> {
        match self {
            OpParams::Conv(c) => Some(c),
            _ => None,
        }
    }

    pub fn conv_mut(&mut self) -> Option<&mut VarConv> {
        match self {
            OpParams::Conv(c) => Some(c),
            _ => None,
        }
    }
}

/// The parameters `init` gave `family`, of another kind than `p`: a supernet is built from its
/// family's ops, so this is a bug, not bad input.
fn mismatch(family: &str, p: &OpParams) -> ! {
    panic!("a {family} op holds parameters of another kind: {p:?}")
}

/// What an op family does in training.
pub trait TrainOp {
    /// The op's parameters on `input`, freshly drawn from the device's generator; none by
    /// default.
    fn init(&self, _input: &Shape, _device: &Device) -> OpParams {
        OpParams::none()
    }

    /// The op on a batch of `batch` samples `x`, with the parameters `init` made.
    fn forward(&self, p: &OpParams, x: Value, mode: Mode, batch: usize) -> Value;

    /// The op's checkpoint tensor of `role`, shaped as the layout says, read from `p`
    /// (`ard`: the op's ARD settings); `None` for a role the op does not have.
    fn save(&self, _p: &OpParams, _role: TensorRole, _ard: &Ard) -> Option<Vec<f32>> {
        None
    }

    /// Sets the op's tensor of `role` in `p` from the checkpoint's `t`; false for a role the
    /// op does not have.
    fn load(&self, _p: &mut OpParams, _role: TensorRole, _t: &TensorF32, _device: &Device) -> bool {
        false
    }
}

/// The training side of `op`'s family.
pub fn train_op(op: &Op) -> &dyn TrainOp {
    match op {
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

/// How weights enter a forward pass.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Mode {
    /// Training: pre-activations sampled by the local reparameterization trick.
    Sample,
    /// Evaluation: posterior means, with the weights whose ρ > λ removed when `prune` is set;
    /// an op with a fixed mask (fine-tuning) uses its mask instead.
    Mean { prune: Option<f32> },
}

pub fn activate<const D: usize>(x: Tensor<D>, a: Activation) -> Tensor<D> {
    match a {
        Activation::None => x,
        Activation::Relu => activation::relu(x),
        Activation::Tanh => activation::tanh(x),
        Activation::Sigmoid => activation::sigmoid(x),
    }
}

/// σ² = exp(log σ²) from one `exp`: computed outside autodiff, it enters the graph through
/// the linear surrogate (log σ² − c)·σ² + σ² (c = log σ² held constant), whose value is σ² and
/// whose gradient is σ², exactly exp's. burn's own exp would evaluate exp again in the backward
/// pass, and exp was a tenth of a training step. On flex it is one fused pass that keeps its
/// output for the backward pass ([`elementwise::exp`]).
pub fn variance<const D: usize>(log_sigma2: Tensor<D>) -> Tensor<D> {
    if fused::fused_available(&log_sigma2.device()) {
        return elementwise::exp(log_sigma2);
    }
    let constant = log_sigma2.clone().inner();
    let sigma2 = constant.clone().exp();
    if !log_sigma2.is_autodiff() {
        return sigma2;
    }
    let sigma2 = sigma2.autodiff();
    (log_sigma2 - constant.autodiff()) * sigma2.clone() + sigma2
}

/// The keep-mask of the relative-density rule as a 0/1 tensor: ρ = exp(−μ²/2σ²) ≤ λ
/// ⇔ μ² ≥ −2 ln λ · σ².
pub fn keep<const D: usize>(mu: &Tensor<D>, sigma2: &Tensor<D>, lambda: f32) -> Tensor<D> {
    let threshold = ardent_models::pruning::variance_factor(f64::from(lambda));
    mu.clone()
        .square()
        .greater_equal(sigma2.clone().mul_scalar(threshold))
        .float()
}

/// The weights an op keeps: its fixed mask when it has one (fine-tuning: the mask is the
/// structure), otherwise the relative-density rule at λ.
pub fn kept_mask<const D: usize>(
    mu: &Tensor<D>,
    log_sigma2: &Tensor<D>,
    mask: Option<&Tensor<D>>,
    lambda: f32,
) -> Tensor<D> {
    match mask {
        Some(m) => m.clone(),
        None => keep(mu, &log_sigma2.clone().exp(), lambda),
    }
}
