//! The supernet on burn, built from a validated [`Family`]: every edge computes its kept ops,
//! mixes them by γ, and every vertex aggregates its edges, in topological order.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use ardent_models::structure::Relaxation;
use ardent_models::{Aggregation, Family, Op, Task};

use crate::gamma::constant;
use crate::outer::Reference;
pub use crate::value::Value;
use crate::value::values;

use crate::error::TrainError;
pub use crate::ops::OpParams;
use crate::ops::{Mode, train_op};

/// The learned parameters of one searched edge's q(γ) (see [`crate::gamma`]).
#[derive(Module, Debug)]
pub struct EdgeGamma {
    /// The logits θ, `[ops]`.
    pub theta: Param<Tensor<1>>,
    /// log σ of X, `[ops]`, for logit-normal edges only.
    pub log_sigma: Option<Param<Tensor<1>>>,
    /// ln s, the prior's log concentration, `[ops]`: a hyperparameter, learned.
    pub log_prior: Param<Tensor<1>>,
}

impl EdgeGamma {
    /// The prior at the spec's concentration s, and q(γ) equal to it: θ = ln s, and σ = 1
    /// for logit-normal.
    fn init(structure: &ardent_models::structure::Structure, device: &Device) -> EdgeGamma {
        let k = structure.concentration.len();
        let log_s = constant(
            structure.concentration.iter().map(|s| s.ln()).collect(),
            device,
        );
        EdgeGamma {
            theta: Param::from_tensor(log_s.clone()),
            log_prior: Param::from_tensor(log_s),
            log_sigma: (structure.relaxation == Relaxation::LogitNormal)
                .then(|| Param::from_tensor(Tensor::zeros([k], device))),
        }
    }

    /// The logits θ on the host, as [`ardent_models::structure::Structure::collapse`] takes
    /// them.
    pub fn logits(&self) -> Vec<f64> {
        values(self.theta.val())
            .iter()
            .map(|&v| f64::from(v))
            .collect()
    }

    /// The current q(γ) parameters as tensors.
    pub fn q(&self) -> crate::gamma::EdgeQ {
        crate::gamma::EdgeQ {
            theta: self.theta.val(),
            log_sigma: self.log_sigma.as_ref().map(Param::val),
            log_prior: self.log_prior.val(),
        }
    }
}

/// A family's supernet with variational weights.
#[derive(Module, Debug)]
pub struct Supernet {
    /// `ops[e][r]`: parameters of op `r` on edge `e`.
    pub ops: Vec<Vec<OpParams>>,
    /// Regression: log of the Gaussian noise variance per target.
    pub log_noise_var: Option<Param<Tensor<1>>>,
    /// Per edge: the variational parameters of a searched edge's q(γ) (`None` when fixed).
    pub gamma: Vec<Option<EdgeGamma>>,
    #[module(skip)]
    pub family: Family,
    /// Training progress in [0, 1], for the structure temperature schedules.
    #[module(skip)]
    pub progress: f64,
}

impl Supernet {
    /// Builds a freshly initialised supernet, its initial weights drawn after seeding the
    /// generator with `seed` (so the same seed gives the same net); searched edges start with
    /// q(γ) equal to their prior.
    ///
    /// The weights are drawn on flex whatever `device` is, then moved there: burn's generators
    /// differ between backends, and one seed giving one net on every device is what lets a GPU
    /// run be compared with a CPU run (`benches/gpu_check.sh`).
    pub fn new(family: &Family, device: &Device, seed: u64) -> Result<Supernet, TrainError> {
        let on_flex = device.clone().inner() == Device::flex();
        if on_flex {
            return Self::init(family, device, seed);
        }
        Ok(Self::init(family, &Device::flex(), seed)?.fork(device))
    }

