//! 2-D convolution on `[channels, height, width]` samples.

use crate::shape::Shape;

pub(super) fn check(channels: usize, kernel: usize, stride: usize) -> Result<(), String> {
    if channels == 0 {
        return Err("conv2d: channels must be at least 1".into());
    }
    if kernel == 0 {
        return Err("conv2d: kernel must be at least 1".into());
    }
    if stride == 0 {
        return Err("conv2d: stride must be at least 1".into());
    }
    Ok(())
}

/// Output side of a window sliding over `side` cells (ONNX's floor rule).
pub(crate) fn window_out(
    side: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Option<usize> {
    let padded = side + 2 * padding;
    (padded >= kernel).then(|| (padded - kernel) / stride + 1)
}

/// Output height and width of a square window over a `[channels, height, width]` input.
pub(crate) fn window_out_2d(
    input: &Shape,
    kernel: usize,
    stride: usize,
    padding: usize,
) -> Option<(usize, usize)> {
    Some((
        window_out(input.0[1], kernel, stride, padding)?,
        window_out(input.0[2], kernel, stride, padding)?,
    ))
}

pub(super) fn out_shape(
    channels: usize,
    kernel: usize,
    stride: usize,
    padding: usize,
    input: &Shape,
) -> Result<Shape, String> {
    if input.rank() != 3 {
        return Err(format!(
            "conv2d needs a [channels, height, width] input, got {input}"
        ));
    }
    match window_out_2d(input, kernel, stride, padding) {
        Some((oh, ow)) => Ok(Shape(vec![channels, oh, ow])),
        None => Err(format!(
            "conv2d: kernel {kernel} with padding {padding} does not fit input {input}"
        )),
    }
}

pub(super) fn params(in_channels: usize, channels: usize, kernel: usize, bias: bool) -> usize {
    in_channels * channels * kernel * kernel + if bias { channels } else { 0 }
}

pub(super) fn flops(in_channels: usize, kernel: usize, bias: bool, output: &Shape) -> u64 {
    let per_output = 2 * (in_channels * kernel * kernel) as u64 + u64::from(bias);
    per_output * output.size() as u64
}
