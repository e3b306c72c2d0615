//! `Mlp`: a chain of fully connected layers with constant weights, each with its bias and its
//! ReLU, as one op: `h₀ = x`, `hᵢ₊₁ = act(hᵢ · wᵢ + bᵢ)`.
//!
//! Why: in tract each product, bias and ReLU is an op of its own, and every op costs a fixed
//! amount per run (its inputs gathered, its output allocated and handed on). For the small
//! models ardent exports that fixed cost was most of a batch-1 run: a LeNet-300-100 with
//! 3.4 K kept weights ran nine ops for about 3.6 K multiply-adds (BENCHMARKS.md, "Whole
//! layer chains in ardent-run"). Here a layer's bias and ReLU are applied as its outputs are
//! stored, and the activations pass from layer to layer without leaving the op.
//!
//! Each layer keeps the form the rewrite chose for its weight: a [`SparseDense`] product for a
//! mostly-zero weight, a [`DenseProduct`] otherwise (sample by sample for a few samples,
//! tract-linalg's matrix kernels for more). Sums are those of the ops replaced, in another
//! order: equal to tract's up to f32 rounding.

use std::sync::Mutex;

use tract_nnef::tract_core::internal::*;

use super::dense::{DenseProduct, REPORTED_BATCH};
use super::sparse_dense::{Epilogue, SparseDense};

/// One layer of an [`Mlp`].
#[derive(Debug, Clone)]
pub enum Layer {
    /// A sparse product, then the bias (when there is one) and the ReLU (when `relu`).
    Sparse {
        product: SparseDense,
        bias: Option<Vec<f32>>,
        relu: bool,
    },
    /// A dense product with its bias and ReLU inside.
    Dense(DenseProduct),
}

impl PartialEq for Layer {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (
                Layer::Sparse {
                    product: a,
                    bias: ba,
                    relu: ra,
                },
                Layer::Sparse {
                    product: b,
                    bias: bb,
                    relu: rb,
                },
            ) => {
                // Bitwise on the bias, so that equality is reflexive (NaN) as `Eq` requires.
                let bits = |v: &Option<Vec<f32>>| {
                    v.as_ref()
                        .map(|v| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>())
                };
                a == b && ra == rb && bits(ba) == bits(bb)
            }
            (Layer::Dense(a), Layer::Dense(b)) => a == b,
            _ => false,
        }
    }
}

impl Eq for Layer {}

impl Layer {
    /// Input features.
    pub fn k(&self) -> usize {
        match self {
            Layer::Sparse { product, .. } => product.k(),
            Layer::Dense(d) => d.k(),
        }
    }

    /// Outputs.
    pub fn n(&self) -> usize {
        match self {
            Layer::Sparse { product, .. } => product.n(),
            Layer::Dense(d) => d.n(),
        }
    }

    /// Multiply-adds per sample: the kept weights of a sparse layer, every weight of a dense
    /// one.
    pub fn multiply_adds(&self) -> usize {
        match self {
            Layer::Sparse { product, .. } => product.nnz(),
            Layer::Dense(d) => d.k() * d.n(),
        }
    }

    /// Non-zero weights.
    pub fn kept(&self) -> usize {
        match self {
            Layer::Sparse { product, .. } => product.nnz(),
            Layer::Dense(d) => d.nnz(),
        }
    }

    /// `x` is `[m, k]`, `y` `[m, n]`; every value of `y` is written.
    fn compute(&self, x: &Tensor, y: &mut Tensor) -> TractResult<()> {
        match self {
            Layer::Sparse {
                product,
                bias,
                relu,
            } => {
                let epilogue = Epilogue {
                    bias: bias.as_deref(),
                    relu: *relu,
                };
                product.compute_with(
                    x.try_as_plain_ram()?.as_slice::<f32>()?,
                    y.try_as_plain_ram_mut()?.as_slice_mut::<f32>()?,
                    epilogue,
                );
            }
            Layer::Dense(d) => d.compute(x, y)?,
        }
        Ok(())
    }

    fn describe(&self) -> TractResult<String> {
        Ok(match self {
            Layer::Sparse {
                product,
                bias,
                relu,
            } => format!(
                "{}→{} sparse ({} kept){}{}",
                product.k(),
                product.n(),
                product.nnz(),
                if bias.is_some() { ", bias" } else { "" },
                if *relu { ", ReLU" } else { "" },
            ),
            Layer::Dense(d) => {
                let (single, batched) = d.kernel_names()?;
                format!(
                    "{}→{} dense (kernel {single} for one sample, {batched} for {REPORTED_BATCH}){}{}",
                    d.k(),
                    d.n(),
                    if d.has_bias() { ", bias" } else { "" },
                    if d.relu() { ", ReLU" } else { "" },
                )
            }
        })
    }
}