    fn init(family: &Family, device: &Device, seed: u64) -> Result<Supernet, TrainError> {
        device.seed(seed);
        let ops = family
            .edges
            .iter()
            .map(|edge| {
                let input = &family.vertices[edge.from].shape;
                edge.ops
                    .iter()
                    .map(|op| train_op(op).init(input, device))
                    .collect()
            })
            .collect();
        let log_noise_var = match family.task {
            Task::Regression { targets } => {
                Some(Param::from_tensor(Tensor::zeros([targets], device)))
            }
            Task::Classification { .. } => None,
        };
        let gamma = family
            .edges
            .iter()
            .map(|edge| {
                edge.structure
                    .is_searched()
                    .then(|| EdgeGamma::init(&edge.structure, device))
            })
            .collect();
        Ok(Supernet {
            ops,
            log_noise_var,
            gamma,
            family: family.clone(),
            progress: 0.0,
        })
    }

    /// Runs a batch `[b, ...input shape]` through the supernet and returns `[b, outputs]`.
    pub fn forward(&self, x: Value, mode: Mode) -> Tensor<2> {
        self.forward_with_kl(x, mode, false).0
    }

    /// [`Supernet::forward`], and with `with_kl` in `Sample` mode also
    /// Σ KL(q(γ) ‖ p(γ)) over the searched edges, estimated at the very samples this pass
    /// used (`None` without searched edges or outside `Sample` mode).
    pub fn forward_with_kl(
        &self,
        x: Value,
        mode: Mode,
        with_kl: bool,
    ) -> (Tensor<2>, Option<Tensor<1>>) {
        let (out, kl, _) = self.forward_with_references(x, mode, with_kl, &[]);
        (out, kl)
    }

    /// [`Supernet::forward_with_kl`], plus Σ_p′ λ_p′ · Σ_edges KL(q(γ) ‖ p′) over the
    /// `references` at the same samples (`None` without references, searched edges or
    /// `Sample` mode).
    pub fn forward_with_references(
        &self,
        x: Value,
        mode: Mode,
        with_kl: bool,
        references: &[Reference],
    ) -> (Tensor<2>, Option<Tensor<1>>, Option<Tensor<1>>) {
        let f = &self.family;
        let batch = x.batch();
        let device = match &x {
            Value::Vector(t) => t.device(),
            Value::Image(t) => t.device(),
        };
        let add = |acc: &mut Option<Tensor<1>>, t: Tensor<1>| {
            *acc = Some(match acc.take() {
                None => t,
                Some(a) => a + t,
            });
        };
        let mut structure_kl: Option<Tensor<1>> = None;
        let mut reference_term: Option<Tensor<1>> = None;
        let sampled: Vec<Option<Tensor<1>>> = (0..f.edges.len())
            .map(|e| {
                let q = self.gamma[e].as_ref().filter(|_| mode == Mode::Sample)?;
                let structure = &f.edges[e].structure;
                let t = structure.temperature_at(self.progress);
                let (weights, logs): (Vec<f64>, Vec<Tensor<1>>) = references
                    .iter()
                    .filter_map(|r| {
                        let c = r.log_concentration.get(e)?.as_ref()?;
                        Some((r.weight, constant(c.clone(), &device)))
                    })
                    .unzip();
                let r = crate::gamma::sample(&q.q(), structure, t, with_kl, &logs);
                if let Some(kl) = r.kl {
                    add(&mut structure_kl, kl);
                }
                for (w, kl) in weights.into_iter().zip(r.reference_kls) {
                    add(&mut reference_term, kl.mul_scalar(w));
                }
                Some(r.gamma)
            })
            .collect();
        let mut values: Vec<Option<Value>> = vec![None; f.vertices.len()];
        values[ardent_models::INPUT] = Some(x);
        for &v in &f.order[1..] {
            let vertex = &f.vertices[v];
            let mut acc: Option<Value> = None;
            let mut parts = Vec::new();
            for &e in &vertex.incoming {
                let edge = &f.edges[e];
                let Some(input) = values[edge.from].clone() else {
                    continue;
                };
                let out = self.edge_forward(e, input, mode, sampled[e].clone(), batch, &device);
                if vertex.agg == Aggregation::Concat {
                    parts.push(out);
                } else {
                    acc = Some(match acc {
                        None => out,
                        Some(a) => a.add(out),
                    });
                }
            }
            let value = match vertex.agg {
                Aggregation::Sum => acc,
                Aggregation::Mean => acc.map(|a| a.scale(1.0 / vertex.incoming.len() as f64)),
                Aggregation::Concat => concat(parts),
            };
            values[v] = Some(value.unwrap_or_else(|| Value::zeros(batch, &vertex.shape, &device)));
        }
        let out = values[f.output]
            .take()
            .map(Value::into_vector)
            .unwrap_or_else(|| Tensor::zeros([batch, f.task.outputs()], &device));
        (out, structure_kl, reference_term)
    }

