//! Ops without weights: pooling and flatten (identity and zero need no code).

use burn::tensor::Tensor;
use burn::tensor::module::{avg_pool2d, max_pool2d};
use burn::tensor::ops::{AvgPoolOptions, MaxPoolOptions};

use ardent_models::PoolKind;

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

pub fn flatten(x: Tensor<4>) -> Tensor<2> {
    let [b, c, h, w] = x.dims();
    x.reshape([b, c * h * w])
}
