//! AdaNet growth (Cortes et al. 2017; `docs/method.md` §7): boosting that grows a network one
//! subnetwork per round.
//!
//! The ensemble's output is f_t = Σ_j w_j h_j, the sum at the output vertex of a grown family
//! ([`Subnetworks`]). Round t trains two candidates beside the frozen ensemble f_{t−1}: a
//! subnetwork h as deep as the last one added and one a layer deeper (the first round: the
//! two shallowest, in an MLP chain depth 0, the head on the input alone, and depth 1; in a
//! conv chain the depths start at its flatten). Each trains variationally with ARD like any
//! fixed family, on the loss of f_{t−1} + h, so it learns the residual problem. Its mixture
//! weight w then minimises the objective
//!
//!   F(w) = (1/m) Σ_i Φ(f_{t−1}(x_i) + w h(x_i), y_i) + Σ_{j<t} Γ_j |w_j| + Γ_h |w|,
//!
//! with Φ the softmax cross-entropy (the multi-class form of the paper's logistic Φ) on the
//! training split and Γ = λ r + β, r = √(d + 1) for a subnetwork of d hidden layers and its
//! head. r stands for the depth-dependent complexity of the paper's Rademacher bound; the
//! square root of the depth is the paper's reference implementation's choice. F is convex in
//! w, so the minimiser is found by bisection on the derivative. The candidate with the lower F
//! joins the ensemble, w folded into its head; when neither lowers F (both minimisers are
//! w = 0), the growth stops. So F falls round by round.

use burn::module::Module;
use burn::tensor::Device;
use serde::Serialize;

use ardent_data::{Dataset, Targets};
use ardent_models::grow::Subnetworks;

use crate::data::{Prepared, batch_input};
use crate::error::TrainError;
use crate::ops::Mode;
use crate::supernet::Supernet;
use crate::train::{EpochMetrics, Run, Start, TrainConfig, evaluate, save, sparsity, train};
use crate::value::values;

/// How a growth runs: at most `rounds` rounds, each adding a subnetwork whose complexity
/// penalty is Γ = `lambda` · √(depth + 1) + `beta` per unit of |w|.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Growth {
    pub rounds: usize,
    pub lambda: f64,
    pub beta: f64,
}

/// λ unless told otherwise. Chosen on Fashion-MNIST (mlp-grow, candidates of 3 epochs, up to 3
/// rounds; BENCHMARKS.md, "AdaNet growth"): at 1e-2 (β 1e-3) the growth stopped after one
/// subnetwork, 86.65 % test accuracy exported; at 1e-3 (β 1e-4) it added three, 86.81 %; at 0,
/// three, 86.79 %. The cross-entropy gains of later subnetworks there are a few thousandths,
/// so a λ of 1e-2 stops what still helps, and 1e-3 stops only what no longer does.
pub const LAMBDA: f64 = 1e-3;
/// β unless told otherwise: a tenth of [`LAMBDA`], as measured with it.
pub const BETA: f64 = 1e-4;

/// The largest |w| a mixture weight takes. Without a penalty, on data a subnetwork separates,
/// F falls as w grows until its slope underflows to 0 in f64 (the weight then stops there,
/// where F is flat); this bounds the search should it not.
pub const MAX_WEIGHT: f64 = 1e3;

/// One candidate of a round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    /// Hidden layers of the subnetwork (0: the head alone).
    pub depth: usize,
    /// Γ, the penalty per unit of |w|.
    pub penalty: f64,
    pub mixture_weight: f64,
    /// F with this candidate added at its mixture weight.
    pub objective: f64,
    /// Validation accuracy of the ensemble with this candidate at its weight, pruned at λ (at
    /// w = 0, the ensemble's without it: `None` in the first round).
    pub valid_accuracy: Option<f64>,
    /// Weights of the ensemble with this candidate, and those that survive λ.
    pub weights: usize,
    pub weights_kept: usize,
}

/// One finished round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Round {
    /// From 0.
    pub round: usize,
    pub candidates: Vec<Candidate>,
    /// The candidate that joined the ensemble; `None`: neither lowered F, and growth stops.
    pub chosen: Option<usize>,
    /// F after the round.
    pub objective: f64,
    /// The depths of the ensemble's subnetworks after the round.
    pub depths: Vec<usize>,
}

