//! Search by trials over a family's discrete members: each trial draws one member, trains it
//! as a fixed family for the run's epochs, and is scored on the validation split; the best
//! trial's checkpoint is kept. How members are drawn is a [`Strategy`]: uniformly here (random
//! search, the baseline DARTS and the seed's NAS slide compare against; one op per simplex
//! edge, a fair coin per op in the cube), or by a learned policy (`controller.rs`).

use serde::Serialize;

use ardent_data::SplitMix64;
use ardent_models::Family;
use ardent_models::structure::Constraint;

use crate::data::Prepared;
use crate::error::TrainError;
use crate::supernet::Supernet;
use crate::train::{EpochMetrics, Run, TrainConfig, train};

/// One finished trial.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Trial {
    pub trial: usize,
    /// Per searched edge: its name and the ops the member keeps there.
    pub member: Vec<(String, Vec<String>)>,
    /// Parameters of the member, as the exporter writes it before pruning.
    pub member_params: u64,
    pub valid_accuracy: Option<f64>,
    pub valid_rmse: Option<f64>,
    pub valid_nll: f64,
    /// This trial is the best so far, and its checkpoint is at the run's path.
    pub best: bool,
    /// A learning strategy's policy after this trial: per searched edge, its name and each
    /// alternative (`Family::edge_alternatives`: its ops, joined by `+`, or `none`) with its
    /// probability; empty for random search.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub policy: Vec<EdgePolicy>,
}

/// A policy's distribution on one searched edge.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EdgePolicy {
    pub edge: String,
    /// Each alternative's ops (joined by `+`, or `none`) and probability.
    pub alternatives: Vec<(String, f64)>,
}

/// How a search by trials draws its members, and what it learns from their scores.
pub trait Strategy {
    /// The next trial's member: per edge a bit mask over its ops.
    fn draw(&mut self, family: &Family) -> Vec<u64>;
    /// The score (higher is better) the member last drawn got.
    fn learn(&mut self, _score: f64) {}
    /// The policy to report after a trial (empty: nothing learned).
    fn policy(&self, _family: &Family) -> Vec<EdgePolicy> {
        Vec::new()
    }
}

/// Random search's strategy: every member drawn uniformly, from a seeded stream.
#[derive(Debug, Clone)]
pub struct Uniform(pub SplitMix64);

impl Uniform {
    /// The stream random search draws from for a run of seed `seed`.
    pub fn for_seed(seed: u64) -> Uniform {
        Uniform(SplitMix64(seed ^ 0x0052_414E_444F_4D53))
    }
}

impl Strategy for Uniform {
    fn draw(&mut self, family: &Family) -> Vec<u64> {
        sample_member(family, &mut self.0)
    }
}

/// The ops of edge `e` that the bit mask `mask` keeps, described as the spec names them.
pub fn kept_ops(family: &Family, e: usize, mask: u64) -> Vec<String> {
    let ops = &family.edges[e].ops;
    (0..ops.len())
        .filter(|r| mask >> r & 1 == 1)
        .map(|r| ops[r].describe())
        .collect()
}

/// Draws a member: per edge a bit mask over its ops. Fixed edges keep what they have.
pub fn sample_member(family: &Family, rng: &mut SplitMix64) -> Vec<u64> {
    family
        .edges
        .iter()
        .enumerate()
        .map(|(e, edge)| {
            if !edge.structure.is_searched() {
                return family.edge_alternatives(e)[0];
            }
            let k = edge.ops.len();
            match edge.structure.constraint {
                Constraint::Simplex => 1 << (rng.next_u64() % k as u64),
                Constraint::Cube => rng.next_u64() & ((1u64 << k) - 1),
            }
        })
        .collect()
}

/// Higher is better: validation accuracy, or −RMSE for regression.
fn score(m: &EpochMetrics) -> f64 {
    match (m.valid_accuracy, m.valid_rmse) {
        (Some(a), _) => a,
        (_, Some(r)) => -r,
        _ => -m.valid_nll,
    }
}

/// Runs `trials` trials with members drawn by `strategy`; the best member's checkpoint ends
/// at `run.checkpoint`, written atomically when a trial beats the previous best. Trial t's
/// initial weights come from `cfg.seed + t`; the batches and noise from `cfg.seed`.
#[allow(clippy::too_many_arguments)]
pub fn search_by_trials(
    family: &Family,
    data: &Prepared,
    cfg: &TrainConfig,
    run: &Run,
    trials: usize,
    strategy: &mut dyn Strategy,
    device: &burn::tensor::Device,
    epoch_report: &mut dyn FnMut(&EpochMetrics),
    trial_report: &mut dyn FnMut(&Trial),
) -> Result<Vec<Trial>, TrainError> {
    let mut best = f64::NEG_INFINITY;
    let mut done = Vec::with_capacity(trials);
    for t in 0..trials {
        let choice = strategy.draw(family);
        let member = family.fixed_member(&choice).map_err(|e| {
            TrainError::Config(format!(
                "search trial {t}: member {choice:?} is invalid: {e}"
            ))
        })?;
        let scratch = run.scratch(&format!("trial{t}"));
        let trial_run = Run {
            checkpoint: scratch.clone(),
            metrics: run.metrics.clone(),
            // The trials share the file: the first starts it, the others follow.
            fresh_metrics: run.fresh_metrics && t == 0,
            progress: run.progress,
            data_name: run.data_name.clone(),
        };
        // The run's seed stays in the settings: it also fixed the validation split, which the
        // exporter rebuilds from the checkpoint.
        let trial_cfg = TrainConfig {
            checkpoint_every: 0,
            outer: None,
            ..cfg.clone()
        };
        let net = Supernet::new(&member, device, cfg.seed.wrapping_add(t as u64))?;
        let mut last = None;
        let outcome = train(
            net,
            data,
            &trial_cfg,
            &trial_run,
            Default::default(),
            device,
            &mut |m| {
                last = Some(m.clone());
                epoch_report(m);
            },
        );
        if let Err(e) = outcome {
            let _ = std::fs::remove_file(&scratch);
            return Err(e);
        }
        let Some(m) = last else {
            let _ = std::fs::remove_file(&scratch);
            return Err(TrainError::Config(
                "a search trial needs at least one epoch".into(),
            ));
        };
        strategy.learn(score(&m));
        let better = score(&m) > best;
        if better {
            best = score(&m);
            std::fs::rename(&scratch, &run.checkpoint).map_err(|error| {
                TrainError::Config(format!(
                    "cannot move {} to {}: {error}",
                    scratch.display(),
                    run.checkpoint.display()
                ))
            })?;
        } else {
            let _ = std::fs::remove_file(&scratch);
        }
        let trial = Trial {
            trial: t,
            member: family
                .edges
                .iter()
                .enumerate()
                .filter(|(_, edge)| edge.structure.is_searched())
                .map(|(e, _)| (family.edge_name(e), kept_ops(family, e, choice[e])))
                .collect(),
            member_params: family.member_cost(&choice).params as u64,
            valid_accuracy: m.valid_accuracy,
            valid_rmse: m.valid_rmse,
            valid_nll: m.valid_nll,
            best: better,
            policy: strategy.policy(family),
        };
        trial_report(&trial);
        done.push(trial);
    }
    Ok(done)
}
