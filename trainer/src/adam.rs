//! Adam, with its state keyed so that a checkpoint can hold it, and fused into one pass over
//! each parameter on burn-flex.
//!
//! burn's `ModuleOptimizer` keys each parameter's state by its `ParamId`, which a net loaded
//! from a checkpoint draws afresh, so its state cannot follow the weights through a file.
//! [`Adam`] keys it by the parameter's path in the module (`ops.1.0.dense.mu`), which the same
//! family always gives the same parameter: [`Adam::moments`] and [`Adam::restore`] take it to
//! and from the checkpoint, and a resumed run continues exactly.
//!
//! burn's Adam updates a parameter through about a dozen tensor operations (the two moments,
//! the bias corrections, the square root, the division, the step), each allocating a
//! parameter-sized tensor and running on one thread; on LeNet-300-100 that was a sixth of a
//! training step. On flex the update is computed operation for operation in the same f32
//! arithmetic, in one pass split over rayon's threads, writing the parameter and both moments
//! in place when nothing else holds them. On any other device it is burn's Adam.

use std::collections::BTreeMap;

use burn::backend::tensor::FloatTensor;
use burn::backend::{Backend, Dispatch, Flex, backend_extension};
use burn::module::{Module, ModuleMapper, ModuleVisitor, Param};
use burn::optim::{
    AdamConfig, AdamState, AdaptiveMomentumState, GradientsParams, LearningRate, Optimizer,
};
use burn::tensor::{Device, Tensor, TensorData};
use rayon::prelude::*;

use ardent_models::{Moments, TensorF32};

use crate::error::TrainError;
use crate::ops::fused::fused_available;
use crate::value::values;

/// Elements per parallel task.
const CHUNK: usize = 16 * 1024;

/// burn's defaults (`AdamConfig`): β1, β2, ε.
const BETA_1: f32 = 0.9;
const BETA_2: f32 = 0.999;
const EPSILON: f32 = 1e-5;

/// One parameter's state: the steps it has taken and its moments, flattened.
#[derive(Debug, Clone)]
struct State {
    steps: usize,
    shape: Vec<usize>,
    moment_1: Tensor<1>,
    moment_2: Tensor<1>,
}

/// Adam (β1 0.9, β2 0.999, ε 1e-5, no weight decay) over the parameters of a module that have
/// a gradient, its state keyed by parameter path; fused on flex, burn's elsewhere.
#[derive(Debug, Clone, Default)]
pub struct Adam {
    state: BTreeMap<String, State>,
}

impl Adam {
    /// Steps every parameter of `module` that `grads` holds a gradient for, at learning rate
    /// `lr`; the others are left as they are.
    pub fn step<M: Module>(
        &mut self,
        lr: LearningRate,
        module: M,
        mut grads: GradientsParams,
    ) -> M {
        module.map(&mut Stepper {
            path: Vec::new(),
            grads: &mut grads,
            state: &mut self.state,
            lr,
        })
    }

    /// The state, keyed `{group}.{path}`, for a checkpoint.
    pub fn moments(&self, group: &str) -> BTreeMap<String, Moments> {
        let tensor =
            |t: &Tensor<1>, shape: &[usize]| TensorF32::new(shape.to_vec(), values(t.clone()));
        self.state
            .iter()
            .map(|(path, s)| {
                (
                    format!("{group}.{path}"),
                    Moments {
                        steps: s.steps as u64,
                        moment_1: tensor(&s.moment_1, &s.shape),
                        moment_2: tensor(&s.moment_2, &s.shape),
                    },
                )
            })
            .collect()
    }

