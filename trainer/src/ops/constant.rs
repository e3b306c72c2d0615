//! The constant model: a learned vector that ignores the input.

use burn::module::Param;
use burn::tensor::{Device, Tensor};

use ardent_models::Shape;
use ardent_models::ops::Constant;

use super::{Mode, OpParams, TrainOp};
use crate::value::Value;

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
}