/// The complexity r of a subnetwork of `depth` hidden layers and its head.
pub fn complexity(depth: usize) -> f64 {
    ((depth + 1) as f64).sqrt()
}

/// The mean softmax cross-entropy of `prev + w·h` over the samples (rows of `classes`
/// outputs) and its derivative in w.
pub fn cross_entropy(
    prev: &[f32],
    h: &[f32],
    labels: &[u32],
    classes: usize,
    w: f64,
) -> (f64, f64) {
    let (mut loss, mut slope) = (0.0, 0.0);
    let mut z = vec![0.0f64; classes];
    for ((p, hr), &y) in prev.chunks(classes).zip(h.chunks(classes)).zip(labels) {
        for c in 0..classes {
            z[c] = f64::from(p[c]) + w * f64::from(hr[c]);
        }
        let top = z.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let sum: f64 = z.iter().map(|v| (v - top).exp()).sum();
        loss += top + sum.ln() - z[y as usize];
        let expected: f64 = (0..classes)
            .map(|c| (z[c] - top).exp() / sum * f64::from(hr[c]))
            .sum();
        slope += expected - f64::from(hr[y as usize]);
    }
    let m = labels.len().max(1) as f64;
    (loss / m, slope / m)
}

/// The w minimising `cross_entropy(prev, h, …, w) + penalty · |w|` (convex in w), within
/// ±[`MAX_WEIGHT`]: 0 when the slope at 0 is within the penalty, otherwise the root of the
/// derivative on the descending side, bracketed by doubling and found by bisection.
pub fn mixture_weight(
    prev: &[f32],
    h: &[f32],
    labels: &[u32],
    classes: usize,
    penalty: f64,
) -> f64 {
    let slope = |w: f64| cross_entropy(prev, h, labels, classes, w).1;
    let s0 = slope(0.0);
    if s0.abs() <= penalty {
        return 0.0;
    }
    let dir = -s0.signum();
    // The objective's derivative at w = dir·t, t > 0: increasing in t, negative at 0.
    let along = |t: f64| dir * slope(dir * t) + penalty;
    let (mut lo, mut hi) = (0.0, 1.0);
    while along(hi) < 0.0 {
        lo = hi;
        hi *= 2.0;
        if hi >= MAX_WEIGHT {
            if along(MAX_WEIGHT) < 0.0 {
                return dir * MAX_WEIGHT;
            }
            hi = MAX_WEIGHT;
            break;
        }
    }
    for _ in 0..100 {
        let mid = 0.5 * (lo + hi);
        if along(mid) < 0.0 {
            lo = mid;
        } else {
            hi = mid;
        }
        if hi - lo <= 1e-12 * hi {
            break;
        }
    }
    dir * 0.5 * (lo + hi)
}

/// The net's outputs on every sample of `data` (posterior means pruned at λ), row by row.
fn outputs(net: &Supernet, data: &Dataset, lambda: f32, device: &Device) -> Vec<f32> {
    let idx: Vec<usize> = (0..data.len()).collect();
    let mut out = Vec::new();
    for chunk in idx.chunks(500) {
        let x = batch_input(data, chunk, device);
        out.extend(values(net.forward(
            x,
            Mode::Mean {
                prune: Some(lambda),
            },
        )));
    }
    out
}

/// `net` with the dense head on `edge` multiplied by `w`: q(w·W) = N(wμ, w²σ²), so every
/// weight's relative density, and with it what survives λ, is unchanged.
fn fold_weight(mut net: Supernet, edge: usize, w: f64) -> Supernet {
    let d = net.ops[edge][0]
        .dense_mut()
        .expect("Subnetworks::new admits dense heads only");
    d.mu = d.mu.clone().map(|t| t.mul_scalar(w));
    d.log_sigma2 = d.log_sigma2.clone().map(|t| t.add_scalar((w * w).ln()));
    d.bias = d.bias.take().map(|b| b.map(|t| t.mul_scalar(w)));
    net
}

