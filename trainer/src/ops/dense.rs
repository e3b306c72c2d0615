//! Dense and GLM ops: `act(x W + b)` with a variational W (GLM: on a gathered feature subset).

use burn::module::{Module, Param};
use burn::tensor::{Device, Distribution, Int, Tensor, TensorData};

use ardent_models::ops::{Dense, Glm};
use ardent_models::{Ard, Grouping, Shape, TensorF32, TensorRole};

use super::fused::{draw_seed, fused_available, variational_dense};
use super::{Mode, OpParams, TrainOp, activate, ard_alpha, ard_kl, keep, variance};
use crate::value::{Value, param, values};

impl TrainOp for Dense {
    fn init(&self, input: &Shape, device: &Device) -> OpParams {
        OpParams::Dense(VarDense::init(
            input.size(),
            self.units,
            self.bias,
            Vec::new(),
            device,
        ))
    }

    fn forward(&self, p: &OpParams, x: Value, mode: Mode, _batch: usize) -> Value {
        let Some(d) = p.dense() else {
            super::mismatch("dense", p)
        };
        Value::Vector(activate(d.forward(x.into_vector(), mode), self.activation))
    }

    fn save(&self, p: &OpParams, role: TensorRole, ard: &Ard) -> Option<Vec<f32>> {
        p.dense()?.save(role, ard)
    }

    fn load(&self, p: &mut OpParams, role: TensorRole, t: &TensorF32, device: &Device) -> bool {
        p.dense_mut().is_some_and(|d| d.load(role, t, device))
    }
}

/// A dense layer on the selected features: the selection is the layer's gather.
impl TrainOp for Glm {
    fn init(&self, _input: &Shape, device: &Device) -> OpParams {
        let idx = self.features.iter().map(|&i| i as i64).collect();
        OpParams::Dense(VarDense::init(
            self.features.len(),
            self.units,
            true,
            idx,
            device,
        ))
    }

    fn forward(&self, p: &OpParams, x: Value, mode: Mode, _batch: usize) -> Value {
        let Some(d) = p.dense() else {
            super::mismatch("glm", p)
        };
        Value::Vector(activate(d.forward(x.into_vector(), mode), self.activation))
    }

    fn save(&self, p: &OpParams, role: TensorRole, ard: &Ard) -> Option<Vec<f32>> {
        p.dense()?.save(role, ard)
    }

    fn load(&self, p: &mut OpParams, role: TensorRole, t: &TensorF32, device: &Device) -> bool {
        p.dense_mut().is_some_and(|d| d.load(role, t, device))
    }
}

/// A variational weight matrix `[in, out]` (burn's layout; checkpoints store `[out, in]`),
/// a deterministic bias, and an optional fixed 0/1 mask (fine-tuning).
#[derive(Module, Debug)]
pub struct VarDense {
    pub mu: Param<Tensor<2>>,
    pub log_sigma2: Param<Tensor<2>>,
    pub bias: Option<Param<Tensor<1>>>,
    pub mask: Option<Tensor<2>>,
    /// Feature indices for a GLM; empty for a dense layer.
    #[module(skip)]
    pub features: Vec<i64>,
}

/// log σ² at initialisation: small noise, as in Sparse VD.
pub const INIT_LOG_SIGMA2: f64 = -10.0;

impl VarDense {
    /// The checkpoint's tensor of `role`: weights and α as `[out, in]` (the layer holds
    /// `[in, out]`), the bias.
    fn save(&self, role: TensorRole, ard: &Ard) -> Option<Vec<f32>> {
        match role {
            TensorRole::WeightMu => Some(values(self.mu.val().transpose())),
            TensorRole::WeightLogSigma2 => Some(values(self.log_sigma2.val().transpose())),
            // α is [in, out], [1, out] or [in, 1]: transposing gives [out, in] or a vector in
            // the same order.
            TensorRole::Alpha => Some(values(self.alpha(ard).transpose())),
            TensorRole::Bias => self.bias.as_ref().map(|b| values(b.val())),
            _ => None,
        }
    }

