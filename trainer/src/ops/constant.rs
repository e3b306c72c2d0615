//! The constant model: a learned vector that ignores the input.

use burn::module::Param;
use burn::tensor::{Device, Tensor};

use ardent_models::ops::Constant;
use ardent_models::{Ard, Shape, TensorF32, TensorRole};

use super::{Mode, OpParams, TrainOp};
use crate::value::{Value, param, values};

impl TrainOp for Constant {
    fn init(&self, _input: &Shape, device: &Device) -> OpParams {
        OpParams {
            constant: Some(Param::from_tensor(Tensor::zeros([self.units], device))),
            ..OpParams::none()
        }
    }

    fn forward(&self, p: &OpParams, _x: Value, _mode: Mode, batch: usize) -> Value {
        let c = p
            .constant
            .as_ref()
            .expect("a constant op has its vector")
            .val();
        Value::Vector(c.unsqueeze_dim::<2>(0).expand([batch, self.units]))
    }
    fn save(&self, p: &OpParams, role: TensorRole, _ard: &Ard) -> Option<Vec<f32>> {
        let c = p
            .constant
            .as_ref()
            .filter(|_| role == TensorRole::Constant)?;
        Some(values(c.val()))
    }

    fn load(&self, p: &mut OpParams, role: TensorRole, t: &TensorF32, device: &Device) -> bool {
        if role != TensorRole::Constant {
            return false;
        }
        p.constant = Some(param(t, device));
        true
    }
}