/// A candidate trained, weighted and folded, with what the round compares.
struct Trained {
    net: Supernet,
    /// The ensemble's outputs on the training split with the candidate at its weight.
    outputs: Vec<f32>,
    report: Candidate,
}

/// Where a round stands: the ensemble so far and what the candidates are measured against.
struct Ensemble {
    depths: Vec<usize>,
    /// The net of the subnetworks added so far (`None` before the first).
    net: Option<Supernet>,
    /// Its outputs on the training split, row by row.
    outputs: Vec<f32>,
    /// Σ Γ_j |w_j| over the subnetworks added.
    penalty: f64,
    /// Its validation accuracy (`None` before the first subnetwork).
    valid_accuracy: Option<f64>,
}

/// What every candidate of a growth shares.
struct Setting<'a> {
    data: &'a Prepared,
    cfg: &'a TrainConfig,
    growth: &'a Growth,
    device: &'a Device,
    /// The training split's labels and the number of classes.
    labels: &'a [u32],
    classes: usize,
}

/// Trains the candidate subnetwork of `depth` beside the frozen `ensemble` (initial weights
/// from `seed`, its checkpoint at `run`'s, removed after), and weighs and folds it.
fn candidate(
    subnetworks: &Subnetworks,
    ensemble: &Ensemble,
    (depth, seed): (usize, u64),
    at: &Setting,
    run: Run,
    epoch_report: &mut dyn FnMut(&EpochMetrics),
) -> Result<Trained, TrainError> {
    let Setting {
        data,
        cfg,
        growth,
        device,
        labels,
        classes,
    } = *at;
    let depths: Vec<usize> = ensemble.depths.iter().copied().chain([depth]).collect();
    let family = subnetworks.grown(&depths)?;
    let mut net = Supernet::new(&family, device, seed)?;
    if let Some(e) = &ensemble.net {
        for (edge, ops) in e.ops.iter().enumerate() {
            net.ops[edge] = ops.clone();
        }
    }
    let candidate_cfg = TrainConfig {
        frozen_edges: ensemble.depths.iter().map(|d| d + 1).sum(),
        checkpoint_every: 0,
        ..cfg.clone()
    };
    let outcome = train(
        net,
        data,
        &candidate_cfg,
        &run,
        Start::default(),
        device,
        epoch_report,
    );
    let _ = std::fs::remove_file(&run.checkpoint);
    let net = outcome?.valid();
    let prev = &ensemble.outputs;
    let h: Vec<f32> = outputs(&net, &data.train, cfg.lambda, device)
        .iter()
        .zip(prev)
        .map(|(a, p)| a - p)
        .collect();
    let penalty = growth.lambda * complexity(depth) + growth.beta;
    let w = mixture_weight(prev, &h, labels, classes, penalty);
    let smooth = cross_entropy(prev, &h, labels, classes, w).0;
    let (kept, total, _) = sparsity(&net, cfg.lambda);
    // At w = 0 the candidate adds nothing: the ensemble is what it was.
    let (net, valid_accuracy) = if w == 0.0 {
        (net, ensemble.valid_accuracy)
    } else {
        let head = Subnetworks::edges_of(&depths, ensemble.depths.len()).end - 1;
        let net = fold_weight(net, head, w);
        let accuracy = evaluate(&net, &data.valid, Some(cfg.lambda), device).0;
        (net, accuracy)
    };
    Ok(Trained {
        outputs: prev
            .iter()
            .zip(&h)
            .map(|(p, h)| p + (w as f32) * h)
            .collect(),
        report: Candidate {
            depth,
            penalty,
            mixture_weight: w,
            objective: smooth + ensemble.penalty + penalty * w.abs(),
            valid_accuracy,
            weights: total,
            weights_kept: kept,
        },
        net,
    })
}