/// The chain of layers; input `[batch, k]` of the first, output `[batch, n]` of the last.
#[derive(Debug)]
pub struct Mlp {
    layers: Vec<Layer>,
    /// The hidden layers' outputs of the last run, reused by the next run of the same batch
    /// size: allocating them was a tenth of a batch-1 run.
    hidden: Mutex<Vec<Tensor>>,
}

impl Clone for Mlp {
    fn clone(&self) -> Self {
        Mlp {
            layers: self.layers.clone(),
            hidden: Mutex::new(Vec::new()),
        }
    }
}

impl PartialEq for Mlp {
    fn eq(&self, other: &Self) -> bool {
        self.layers == other.layers
    }
}

impl Eq for Mlp {}

impl Mlp {
    /// The chain of `layers`, each taking the previous one's outputs.
    pub fn new(layers: Vec<Layer>) -> TractResult<Mlp> {
        ensure!(!layers.is_empty(), "ArdentMlp: no layers");
        for (i, pair) in layers.windows(2).enumerate() {
            ensure!(
                pair[0].n() == pair[1].k(),
                "ArdentMlp: layer {i} gives {} values, layer {} takes {}",
                pair[0].n(),
                i + 1,
                pair[1].k()
            );
        }
        Ok(Mlp {
            layers,
            hidden: Mutex::new(Vec::new()),
        })
    }

    pub fn layers(&self) -> &[Layer] {
        &self.layers
    }

    /// Input features of the first layer.
    pub fn k(&self) -> usize {
        self.layers[0].k()
    }

    /// Outputs of the last layer.
    pub fn n(&self) -> usize {
        self.layers[self.layers.len() - 1].n()
    }

    /// Every layer on `x` (`[m, k]`), as `[m, n]`.
    pub fn compute(&self, x: &Tensor) -> TractResult<Tensor> {
        let m = x.shape()[0];
        let mut hidden = match self.hidden.lock() {
            Ok(mut h) => std::mem::take(&mut *h),
            // A run that panicked left at worst stale values where every run writes anew.
            Err(poisoned) => std::mem::take(&mut *poisoned.into_inner()),
        };
        let (last, inner) = self.layers.split_last().context("ArdentMlp: no layers")?;
        hidden.truncate(inner.len());
        for (i, layer) in inner.iter().enumerate() {
            let shape = [m, layer.n()];
            match hidden.get(i) {
                Some(h) if h.shape() == shape => {}
                Some(_) => hidden[i] = Tensor::zero::<f32>(&shape)?,
                None => hidden.push(Tensor::zero::<f32>(&shape)?),
            }
            let (before, at) = hidden.split_at_mut(i);
            let input = before.last().unwrap_or(x);
            layer.compute(input, &mut at[0])?;
        }
        let mut y = Tensor::zero::<f32>(&[m, last.n()])?;
        last.compute(hidden.last().unwrap_or(x), &mut y)?;
        if let Ok(mut h) = self.hidden.lock() {
            *h = hidden;
        }
        Ok(y)
    }
}

impl Op for Mlp {
    fn name(&self) -> StaticName {
        "ArdentMlp".into()
    }

    fn info(&self) -> TractResult<Vec<String>> {
        self.layers.iter().map(Layer::describe).collect()
    }

    op_as_typed_op!();
}

impl EvalOp for Mlp {
    op_out_of_plan!();

    fn eval(&self, _ctx: &EvalContext, inputs: TVec<TValue>) -> TractResult<TVec<TValue>> {
        let x = args_1!(inputs);
        let shape = x.shape();
        ensure!(
            shape.len() == 2 && shape[1] == self.k() && x.datum_type() == f32::datum_type(),
            "ArdentMlp: input {:?} of shape {shape:?}, f32 [batch, {}] expected",
            x.datum_type(),
            self.k()
        );
        Ok(tvec!(self.compute(&x)?.into_tvalue()))
    }
}

impl TypedOp for Mlp {
    fn output_facts(&self, inputs: &[&TypedFact]) -> TractResult<TVec<TypedFact>> {
        let x = inputs[0];
        ensure!(
            x.datum_type == f32::datum_type(),
            "ArdentMlp takes f32, not {:?}",
            x.datum_type
        );
        ensure!(
            x.rank() == 2 && x.shape[1] == self.k().to_dim(),
            "ArdentMlp: input fact {x:?}, [batch, {}] expected",
            self.k()
        );
        Ok(tvec!(f32::fact([x.shape[0].clone(), self.n().to_dim()])))
    }

    fn cost(&self, inputs: &[&TypedFact]) -> TractResult<TVec<(Cost, TDim)>> {
        let per_sample: usize = self.layers.iter().map(Layer::multiply_adds).sum();
        Ok(tvec!((
            Cost::FMA(f32::datum_type()),
            inputs[0].shape[0].clone() * per_sample
        )))
    }

    as_op!();
}
