//! The supernet on burn, built from a validated [`Family`]: every edge computes its kept ops,
//! mixes them by γ, and every vertex aggregates its edges, in topological order.

use burn::module::{Module, Param};
use burn::tensor::{Device, Tensor};

use ardent_models::{Aggregation, Family, Likelihood, Op, Task};

pub use crate::gamma::EdgeGamma;
use crate::gamma::constant;
use crate::outer::Reference;
pub use crate::value::Value;

use crate::error::TrainError;
pub use crate::ops::OpParams;
use crate::ops::{Mode, code, train_op};

/// A family's supernet with variational weights.
#[derive(Module, Debug)]
pub struct Supernet {
    /// `ops[e][r]`: parameters of op `r` on edge `e`.
    pub ops: Vec<Vec<OpParams>>,
    /// Regression and a Gaussian VAE: log of the Gaussian noise variance per target.
    pub log_noise_var: Option<Param<Tensor<1>>>,
    /// Per edge: the variational parameters of a searched edge's q(γ) (`None` when fixed).
    pub gamma: Vec<Option<EdgeGamma>>,
    #[module(skip)]
    pub family: Family,
    /// Training progress in [0, 1], for the structure temperature schedules.
    #[module(skip)]
    pub progress: f64,
    /// A Bernoulli VAE's data range `[low, high]`, which maps its inputs to reconstruction
    /// targets in [0, 1] (set from the training data; saved as `output.range`).
    #[module(skip)]
    pub output_range: Option<[f32; 2]>,
}

/// One forward pass: the output and the KL terms it sampled.
#[derive(Debug, Clone)]
pub struct Pass {
    /// `[batch, outputs]`.
    pub out: Tensor<2>,
    /// Σ KL(q(γ) ‖ p(γ)) over the searched edges and a VAE's gate, at this pass's samples
    /// (asked for, in `Sample` mode, with something searched).
    pub structure_kl: Option<Tensor<1>>,
    /// Σ_p′ λ_p′ · Σ_edges KL(q(γ) ‖ p′) over the references asked for.
    pub reference_kl: Option<Tensor<1>>,
    /// A VAE's KL(q(z | x) ‖ p(z)) per sample, `[batch]`.
    pub code_kl: Option<Tensor<1>>,
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
            Task::Regression { targets: n }
            | Task::Vae {
                features: n,
                likelihood: Likelihood::Gaussian,
            } => Some(Param::from_tensor(Tensor::zeros([n], device))),
            Task::Classification { .. }
            | Task::Vae {
                likelihood: Likelihood::Bernoulli,
                ..
            } => None,
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
            output_range: None,
        })
    }

    /// Runs a batch `[b, ...input shape]` through the supernet and returns `[b, outputs]`.
    pub fn forward(&self, x: Value, mode: Mode) -> Tensor<2> {
        self.forward_with_kl(x, mode, false).out
    }

    /// [`Supernet::forward`] with its KL terms; with `with_kl` in `Sample` mode also
    /// Σ KL(q(γ) ‖ p(γ)), estimated at the very samples this pass used.
    pub fn forward_with_kl(&self, x: Value, mode: Mode, with_kl: bool) -> Pass {
        self.forward_with_references(x, mode, with_kl, &[])
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
    ) -> Pass {
        let f = &self.family;
        let batch = x.batch();
        let device = match &x {
            Value::Vector(t) => t.device(),
            Value::Image(t) => t.device(),
        };
        let mut structure_kl: Option<Tensor<1>> = None;
        let mut reference_kl: Option<Tensor<1>> = None;
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
                    add(&mut reference_kl, kl.mul_scalar(w));
                }
                Some(r.gamma)
            })
            .collect();
        let mut code_kl = None;
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
                let out = match (&edge.ops[0], &self.ops[e][0]) {
                    (Op::Code(op), OpParams::Code(gate)) => {
                        let s = code::sample(
                            op,
                            gate,
                            input.into_vector(),
                            mode,
                            self.progress,
                            with_kl,
                        );
                        // γ is one structure for all the data, so its KL is spread over the
                        // training set as a searched edge's is; the code's is each sample's.
                        if let Some(kl) = s.gate_kl {
                            add(&mut structure_kl, kl);
                        }
                        code_kl = Some(s.kl);
                        Value::Vector(s.z)
                    }
                    _ => self.edge_forward(e, input, mode, sampled[e].clone(), batch, &device),
                };
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
        Pass {
            out,
            structure_kl,
            reference_kl,
            code_kl,
        }
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

/// Adds `t` to a running sum that may not have started.
fn add(acc: &mut Option<Tensor<1>>, t: Tensor<1>) {
    *acc = Some(match acc.take() {
        None => t,
        Some(a) => a + t,
    });
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