    /// γ of edge `e` when it is not sampled: the collapsed choice
    /// ([`ardent_models::structure::Structure::collapse`], exactly what the exporter writes).
    fn collapsed_gamma(&self, e: usize) -> Vec<f64> {
        let edge = &self.family.edges[e];
        let logits = self.gamma[e]
            .as_ref()
            .map(EdgeGamma::logits)
            .unwrap_or_default();
        let mut g = vec![0.0; edge.ops.len()];
        for (r, factor) in edge.structure.collapse(&edge.ops, &logits) {
            g[r] = factor;
        }
        g
    }

    fn edge_forward(
        &self,
        e: usize,
        input: Value,
        mode: Mode,
        sampled: Option<Tensor<1>>,
        batch: usize,
        device: &Device,
    ) -> Value {
        let edge = &self.family.edges[e];
        let fixed = match sampled {
            Some(_) => vec![1.0; edge.ops.len()],
            None => self.collapsed_gamma(e),
        };
        let mut acc: Option<Value> = None;
        for (r, op) in edge.ops.iter().enumerate() {
            if *op == Op::Zero || (sampled.is_none() && fixed[r] == 0.0) {
                continue;
            }
            let mut out = train_op(op)
                .forward(&self.ops[e][r], input.clone(), mode, batch)
                .pad_features(edge.shape.features());
            out = match &sampled {
                Some(g) => out.scale_by(g.clone().narrow(0, r, 1)),
                None if fixed[r] != 1.0 => out.scale(fixed[r]),
                None => out,
            };
            acc = Some(match acc {
                None => out,
                Some(a) => a.add(out),
            });
        }
        acc.unwrap_or_else(|| Value::zeros(batch, &edge.shape, device))
    }

    /// Σ KL over every variational weight, with each op's ARD precisions at their optimum;
    /// with `with_value` false the result carries the gradient only (its value is 0). The
    /// weights of ops that never run
    /// ([`never_runs`](ardent_models::structure::Structure::never_runs)) are left out.
    pub fn kl(&self, with_value: bool) -> Tensor<1> {
        let mut total: Option<Tensor<1>> = None;
        for (e, edge) in self.family.edges.iter().enumerate() {
            for (r, p) in self.ops[e].iter().enumerate() {
                if edge.structure.never_runs(r) {
                    continue;
                }
                let ard = &edge.ard[r];
                let kl = match p {
                    OpParams::Dense(d) => d.kl(ard, with_value),
                    OpParams::Conv(c) => c.kl(ard, with_value),
                    _ => continue,
                };
                total = Some(match total {
                    None => kl,
                    Some(t) => t + kl,
                });
            }
        }
        total.unwrap_or_else(|| {
            let device = self
                .log_noise_var
                .as_ref()
                .map(|p| p.val().device())
                .unwrap_or_else(Device::flex);
            Tensor::zeros([1], &device)
        })
    }
}

fn concat(parts: Vec<Value>) -> Option<Value> {
    let first = parts.first()?.clone();
    Some(match first {
        Value::Vector(_) => Value::Vector(Tensor::cat(
            parts.into_iter().map(Value::into_vector).collect(),
            1,
        )),
        Value::Image(_) => Value::Image(Tensor::cat(
            parts
                .into_iter()
                .filter_map(|p| match p {
                    Value::Image(t) => Some(t),
                    Value::Vector(_) => None,
                })
                .collect(),
            1,
        )),
    })
}