/// Grows an ensemble of `subnetworks` for up to `growth.rounds` rounds (each candidate
/// trained for `cfg.epochs`); after each round that adds a subnetwork, the ensemble's
/// checkpoint is written to `run.checkpoint`. The grown net is returned (without autodiff)
/// with the rounds. Classification only: Φ is the cross-entropy.
#[allow(clippy::too_many_arguments)]
pub fn grow(
    subnetworks: &Subnetworks,
    data: &Prepared,
    cfg: &TrainConfig,
    run: &Run,
    growth: &Growth,
    device: &Device,
    epoch_report: &mut dyn FnMut(&EpochMetrics),
    round_report: &mut dyn FnMut(&Round),
) -> Result<(Supernet, Vec<Round>), TrainError> {
    let Targets::Classes { labels, classes } = &data.train.targets else {
        return Err(TrainError::Config(
            "AdaNet growth minimises a classification loss: the task must be classification".into(),
        ));
    };
    if growth.rounds == 0 {
        return Err(TrainError::Config(
            "a growth needs at least one round".into(),
        ));
    }
    if !(growth.lambda >= 0.0 && growth.beta >= 0.0) {
        return Err(TrainError::Config(format!(
            "AdaNet's λ and β must be at least 0, got {} and {}",
            growth.lambda, growth.beta
        )));
    }
    // F of the empty ensemble: the cross-entropy of zero logits, ln(classes).
    let zeros = vec![0.0f32; labels.len() * classes];
    let mut objective = cross_entropy(&zeros, &zeros, labels, *classes, 0.0).0;
    let mut ensemble = Ensemble {
        depths: Vec::new(),
        net: None,
        outputs: zeros,
        penalty: 0.0,
        valid_accuracy: None,
    };
    let setting = Setting {
        data,
        cfg,
        growth,
        device,
        labels,
        classes: *classes,
    };
    let mut rounds = Vec::new();
    for round in 0..growth.rounds {
        // As deep as the last subnetwork added and the next depth the chain has (the two
        // shallowest in the first round).
        let at = ensemble
            .depths
            .last()
            .and_then(|last| subnetworks.depths().iter().position(|d| d == last))
            .unwrap_or(0);
        let depths: Vec<usize> = subnetworks.depths()[at..].iter().copied().take(2).collect();
        let mut trained = Vec::new();
        for (c, &depth) in depths.iter().enumerate() {
            let candidate_run = Run {
                checkpoint: run.scratch(&format!("round{round}.depth{depth}")),
                fresh_metrics: run.fresh_metrics && round == 0 && c == 0,
                ..run.clone()
            };
            let seed = cfg.seed.wrapping_add(1 + 2 * round as u64 + c as u64);
            trained.push(candidate(
                subnetworks,
                &ensemble,
                (depth, seed),
                &setting,
                candidate_run,
                epoch_report,
            )?);
        }
        let best = (0..trained.len())
            .min_by(|&a, &b| {
                let f = |i: usize| trained[i].report.objective;
                f(a).total_cmp(&f(b))
            })
            .expect("a round has at least one candidate");
        let chosen = (trained[best].report.mixture_weight != 0.0
            && trained[best].report.objective < objective)
            .then_some(best);
        let reports: Vec<Candidate> = trained.iter().map(|t| t.report.clone()).collect();
        if let Some(b) = chosen {
            let t = trained.swap_remove(b);
            objective = t.report.objective;
            ensemble = Ensemble {
                depths: ensemble
                    .depths
                    .iter()
                    .copied()
                    .chain([t.report.depth])
                    .collect(),
                net: Some(t.net),
                outputs: t.outputs,
                penalty: ensemble.penalty + t.report.penalty * t.report.mixture_weight.abs(),
                valid_accuracy: t.report.valid_accuracy,
            };
        }
        let done = Round {
            round,
            candidates: reports,
            chosen,
            objective,
            depths: ensemble.depths.clone(),
        };
        if let (Some(_), Some(net)) = (chosen, &ensemble.net) {
            let metrics = serde_json::to_value(&done).map_err(|error| TrainError::Record {
                what: "the round",
                error,
            })?;
            let at = Start {
                epoch: cfg.epochs,
                ..Start::default()
            };
            save(net, data, cfg, run, &at, metrics)?;
        }
        round_report(&done);
        rounds.push(done);
        if chosen.is_none() {
            break;
        }
    }
    let net = ensemble.net.ok_or_else(|| {
        TrainError::Config(
            "AdaNet: no subnetwork lowered the objective in the first round (its penalty λ·√(d+1) + β outweighs what it fits); nothing was written".into(),
        )
    })?;
    Ok((net, rounds))
}
