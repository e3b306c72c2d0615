//! 2-D convolution with a variational kernel `[out, in, k, k]`.

use burn::module::{Module, Param};
use burn::tensor::module::conv2d;
use burn::tensor::ops::ConvOptions;
use burn::tensor::{Device, Distribution, Tensor};

use ardent_models::ops::Conv2d;
use ardent_models::{Ard, Grouping, Shape, TensorF32, TensorRole};

use super::dense::INIT_LOG_SIGMA2;
use super::{Mode, OpParams, TrainOp, activate, ard_alpha, ard_kl, keep, variance};
use crate::value::{Value, param, values};

impl TrainOp for Conv2d {
    fn init(&self, input: &Shape, device: &Device) -> OpParams {
        OpParams::Conv(VarConv::init(
            input.features(),
            self.channels,
            self.kernel,
            self.stride,
            self.padding,
            self.bias,
            device,
        ))
    }

    fn forward(&self, p: &OpParams, x: Value, mode: Mode, _batch: usize) -> Value {
        let Some(c) = p.conv() else {
            super::mismatch("conv2d", p)
        };
        match x {
            Value::Image(x) => Value::Image(activate(c.forward(x, mode), self.activation)),
            // Shape inference gives a conv an image.
            v => v,
        }
    }
    fn save(&self, p: &OpParams, role: TensorRole, ard: &Ard) -> Option<Vec<f32>> {
        let c = p.conv()?;
        match role {
            TensorRole::WeightMu => Some(values(c.mu.val())),
            TensorRole::WeightLogSigma2 => Some(values(c.log_sigma2.val())),
            // [o, i·k·k] (row-major, as the kernel), [o, 1] or [i, 1].
            TensorRole::Alpha => Some(values(c.alpha(ard))),
            TensorRole::Bias => c.bias.as_ref().map(|b| values(b.val())),
            _ => None,
        }
    }

    fn load(&self, p: &mut OpParams, role: TensorRole, t: &TensorF32, device: &Device) -> bool {
        let Some(c) = p.conv_mut() else {
            return false;
        };
        match role {
            TensorRole::WeightMu => c.mu = param(t, device),
            TensorRole::WeightLogSigma2 => c.log_sigma2 = param(t, device),
            TensorRole::Bias => c.bias = Some(param(t, device)),
            // α is derived from μ and σ² at every step.
            TensorRole::Alpha => {}
            _ => return false,
        }
        true
    }
}

#[derive(Module, Debug)]
pub struct VarConv {
    pub mu: Param<Tensor<4>>,
    pub log_sigma2: Param<Tensor<4>>,
    pub bias: Option<Param<Tensor<1>>>,
    pub mask: Option<Tensor<4>>,
    #[module(skip)]
    pub stride: usize,
    #[module(skip)]
    pub padding: usize,
}

impl VarConv {
    pub fn init(
        in_channels: usize,
        channels: usize,
        kernel: usize,
        stride: usize,
        padding: usize,
        bias: bool,
        device: &Device,
    ) -> VarConv {
        let fan_in = in_channels * kernel * kernel;
        let std = (2.0 / fan_in as f64).sqrt();
        let shape = [channels, in_channels, kernel, kernel];
        VarConv {
            mu: Param::from_tensor(Tensor::random(
                shape,
                Distribution::Normal(0.0, std),
                device,
            )),
            log_sigma2: Param::from_tensor(Tensor::full(shape, INIT_LOG_SIGMA2, device)),
            bias: bias.then(|| Param::from_tensor(Tensor::zeros([channels], device))),
            mask: None,
            stride,
            padding,
        }
    }

    fn options(&self) -> ConvOptions<2> {
        ConvOptions::new([self.stride; 2], [self.padding; 2], [1, 1], 1)
    }

