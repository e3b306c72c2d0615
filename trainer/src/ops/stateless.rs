//! Ops without weights: pooling, flatten, identity and zero.

use burn::tensor::Tensor;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};

use ardent_models::PoolKind;
use ardent_models::ops::{Flatten, Identity, Pool, Zero};

use super::{Mode, OpParams, TrainOp};
use crate::value::Value;

impl TrainOp for Pool {
    fn forward(&self, _p: &OpParams, x: Value, _mode: Mode, _batch: usize) -> Value {
        match x {
            Value::Image(x) => {
                Value::Image(pool(x, self.kind, self.kernel, self.stride(), self.padding))
            }
            // Shape inference gives a pool an image.
            v => v,
        }
    }
}

impl TrainOp for Flatten {
    fn forward(&self, _p: &OpParams, x: Value, _mode: Mode, _batch: usize) -> Value {
        Value::Vector(x.into_vector())
    }
}

impl TrainOp for Identity {
    fn forward(&self, _p: &OpParams, x: Value, _mode: Mode, _batch: usize) -> Value {
        x
    }
}

/// The supernet skips zero ops; run, one gives zeros of its input's shape (the IR's shape
/// rule for it).
impl TrainOp for Zero {
    fn forward(&self, _p: &OpParams, x: Value, _mode: Mode, _batch: usize) -> Value {
        x.scale(0.0)
    }
}

pub fn pool(
    x: Tensor<4>,
    kind: PoolKind,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Tensor<4> {
    match kind {
        PoolKind::Max if super::fused::fused_available(&x.device()) => {
            super::fused::max_pool2d(x, kernel, stride, padding)
        }
        PoolKind::Max => max_pool2d(
            x,
            MaxPoolOptions::new([kernel; 2])
                .with_stride([stride; 2])
                .with_padding([padding; 2]),
        ),
        // ONNX's AveragePool leaves padding out of the mean by default; so do we.
        PoolKind::Avg => avg_pool2d(
            x,
            AvgPoolOptions::new([kernel; 2])
                .with_stride([stride; 2])
                .with_padding([padding; 2])
                .with_count_include_pad(false),
        ),
    }
}