    /// The optimizer of `group` as `stored` (a checkpoint's state, keyed as
    /// [`moments`](Self::moments) writes it) holds it, for the parameters of `module` on
    /// `device`. A stored path that is not a parameter of `module`, or whose moments are not
    /// the parameter's shape, is an error.
    pub fn restore<M: Module>(
        group: &str,
        stored: &BTreeMap<String, Moments>,
        module: &M,
        device: &Device,
    ) -> Result<Adam, TrainError> {
        let mut shapes = Shapes::default();
        module.visit(&mut shapes);
        let prefix = format!("{group}.");
        let mut state = BTreeMap::new();
        for (key, m) in stored {
            let Some(path) = key.strip_prefix(&prefix) else {
                continue;
            };
            let bad =
                |why: String| TrainError::Config(format!("the optimizer state of `{key}` {why}"));
            let Some(shape) = shapes.found.get(path) else {
                return Err(bad("belongs to no parameter of the model".into()));
            };
            if &m.moment_1.shape != shape || &m.moment_2.shape != shape {
                return Err(bad(format!(
                    "has shape {:?}, but the parameter's is {shape:?}",
                    m.moment_1.shape
                )));
            }
            let flat = |t: &TensorF32| {
                Tensor::<1>::from_data(TensorData::new(t.data.clone(), [t.data.len()]), device)
            };
            state.insert(
                path.to_string(),
                State {
                    steps: usize::try_from(m.steps)
                        .map_err(|_| bad(format!("counts {} steps", m.steps)))?,
                    shape: shape.clone(),
                    moment_1: flat(&m.moment_1),
                    moment_2: flat(&m.moment_2),
                },
            );
        }
        Ok(Adam { state })
    }
}

/// The paths and shapes of a module's float parameters.
#[derive(Default)]
struct Shapes {
    path: Vec<String>,
    found: BTreeMap<String, Vec<usize>>,
}

/// A module path's segment: struct fields are lowercase already, and an enum's variant
/// (`OpParams::Dense`) reads as the checkpoint's names do (`ops.1.0.dense.mu`).
fn segment(name: &str) -> String {
    name.to_lowercase()
}

impl ModuleVisitor for Shapes {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(segment(name));
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }

    fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
        self.found
            .insert(self.path.join("."), param.val().dims().to_vec());
    }
}

/// One Adam step over a module, parameter by parameter.
struct Stepper<'a> {
    path: Vec<String>,
    grads: &'a mut GradientsParams,
    state: &'a mut BTreeMap<String, State>,
    lr: LearningRate,
}

impl ModuleMapper for Stepper<'_> {
    fn enter_module(&mut self, name: &str, _container: &str) {
        self.path.push(segment(name));
    }

    fn exit_module(&mut self, _name: &str, _container: &str) {
        self.path.pop();
    }

    fn map_float<const D: usize>(&mut self, param: Param<Tensor<D>>) -> Param<Tensor<D>> {
        let (id, tensor, mapper) = param.consume();
        let Some(grad) = self.grads.remove::<D>(id) else {
            return Param::from_mapped_value(id, tensor, mapper);
        };
        let key = self.path.join(".");
        let require_grad = tensor.is_require_grad();
        let (updated, state) = update(self.lr, tensor.inner(), grad, self.state.remove(&key));
        self.state.insert(key, state);
        let mut updated = Tensor::from_inner(updated);
        if require_grad {
            updated = updated.require_grad();
        }
        Param::from_mapped_value(id, updated, mapper)
    }
}

/// One Adam step of `param` (without autodiff) by `grad`, from `state` (`None` before the
/// first step).
fn update<const D: usize>(
    lr: LearningRate,
    param: Tensor<D>,
    grad: Tensor<D>,
    state: Option<State>,
) -> (Tensor<D>, State) {
    let dims = param.dims();
    let n = dims.iter().product::<usize>();
    let shaped = |t: Tensor<1>| t.reshape(dims);
    let (steps, m1, m2) = match state {
        Some(s) => (s.steps, Some(shaped(s.moment_1)), Some(shaped(s.moment_2))),
        None => (0, None, None),
    };
    let (param, steps, m1, m2) = if fused_available(&param.device()) {
        // A first step is the general one from zero moments: β·0 + x is x exactly.
        let m1 = m1.unwrap_or_else(|| grad.zeros_like());
        let m2 = m2.unwrap_or_else(|| grad.zeros_like());
        let (p, m1, m2) = <Dispatch as AdamOps>::adam_update(
            param.into_dispatch(),
            grad.into_dispatch(),
            m1.into_dispatch(),
            m2.into_dispatch(),
            AdamStep::new(lr, steps + 1),
        );
        (
            Tensor::from_dispatch(p),
            steps + 1,
            Tensor::<D>::from_dispatch(m1),
            Tensor::<D>::from_dispatch(m2),
        )
    } else {
        let plain = AdamConfig::new()
            .with_beta_1(BETA_1)
            .with_beta_2(BETA_2)
            .with_epsilon(EPSILON)
            .build();
        let before = match (m1, m2) {
            (Some(a), Some(b)) => Some(AdamState::new(AdaptiveMomentumState::new(steps, a, b))),
            _ => None,
        };
        let (p, after) = plain.step(lr, param, grad, before);
        let m = after.expect("burn's Adam returns its state").momentum;
        (p, m.time, m.moment_1, m.moment_2)
    };
    let state = State {
        steps,
        shape: dims.to_vec(),
        moment_1: m1.reshape([n]),
        moment_2: m2.reshape([n]),
    };
    (param, state)
}