    pub fn forward(&self, x: Tensor<4>, mode: Mode) -> Tensor<4> {
        let mut mu = self.mu.val();
        if let Some(m) = &self.mask {
            mu = mu * m.clone();
        }
        let bias = self.bias.as_ref().map(|b| b.val());
        match mode {
            Mode::Sample => {
                let mut sigma2 = variance(self.log_sigma2.val());
                if let Some(m) = &self.mask {
                    sigma2 = sigma2 * m.clone();
                }
                if super::fused::fused_available(&x.device()) {
                    let out = self.sample_fused(x, mu, sigma2);
                    return match bias {
                        Some(b) => out + b.reshape([1, self.mu.dims()[0], 1, 1]),
                        None => out,
                    };
                }
                self.sample_plain(x, mu, sigma2, bias)
            }
            Mode::Mean { prune } => {
                let w = match (prune, &self.mask) {
                    (Some(lambda), None) => {
                        mu * keep(&self.mu.val(), &self.log_sigma2.val().exp(), lambda)
                    }
                    _ => mu,
                };
                if super::fused::fused_available(&x.device()) && !x.is_autodiff() {
                    let out = super::fused::conv2d(x, w, self.stride, self.padding);
                    return match bias {
                        Some(b) => out + b.reshape([1, self.mu.dims()[0], 1, 1]),
                        None => out,
                    };
                }
                conv2d(x, w, bias, self.options())
            }
        }
    }

    /// The sampled pre-activation by burn's convolutions: x ⋆ μ + b + sqrt(x² ⋆ σ² + 1e-8)·ε.
    fn sample_plain(
        &self,
        x: Tensor<4>,
        mu: Tensor<4>,
        sigma2: Tensor<4>,
        bias: Option<Tensor<1>>,
    ) -> Tensor<4> {
        let mean = conv2d(x.clone(), mu, bias, self.options());
        let var = conv2d(x.square(), sigma2, None, self.options());
        let eps = mean.random_like(Distribution::Normal(0.0, 1.0));
        mean + var.add_scalar(1e-8).sqrt() * eps
    }

    /// The same without the bias, by the fused operation (burn-flex only). Its noise comes
    /// from a seed drawn from the device's generator, so a seeded run stays reproducible.
    fn sample_fused(&self, x: Tensor<4>, mu: Tensor<4>, sigma2: Tensor<4>) -> Tensor<4> {
        let seed = super::fused::draw_seed(&x.device());
        super::fused::variational_conv2d(x, mu, sigma2, seed, self.stride, self.padding)
    }

    /// KL of the weights to their ARD prior; see [`ard_kl`] for `with_value`.
    pub fn kl(&self, ard: &Ard, with_value: bool) -> Tensor<1> {
        let (mu, log_sigma2, group_dim) = self.as_groups(ard);
        ard_kl(mu, log_sigma2, ard, group_dim, with_value)
    }

    /// The optimal ARD precisions α: `[out, in·k·k]` (row-major, as the kernel), `[out, 1]` or
    /// `[in, 1]` by grouping.
    pub fn alpha(&self, ard: &Ard) -> Tensor<2> {
        let (mu, log_sigma2, group_dim) = self.as_groups(ard);
        ard_alpha(mu, log_sigma2, ard, group_dim)
    }

    /// μ and log σ² as matrices whose rows are the ARD groups (`[out, in·k·k]`, or
    /// `[in, out·k·k]` for input grouping), and the axis a group sums over.
    fn as_groups(&self, ard: &Ard) -> (Tensor<2>, Tensor<2>, Option<usize>) {
        let [o, i, kh, kw] = self.mu.dims();
        let as_matrix = |t: Tensor<4>| match ard.grouping {
            Grouping::Input => t.swap_dims(0, 1).reshape([i, o * kh * kw]),
            _ => t.reshape([o, i * kh * kw]),
        };
        let group_dim = match ard.grouping {
            Grouping::Weight => None,
            Grouping::Neuron | Grouping::Input => Some(1),
        };
        (
            as_matrix(self.mu.val()),
            as_matrix(self.log_sigma2.val()),
            group_dim,
        )
    }
}
