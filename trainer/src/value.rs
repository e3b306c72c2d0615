//! What flows along the supernet's edges, and a tensor's values read back.

use burn::module::Param;
use burn::tensor::{Device, Tensor, TensorData};

use ardent_models::TensorF32;

use ardent_models::Shape;

/// A tensor's values in row-major order, as f32.
pub(crate) fn values<const D: usize>(t: Tensor<D>) -> Vec<f32> {
    t.into_data()
        .convert::<f32>()
        .try_into_vec::<f32>()
        .expect("converted to f32")
}

/// A value at a vertex: a batch of vectors or of images.
#[derive(Debug, Clone)]
pub enum Value {
    Vector(Tensor<2>),
    Image(Tensor<4>),
}

impl Value {
    pub(crate) fn batch(&self) -> usize {
        match self {
            Value::Vector(t) => t.dims()[0],
            Value::Image(t) => t.dims()[0],
        }
    }

    pub(crate) fn add(self, other: Value) -> Value {
        match (self, other) {
            (Value::Vector(a), Value::Vector(b)) => Value::Vector(a + b),
            (Value::Image(a), Value::Image(b)) => Value::Image(a + b),
            // Shape inference guarantees both sides agree.
            (a, _) => a,
        }
    }

    pub(crate) fn scale(self, s: f64) -> Value {
        match self {
            Value::Vector(t) => Value::Vector(t.mul_scalar(s)),
            Value::Image(t) => Value::Image(t.mul_scalar(s)),
        }
    }

    /// Multiplies by a one-element tensor (a sampled γ_r), keeping its gradient.
    pub(crate) fn scale_by(self, g: Tensor<1>) -> Value {
        match self {
            Value::Vector(t) => Value::Vector(t * g.reshape([1, 1])),
            Value::Image(t) => Value::Image(t * g.reshape([1, 1, 1, 1])),
        }
    }

    pub(crate) fn zeros(batch: usize, shape: &Shape, device: &Device) -> Value {
        match shape.0.as_slice() {
            [c, h, w] => Value::Image(Tensor::zeros([batch, *c, *h, *w], device)),
            _ => Value::Vector(Tensor::zeros([batch, shape.size()], device)),
        }
    }

    /// Zero-pads axis 1 (the feature axis) up to `width`.
    pub(crate) fn pad_features(self, width: usize) -> Value {
        match self {
            Value::Vector(t) => {
                let [b, f] = t.dims();
                if f >= width {
                    return Value::Vector(t);
                }
                let z = Tensor::zeros([b, width - f], &t.device());
                Value::Vector(Tensor::cat(vec![t, z], 1))
            }
            Value::Image(t) => {
                let [b, c, h, w] = t.dims();
                if c >= width {
                    return Value::Image(t);
                }
                let z = Tensor::zeros([b, width - c, h, w], &t.device());
                Value::Image(Tensor::cat(vec![t, z], 1))
            }
        }
    }

    pub fn into_vector(self) -> Tensor<2> {
        match self {
            Value::Vector(t) => t,
            Value::Image(t) => {
                let [b, c, h, w] = t.dims();
                t.reshape([b, c * h * w])
            }
        }
    }
}

/// A checkpoint tensor as a parameter of rank `D` (its stored shape; `D` is the layout's rank).
pub(crate) fn param<const D: usize>(t: &TensorF32, device: &Device) -> Param<Tensor<D>> {
    let mut shape = [0; D];
    shape.copy_from_slice(&t.shape[..D]);
    Param::from_tensor(Tensor::from_data(
        TensorData::new(t.data.clone(), shape),
        device,
    ))
}
