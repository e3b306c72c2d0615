//! Batch normalisation: the batch's statistics while sampling (training), the running
//! averages when evaluating with posterior means (and while fine-tuning, which keeps them
//! fixed).

use burn::module::{Module, Param, RunningState};
use burn::tensor::module::{batch_norm, batch_norm_train};
use burn::tensor::{Device, Tensor};

use ardent_models::ops::BatchNorm;
use ardent_models::{Ard, Shape, TensorF32, TensorRole};

use super::{Mode, OpParams, TrainOp, activate};
use crate::value::{Value, param, values};

/// A batch norm's scale and shift (trained as point estimates, without a prior) and its
/// running statistics (updated in sampled forwards, never by the optimizer).
#[derive(Module, Debug)]
pub struct Norm {
    pub scale: Param<Tensor<1>>,
    pub shift: Param<Tensor<1>>,
    pub mean: RunningState<Tensor<1>>,
    pub var: RunningState<Tensor<1>>,
}

impl Norm {
    /// Scale 1, shift 0, running mean 0 and variance 1 over `channels`.
    pub fn init(channels: usize, device: &Device) -> Norm {
        Norm {
            scale: Param::from_tensor(Tensor::ones([channels], device)),
            shift: Param::from_tensor(Tensor::zeros([channels], device)),
            mean: RunningState::new(Tensor::zeros([channels], device)),
            var: RunningState::new(Tensor::ones([channels], device)),
        }
    }

    fn forward<const D: usize>(&self, x: Tensor<D>, op: &BatchNorm, mode: Mode) -> Tensor<D> {
        let (scale, shift) = (self.scale.val(), self.shift.val());
        match mode {
            Mode::Sample => {
                let out = batch_norm_train(x, scale, shift, op.epsilon);
                let m = op.momentum;
                let update = |state: &RunningState<Tensor<1>>, batch: Tensor<1>| {
                    let before = state.value_sync().to_device(&batch.device());
                    state.update(
                        before
                            .mul_scalar(1.0 - m)
                            .add(batch.detach().mul_scalar(m))
                            .detach(),
                    );
                };
                update(&self.mean, out.mean);
                update(&self.var, out.variance);
                out.output
            }
            Mode::Mean { .. } => {
                let device = x.device();
                let mean = self.mean.value_sync().to_device(&device);
                let var = self.var.value_sync().to_device(&device);
                batch_norm(x, scale, shift, mean, var, op.epsilon)
            }
        }
    }
}

impl TrainOp for BatchNorm {
    fn init(&self, input: &Shape, device: &Device) -> OpParams {
        OpParams::Norm(Norm::init(input.features(), device))
    }

    fn forward(&self, p: &OpParams, x: Value, mode: Mode, _batch: usize) -> Value {
        let OpParams::Norm(n) = p else {
            super::mismatch("batchnorm", p)
        };
        match x {
            Value::Vector(x) => Value::Vector(activate(n.forward(x, self, mode), self.activation)),
            Value::Image(x) => Value::Image(activate(n.forward(x, self, mode), self.activation)),
        }
    }
    fn save(&self, p: &OpParams, role: TensorRole, _ard: &Ard) -> Option<Vec<f32>> {
        let OpParams::Norm(n) = p else {
            return None;
        };
        Some(values(match role {
            TensorRole::NormScale => n.scale.val(),
            TensorRole::NormShift => n.shift.val(),
            TensorRole::NormMean => n.mean.value_sync(),
            TensorRole::NormVar => n.var.value_sync(),
            _ => return None,
        }))
    }

    fn load(&self, p: &mut OpParams, role: TensorRole, t: &TensorF32, device: &Device) -> bool {
        let OpParams::Norm(n) = p else {
            return false;
        };
        match role {
            TensorRole::NormScale => n.scale = param(t, device),
            TensorRole::NormShift => n.shift = param(t, device),
            TensorRole::NormMean => n.mean = RunningState::new(param::<1>(t, device).val()),
            TensorRole::NormVar => n.var = RunningState::new(param::<1>(t, device).val()),
            _ => return false,
        }
        true
    }
}