    fn load(&mut self, role: TensorRole, t: &TensorF32, device: &Device) -> bool {
        let transposed = || Param::from_tensor(param::<2>(t, device).val().transpose());
        match role {
            TensorRole::WeightMu => self.mu = transposed(),
            TensorRole::WeightLogSigma2 => self.log_sigma2 = transposed(),
            TensorRole::Bias => self.bias = Some(param(t, device)),
            // α is derived from μ and σ² at every step.
            TensorRole::Alpha => {}
            _ => return false,
        }
        true
    }

    /// He-style initialisation of μ (std √(2/in)), log σ² = −10, zero bias.
    pub fn init(
        inputs: usize,
        units: usize,
        bias: bool,
        features: Vec<i64>,
        device: &Device,
    ) -> VarDense {
        let std = (2.0 / inputs as f64).sqrt();
        VarDense {
            mu: Param::from_tensor(Tensor::random(
                [inputs, units],
                Distribution::Normal(0.0, std),
                device,
            )),
            log_sigma2: Param::from_tensor(Tensor::full([inputs, units], INIT_LOG_SIGMA2, device)),
            bias: bias.then(|| Param::from_tensor(Tensor::zeros([units], device))),
            mask: None,
            features,
        }
    }

    fn gather(&self, x: Tensor<2>) -> Tensor<2> {
        if self.features.is_empty() {
            return x;
        }
        let device = x.device();
        let idx = Tensor::<1, Int>::from_data(
            TensorData::new(self.features.clone(), [self.features.len()]),
            &device,
        );
        x.select(1, idx)
    }

    /// The pre-activation for a batch `[b, in]`.
    pub fn forward(&self, x: Tensor<2>, mode: Mode) -> Tensor<2> {
        let x = self.gather(x);
        let mut mu = self.mu.val();
        if let Some(m) = &self.mask {
            mu = mu * m.clone();
        }
        let out = match mode {
            Mode::Sample => {
                let mut sigma2 = variance(self.log_sigma2.val());
                if let Some(m) = &self.mask {
                    sigma2 = sigma2 * m.clone();
                }
                if fused_available(&x.device()) {
                    let seed = draw_seed(&x.device());
                    variational_dense(x, mu, sigma2, seed)
                } else {
                    let mean = x.clone().matmul(mu);
                    let var = x.square().matmul(sigma2);
                    let eps = mean.random_like(Distribution::Normal(0.0, 1.0));
                    mean + var.add_scalar(1e-8).sqrt() * eps
                }
            }
            Mode::Mean { prune } => match (prune, &self.mask) {
                (Some(lambda), None) => {
                    let k = keep(&self.mu.val(), &self.log_sigma2.val().exp(), lambda);
                    x.matmul(mu * k)
                }
                _ => x.matmul(mu),
            },
        };
        match &self.bias {
            Some(b) => out + b.val().unsqueeze_dim(0),
            None => out,
        }
    }

    /// KL of the weights to their ARD prior; see [`ard_kl`] for `with_value`.
    pub fn kl(&self, ard: &Ard, with_value: bool) -> Tensor<1> {
        ard_kl(
            self.mu.val(),
            self.log_sigma2.val(),
            ard,
            group_dim(ard),
            with_value,
        )
    }

    /// The optimal ARD precisions α, `[in, out]`, `[1, out]` or `[in, 1]` by grouping.
    pub fn alpha(&self, ard: &Ard) -> Tensor<2> {
        ard_alpha(self.mu.val(), self.log_sigma2.val(), ard, group_dim(ard))
    }
}

/// The axis a group of weights sums over in `[in, out]`: columns are output neurons, rows
/// inputs.
fn group_dim(ard: &Ard) -> Option<usize> {
    match ard.grouping {
        Grouping::Weight => None,
        Grouping::Neuron => Some(0),
        Grouping::Input => Some(1),
    }
}