/// One step's constants, as burn's Adam derives them from the step count `t`.
#[derive(Debug, Clone, Copy)]
pub struct AdamStep {
    /// The learning rate, in f32 as burn's `mul_scalar` takes it.
    pub lr: f32,
    /// √(1 − β2ᵗ) / (1 − β1ᵗ).
    pub combined: f32,
    /// ε √(1 − β2ᵗ).
    pub epsilon: f32,
}

impl AdamStep {
    /// The constants of step `time` (1 for the first) at learning rate `lr`.
    pub fn new(lr: LearningRate, time: usize) -> AdamStep {
        let t = i32::try_from(time).unwrap_or(i32::MAX);
        let bias_correction2_sqrt = (1.0 - BETA_2.powi(t)).sqrt();
        AdamStep {
            lr: lr as f32,
            combined: bias_correction2_sqrt / (1.0 - BETA_1.powi(t)),
            epsilon: EPSILON * bias_correction2_sqrt,
        }
    }
}

#[backend_extension(Flex)]
pub trait AdamOps: Backend {
    /// One Adam step of `param` by `grad` with moments `moment_1` and `moment_2` (all of one
    /// shape): returns the new parameter and moments.
    fn adam_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        step: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>);
}

/// `t` as a row-major buffer that is all of its storage, so `storage_mut` writes exactly its
/// values (in place when nothing else holds the buffer, on a copy otherwise).
fn owned(t: FloatTensor<Flex>) -> FloatTensor<Flex> {
    let whole = t.as_slice::<f32>().map(<[f32]>::len) == Some(t.bytes().len() / 4);
    if whole { t } else { t.to_contiguous() }
}

impl AdamOps for Flex {
    fn adam_update(
        param: FloatTensor<Self>,
        grad: FloatTensor<Self>,
        moment_1: FloatTensor<Self>,
        moment_2: FloatTensor<Self>,
        s: AdamStep,
    ) -> (FloatTensor<Self>, FloatTensor<Self>, FloatTensor<Self>) {
        let (mut p, mut m1, mut m2) = (owned(param), owned(moment_1), owned(moment_2));
        let grad = owned(grad);
        let g = grad
            .as_slice::<f32>()
            .expect("the fused Adam takes f32 tensors (flex's float type)");
        let n = g.len();
        assert!(
            p.layout().shape().num_elements() == n
                && m1.layout().shape().num_elements() == n
                && m2.layout().shape().num_elements() == n,
            "Adam: the parameter, its gradient and its moments differ in size"
        );
        let (ps, m1s, m2s) = (
            p.storage_mut::<f32>(),
            m1.storage_mut::<f32>(),
            m2.storage_mut::<f32>(),
        );
        let (one_minus_b1, one_minus_b2) = (1.0 - BETA_1, 1.0 - BETA_2);
        ps[..n]
            .par_chunks_mut(CHUNK)
            .zip(m1s[..n].par_chunks_mut(CHUNK))
            .zip(m2s[..n].par_chunks_mut(CHUNK))
            .zip(g.par_chunks(CHUNK))
            .for_each(|(((p, m1), m2), g)| {
                let len = p.len();
                let (m1, m2, g) = (&mut m1[..len], &mut m2[..len], &g[..len]);
                // burn's sequence of operations, each rounded to f32 as burn's ops round it.
                for i in 0..len {
                    let a = m1[i] * BETA_1 + g[i] * one_minus_b1;
                    let b = m2[i] * BETA_2 + (g[i] * g[i]) * one_minus_b2;
                    m1[i] = a;
                    m2[i] = b;
                    let update = (a * s.combined) / (b.sqrt() + s.epsilon);
                    p[i] -= update * s.lr;
                }
            });
        (p, m1, m2)
    }
}
