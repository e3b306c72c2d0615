//! The constant model: a learned vector that ignores the input.

use burn::module::Param;
use burn::tensor::{Device, Tensor};

use ardent_models::ops::Constant;
use ardent_models::{Ard, Shape, TensorF32, TensorRole};

use super::{Mode, OpParams, TrainOp};
use crate::value::{Value, param, values};

impl TrainOp for Constant {
    fn init(&self, _input: &Shape, device: &Device) -> OpParams {
        OpParams::Constant(Param::from_tensor(Tensor::zeros([self.units], device)))
    }

    fn forward(&self, p: &OpParams, _x: Value, _mode: Mode, batch: usize) -> Value {
        let OpParams::Constant(c) = p else {
            super::mismatch("constant", p)
        };
        let c = c.val();
        Value::Vector(c.unsqueeze_dim::<2>(0).expand([batch, self.units]))
    }
    fn save(&self, p: &OpParams, role: TensorRole, _ard: &Ard) -> Option<Vec<f32>> {
        match p {
            OpParams::Constant(c) if role == TensorRole::Constant => Some(values(c.val())),
            _ => None,
        }
    }

    fn load(&self, p: &mut OpParams, role: TensorRole, t: &TensorF32, device: &Device) -> bool {
        match p {
            OpParams::Constant(c) if role == TensorRole::Constant => {
                *c = param(t, device);
                true
            }
            _ => false,
        }
    }
}
