//! The training loop: Adam on the inner objective, per-epoch metrics as JSON lines,
//! atomic checkpoints, resumption, and fine-tuning of a collapsed model.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use burn::module::{Module, ModuleVisitor, Param, ParamId};
use burn::optim::GradientsParams;
use burn::tensor::{Device, Tensor};
use serde::{Deserialize, Serialize};

use ardent_data::{Dataset, SplitMix64, shuffle};
use ardent_models::{Checkpoint, CheckpointMeta, Family, Moments, Task, checkpoint::FORMAT};

use crate::adam::Adam;
use crate::bilevel::{self, NetProblem, OuterConfig, hypergradient};
use crate::convert::{from_tensors, to_tensors};
use crate::data::{
    Augment, BatchTargets, Prepared, batch_input, batch_input_augmented, batch_targets,
};
use crate::error::TrainError;
use crate::objective::{Objective, batch_loss, pass_nll};
use crate::ops::{Mode, OpParams, keep, kept_mask};
use crate::supernet::{Supernet, Value};
use crate::value::values;

/// How the learning rate moves over the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LrSchedule {
    Constant,
    /// Cosine decay from the base rate to 0 at the last step.
    Cosine,
}

/// Everything that defines a run; stored in checkpoints so `--resume` continues the same run.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrainConfig {
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub lr_schedule: LrSchedule,
    pub seed: u64,
    pub objective: Objective,
    /// Pruning threshold for the metrics (ρ ≤ λ survives); 0.975 ⇔ log α = 3.
    pub lambda: f32,
    pub valid_fraction: f64,
    /// Write a checkpoint every this many epochs (and always at the end); 0: only at the end.
    pub checkpoint_every: usize,
    /// Fine-tuning: train μ of the surviving weights only, structure and masks fixed.
    pub finetune: bool,
    /// Adam's learning rate for the structure logits θ of searched edges (their own
    /// optimizer, constant schedule).
    #[serde(default = "default_gamma_lr")]
    pub gamma_lr: f64,
    /// Adam's learning rate for a VAE code's gate logits (the structure's optimizer, constant
    /// schedule).
    #[serde(default = "default_gate_lr")]
    pub gate_lr: f64,
    /// Epochs at the start during which θ is sampled but not updated, so the candidates'
    /// weights warm up before the structure moves (as DARTS does).
    #[serde(default)]
    pub search_warmup: usize,
    /// The outer problem on the validation split, stepped before every inner step; `None`:
    /// one level, every variable follows the inner objective.
    #[serde(default)]
    pub outer: Option<OuterConfig>,
    /// Image augmentation of training batches (`--augment`); none by default.
    #[serde(default)]
    pub augment: Augment,
    /// The first this many edges keep their parameters: a growth's earlier subnetworks
    /// (`adanet.rs`), which the new one is trained beside. 0: every edge trains.
    #[serde(default)]
    pub frozen_edges: usize,
}

fn default_gamma_lr() -> f64 {
    3e-3
}

/// Measured on `vae-fashion` (BENCHMARKS.md, "A VAE with ARD on its code"): at 3e-3, the
/// searched edges' rate, 20 epochs shut 2 of the 12 dimensions that carry nothing; at 3e-2, 11
/// of them, at no cost in the ELBO.
pub fn default_gate_lr() -> f64 {
    3e-2
}

/// A setting of [`TrainConfig`] that a resumed run asked for with another value than its
/// checkpoint holds.
#[derive(Debug, Clone, PartialEq)]
pub struct ChangedSetting {
    /// The field's name, as the CLI's option is named (`kl_weight` for `--kl-weight`); the
    /// outer problem's settings are one, `outer`.
    pub name: &'static str,
    pub asked: String,
    pub stored: String,
}

impl TrainConfig {
    /// The run `saved` continues as, resumed: its own settings, except the ones a resumed run
    /// may change (`epochs`, and `checkpoint_every` where given). Every other setting in
    /// `given` (by field name, as in [`ChangedSetting::name`]; other names are not settings
    /// it holds and are passed over) whose value in `self`, the
    /// settings asked for, differs from the stored one is an error: continuing with it changed
    /// would be another run under the old one's name, and dropping it would ignore what was
    /// asked for.
    pub fn resumed(
        &self,
        saved: &TrainConfig,
        given: &[&str],
    ) -> Result<TrainConfig, Vec<ChangedSetting>> {
        let asked = |name: &str| given.contains(&name);
        let mut changed = Vec::new();
        let mut compare = |name: &'static str, now: String, then: String| {
            if asked(name) && now != then {
                changed.push(ChangedSetting {
                    name,
                    asked: now,
                    stored: then,
                });
            }
        };
        let lower = |d: &dyn std::fmt::Debug| format!("{d:?}").to_lowercase();
        compare(
            "batch_size",
            self.batch_size.to_string(),
            saved.batch_size.to_string(),
        );
        compare("lr", self.lr.to_string(), saved.lr.to_string());
        compare(
            "lr_schedule",
            lower(&self.lr_schedule),
            lower(&saved.lr_schedule),
        );
        compare("seed", self.seed.to_string(), saved.seed.to_string());
        compare(
            "preset",
            lower(&self.objective.preset),
            lower(&saved.objective.preset),
        );
        compare(
            "kl_weight",
            self.objective.kl_weight.to_string(),
            saved.objective.kl_weight.to_string(),
        );
        compare(
            "warmup",
            self.objective.warmup_epochs.to_string(),
            saved.objective.warmup_epochs.to_string(),
        );
        compare("lambda", self.lambda.to_string(), saved.lambda.to_string());
        compare(
            "valid_fraction",
            self.valid_fraction.to_string(),
            saved.valid_fraction.to_string(),
        );
        compare(
            "gamma_lr",
            self.gamma_lr.to_string(),
            saved.gamma_lr.to_string(),
        );
        compare(
            "gate_lr",
            self.gate_lr.to_string(),
            saved.gate_lr.to_string(),
        );
        compare(
            "search_warmup",
            self.search_warmup.to_string(),
            saved.search_warmup.to_string(),
        );
        compare(
            "augment",
            format!("{:?}", self.augment),
            format!("{:?}", saved.augment),
        );
        compare(
            "outer",
            format!("{:?}", self.outer),
            format!("{:?}", saved.outer),
        );
        if !changed.is_empty() {
            return Err(changed);
        }
        Ok(TrainConfig {
            epochs: self.epochs,
            checkpoint_every: if asked("checkpoint_every") {
                self.checkpoint_every
            } else {
                saved.checkpoint_every
            },
            ..saved.clone()
        })
    }
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            epochs: 10,
            batch_size: 100,
            lr: 1e-3,
            lr_schedule: LrSchedule::Constant,
            seed: 42,
            objective: Objective::preset(crate::objective::Preset::Elbo),
            lambda: ardent_models::DEFAULT_LAMBDA as f32,
            valid_fraction: ardent_models::DEFAULT_VALID_FRACTION,
            checkpoint_every: 1,
            finetune: false,
            gamma_lr: default_gamma_lr(),
            gate_lr: default_gate_lr(),
            search_warmup: 0,
            outer: None,
            augment: Augment::default(),
            frozen_edges: 0,
        }
    }
}

/// One epoch's metrics (one JSON line each).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EpochMetrics {
    pub epoch: usize,
    pub step: u64,
    /// The training objective per sample: `nll` + `kl_weight` · `kl` / training samples.
    pub loss: f64,
    /// Mean NLL of the epoch's training batches (sampled forward).
    pub nll: f64,
    /// Σ KL over all weights at the end of the epoch (not divided by the sample count).
    pub kl: f64,
    pub kl_weight: f64,
    pub lr: f64,
    /// Accuracy of the sampled training forward (classification).
    pub train_accuracy: Option<f64>,
    /// Accuracy on the validation split with posterior means and pruning at λ.
    pub valid_accuracy: Option<f64>,
    /// RMSE on the validation split (regression).
    pub valid_rmse: Option<f64>,
    pub valid_nll: f64,
    /// Weights with ρ ≤ λ, and all variational weights.
    pub weights_kept: usize,
    pub weights_total: usize,
    /// Per parametric op: `edge op r`, live output units, all output units.
    pub live_units: Vec<(String, usize, usize)>,
    /// Training samples per second of the epoch's steps (evaluation not counted).
    pub samples_per_second: f64,
    /// Wall time of the epoch: its steps and the evaluation after them.
    #[serde(default)]
    pub seconds: f64,
    /// Per searched edge: γ's probabilities, their entropy and the ops it collapses to now.
    #[serde(default)]
    pub structure: Vec<EdgeStructure>,
    /// Parameters of the discrete member the family collapses to now, for searched families
    /// (counted as the exporter writes a member before pruning).
    #[serde(default)]
    pub member_params: Option<u64>,
    /// KL(q(γ) ‖ p(γ)) summed over searched edges, averaged over the epoch's batches (each a
    /// one-sample estimate where no closed form exists); absent at KL weight 0.
    #[serde(default)]
    pub structure_kl: Option<f64>,
    /// A VAE's code: its dimensions and those its gate keeps now.
    #[serde(default)]
    pub code: Option<CodeMetrics>,
}

/// Where a VAE's code stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CodeMetrics {
    pub dims: usize,
    /// The dimensions the gate collapses to now: those the export keeps.
    pub kept: usize,
    /// The gate's probabilities, sigmoid(θ) per dimension (its γ when fixed).
    pub gate: Vec<f64>,
}

/// The code of a VAE supernet, `None` for other tasks.
pub fn code_metrics(net: &Supernet) -> Option<CodeMetrics> {
    let site = net.family.code_site()?;
    let logits = match &net.ops[site.edge][0] {
        OpParams::Code(g) => g.q.as_ref().map(|q| q.logits()).unwrap_or_default(),
        _ => Vec::new(),
    };
    Some(CodeMetrics {
        dims: site.dims,
        kept: site.gate.collapse_gate(site.dims, &logits).len(),
        gate: site.gate.probabilities(&logits),
    })
}

/// Where one searched edge stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EdgeStructure {
    pub edge: String,
    /// softmax(θ) on the simplex, sigmoid(θ_r) in the cube.
    pub gamma: Vec<f64>,
    /// Entropy of γ (simplex), or the sum of the per-op binary entropies (cube), in nats.
    pub entropy: f64,
    /// The ops the edge collapses to now (empty: the edge would be dropped).
    pub picked: Vec<String>,
}

/// The structure part of the metrics: each searched edge, and the current member's size.
pub fn structure_metrics(net: &Supernet) -> (Vec<EdgeStructure>, Option<u64>) {
    let f = &net.family;
    let mut edges = Vec::new();
    let mut choice = Vec::with_capacity(f.edges.len());
    for (e, edge) in f.edges.iter().enumerate() {
        let Some(theta) = &net.gamma[e] else {
            choice.push(edge.structure.collapse_mask(&edge.ops, &[]));
            continue;
        };
        let logits = theta.logits();
        let gamma = edge.structure.probabilities(&logits);
        let h = |p: f64| if p > 0.0 { -p * p.ln() } else { 0.0 };
        let entropy = match edge.structure.constraint {
            ardent_models::structure::Constraint::Simplex => gamma.iter().map(|&p| h(p)).sum(),
            ardent_models::structure::Constraint::Cube => {
                gamma.iter().map(|&p| h(p) + h(1.0 - p)).sum()
            }
        };
        let picked = edge
            .structure
            .collapse(&edge.ops, &logits)
            .iter()
            .map(|(r, _)| edge.ops[*r].describe())
            .collect();
        choice.push(edge.structure.collapse_mask(&edge.ops, &logits));
        edges.push(EdgeStructure {
            edge: f.edge_name(e),
            gamma,
            entropy,
            picked,
        });
    }
    let params = (!edges.is_empty()).then(|| f.member_cost(&choice).params as u64);
    (edges, params)
}

/// Where a run starts and where it writes.
#[derive(Debug, Clone)]
pub struct Run {
    pub checkpoint: PathBuf,
    /// Where every epoch's metrics go as JSON lines.
    pub metrics: Option<PathBuf>,
    /// A new run from epoch 0 empties the metrics file at its first line (a second run to the
    /// same file does not mix with the first); otherwise lines are appended, and a resumed run
    /// first drops those past its checkpoint.
    pub fresh_metrics: bool,
    pub progress: bool,
    pub data_name: String,
}

impl Run {
    /// A hidden path beside the checkpoint, told apart by `tag`: a search's trial or candidate
    /// trains there, so that moving the one kept into place is an atomic rename.
    pub fn scratch(&self, tag: &str) -> PathBuf {
        let name = self
            .checkpoint
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_else(|| "checkpoint".into());
        self.checkpoint.with_file_name(format!(".{name}.{tag}"))
    }
}

fn lr_at(cfg: &TrainConfig, step: u64, total: u64) -> f64 {
    match cfg.lr_schedule {
        LrSchedule::Constant => cfg.lr,
        LrSchedule::Cosine => {
            let t = (step as f64 / total.max(1) as f64).min(1.0);
            cfg.lr * 0.5 * (1.0 + (std::f64::consts::PI * t).cos())
        }
    }
}

/// Counts surviving weights and live output units per parametric op at threshold λ. Ops
/// that never run (a fixed edge gives them γ = 0) are not counted.
pub fn sparsity(net: &Supernet, lambda: f32) -> (usize, usize, Vec<(String, usize, usize)>) {
    let f = &net.family;
    let (mut kept, mut total) = (0, 0);
    let mut live = Vec::new();
    for (e, ops) in net.ops.iter().enumerate() {
        let structure = &f.edges[e].structure;
        for (r, p) in ops.iter().enumerate() {
            if structure.never_runs(r) {
                continue;
            }
            // Masks as [out, fan_in] rows.
            let (mask, out_units): (Vec<f32>, usize) = match p {
                OpParams::Dense(d) => {
                    let k = kept_mask(&d.mu.val(), &d.log_sigma2.val(), d.mask.as_ref(), lambda);
                    (values(k.transpose()), d.mu.dims()[1])
                }
                OpParams::Conv(c) => {
                    let k = kept_mask(&c.mu.val(), &c.log_sigma2.val(), c.mask.as_ref(), lambda);
                    (values(k), c.mu.dims()[0])
                }
                _ => continue,
            };
            let fan_in = mask.len() / out_units;
            let k = mask.iter().filter(|&&v| v > 0.5).count();
            let alive = mask
                .chunks(fan_in)
                .filter(|row| row.iter().any(|&v| v > 0.5))
                .count();
            kept += k;
            total += mask.len();
            live.push((format!("{} op {r}", f.edge_name(e)), alive, out_units));
        }
    }
    (kept, total, live)
}

/// Accuracy (or RMSE) and mean NLL of `net` on `data`, with posterior means pruned at λ.
pub fn evaluate(
    net: &Supernet,
    data: &Dataset,
    lambda: Option<f32>,
    device: &Device,
) -> (Option<f64>, Option<f64>, f64) {
    if data.is_empty() {
        return (None, None, 0.0);
    }
    let idx: Vec<usize> = (0..data.len()).collect();
    let (mut correct, mut sq, mut nll_sum) = (0usize, 0f64, 0f64);
    for chunk in idx.chunks(500) {
        let x = batch_input(data, chunk, device);
        let y = batch_targets(data, chunk, device);
        let pass = net.forward_with_kl(x, Mode::Mean { prune: lambda }, false);
        nll_sum += f64::from(pass_nll(net, &pass, &y).into_scalar::<f32>()) * chunk.len() as f64;
        if matches!(net.family.task, Task::Vae { .. }) {
            continue;
        }
        let o = values(pass.out);
        match &y {
            BatchTargets::Classes(_, labels) => {
                let k = o.len() / chunk.len();
                for (row, &l) in o.chunks(k).zip(labels) {
                    if ardent_data::argmax(row) == l as usize {
                        correct += 1;
                    }
                }
            }
            BatchTargets::Real(_, v) => {
                sq += o
                    .iter()
                    .zip(v)
                    .map(|(a, b)| f64::from(a - b).powi(2))
                    .sum::<f64>();
            }
        }
    }
    let n = data.len() as f64;
    if matches!(net.family.task, Task::Vae { .. }) {
        return (None, None, nll_sum / n);
    }
    match data.targets {
        ardent_data::Targets::Classes { .. } => (Some(correct as f64 / n), None, nll_sum / n),
        ardent_data::Targets::Real { width, .. } => {
            (None, Some((sq / (n * width as f64)).sqrt()), nll_sum / n)
        }
    }
}

/// `value` as JSON for the checkpoint's header.
fn record(what: &'static str, value: impl Serialize) -> Result<serde_json::Value, TrainError> {
    serde_json::to_value(value).map_err(|error| TrainError::Record { what, error })
}

/// Saves `net` as a checkpoint (atomically), with the progress and optimizer state of `at`, from
/// which `--resume` continues.
pub fn save(
    net: &Supernet,
    data: &Prepared,
    cfg: &TrainConfig,
    run: &Run,
    at: &Start,
    metrics: serde_json::Value,
) -> Result<(), TrainError> {
    // A fine-tuned net carries its masks in σ² (see `bake_masks`), so the checkpoint alone
    // reproduces them.
    let baked;
    let net = if cfg.finetune {
        baked = bake_masks(net.clone());
        &baked
    } else {
        net
    };
    let ck = Checkpoint {
        family: net.family.clone(),
        tensors: to_tensors(net, &data.normalizer)?,
        meta: CheckpointMeta {
            format: FORMAT,
            ardent_version: env!("CARGO_PKG_VERSION").into(),
            epoch: at.epoch,
            step: at.step,
            seed: cfg.seed,
            objective: record("the objective", cfg.objective)?,
            data: serde_json::json!({
                "name": run.data_name,
                "fingerprint": data.fingerprint,
                "train": data.train.len(),
                "valid": data.valid.len(),
            }),
            settings: record("the settings", cfg)?,
            metrics,
            // λ as written (0.975), not as f32 widened (0.97500002384).
            finetune: cfg.finetune.then(|| {
                cfg.lambda
                    .to_string()
                    .parse()
                    .unwrap_or(f64::from(cfg.lambda))
            }),
        },
        optimizer: at.optimizers.moments(),
    };
    ck.write(&run.checkpoint)?;
    Ok(())
}

/// Where a run starts: epoch 0 with fresh optimizers, or where a checkpoint left off.
#[derive(Debug, Clone, Default)]
pub struct Start {
    /// Epochs completed.
    pub epoch: usize,
    /// Optimizer steps taken.
    pub step: u64,
    pub optimizers: Optimizers,
}

/// The run's three Adam optimizers, by what they move; stored in checkpoints under the group
/// names `weights`, `gamma` and `outer`.
#[derive(Debug, Clone, Default)]
pub struct Optimizers {
    /// The inner objective's variables: weights, biases, constants, the noise variance.
    pub weights: Adam,
    /// θ of searched edges in one-level search: its scale and pace differ from the weights'.
    pub gamma: Adam,
    /// The outer problem's variables, in outer steps.
    pub outer: Adam,
}

impl Optimizers {
    const GROUPS: [&'static str; 3] = ["weights", "gamma", "outer"];

    /// Every group's state, keyed `{group}.{path}`, for a checkpoint.
    pub fn moments(&self) -> BTreeMap<String, Moments> {
        let mut all = self.weights.moments(Self::GROUPS[0]);
        all.extend(self.gamma.moments(Self::GROUPS[1]));
        all.extend(self.outer.moments(Self::GROUPS[2]));
        all
    }

    /// The optimizers as a checkpoint stored them, for `net` on `device`; a key of no group,
    /// or of no parameter of `net`, is an error.
    pub fn restore(
        stored: &BTreeMap<String, Moments>,
        net: &Supernet,
        device: &Device,
    ) -> Result<Optimizers, TrainError> {
        if let Some(key) = stored.keys().find(|k| {
            !Self::GROUPS
                .iter()
                .any(|g| k.strip_prefix(g).is_some_and(|r| r.starts_with('.')))
        }) {
            return Err(TrainError::Config(format!(
                "the optimizer state `{key}` belongs to none of the groups {}",
                Self::GROUPS.join(", ")
            )));
        }
        Ok(Optimizers {
            weights: Adam::restore(Self::GROUPS[0], stored, net, device)?,
            gamma: Adam::restore(Self::GROUPS[1], stored, net, device)?,
            outer: Adam::restore(Self::GROUPS[2], stored, net, device)?,
        })
    }
}

/// What one epoch's steps add up.
#[derive(Debug, Default)]
struct Tally {
    nll_sum: f64,
    correct: usize,
    structure_kl_sum: f64,
    structure_kl_batches: usize,
    kl_weight: f64,
    lr: f64,
    /// The last batch's NLL, for the progress bar.
    last_nll: f32,
}

/// One training step as a unit: it owns the optimizers, the step count and the schedules,
/// and knows what the run moves. Fine-tuning is a setting of it: posterior means instead of
/// samples, no KL, no structure steps.
struct Step<'a> {
    cfg: &'a TrainConfig,
    data: &'a Prepared,
    /// The autodiff device the steps run on.
    ad: Device,
    optimizers: Optimizers,
    step: u64,
    steps_per_epoch: u64,
    total_steps: u64,
    /// The background value of shifted images, when augmenting.
    fill: Option<f32>,
    /// The outer problem, when the run has one (never while fine-tuning).
    outer: Option<&'a OuterConfig>,
    outer_ids: Vec<ParamId>,
    /// The parameters of the frozen edges, which no step moves.
    frozen_ids: Vec<ParamId>,
    /// A VAE code's gate, moved by the structure's optimizer.
    gate_ids: Vec<ParamId>,
    /// θ moves in the inner steps: a searched family, one-level, not fine-tuning.
    gamma_steps: bool,
    /// The outer problem's validation batches: a permutation drawn afresh from the epoch's
    /// seed each time it is used up, and at each epoch's start, so that a resumed run draws
    /// what an uninterrupted one draws.
    valid_order: Vec<usize>,
    valid_pos: usize,
}

impl<'a> Step<'a> {
    fn new(
        net: &Supernet,
        data: &'a Prepared,
        cfg: &'a TrainConfig,
        start: Start,
        device: &Device,
    ) -> Result<Step<'a>, TrainError> {
        if cfg.batch_size == 0 {
            return Err(TrainError::Config("batch size must be at least 1".into()));
        }
        if cfg.augment.active() && data.train.sample_shape.len() != 3 {
            return Err(TrainError::Config(format!(
                "--augment shifts and mirrors images, but {} has samples of shape {:?}, not [channels, height, width]",
                data.train.name, data.train.sample_shape
            )));
        }
        let searched = net.gamma.iter().any(Option::is_some);
        let outer = cfg.outer.as_ref().filter(|_| !cfg.finetune);
        if outer.is_some() && !searched {
            return Err(TrainError::Config(
                "the outer problem's variables are the structure and its prior, but this family has no searched edge: use a one-level preset (elbo, ml, single-level)".into(),
            ));
        }
        if outer.is_some() && data.valid.is_empty() {
            return Err(TrainError::Config(
                "the outer problem needs a validation split: set --valid-fraction above 0".into(),
            ));
        }
        let steps_per_epoch = data.train.len().div_ceil(cfg.batch_size) as u64;
        Ok(Step {
            cfg,
            data,
            ad: device.clone().autodiff(),
            optimizers: start.optimizers,
            step: start.step,
            steps_per_epoch,
            total_steps: steps_per_epoch * cfg.epochs as u64,
            // An uncovered pixel shows the normalised zero (images share one normaliser, and
            // an image has at least one value, checked above).
            fill: cfg
                .augment
                .active()
                .then(|| -data.normalizer.mean[0] / data.normalizer.std[0]),
            outer,
            outer_ids: outer
                .map(|o| bilevel::outer_ids(net, o.structure_outer))
                .unwrap_or_default(),
            frozen_ids: edge_ids(net, cfg.frozen_edges),
            gate_ids: gate_ids(net),
            gamma_steps: searched && !cfg.finetune,
            valid_order: Vec::new(),
            valid_pos: 0,
        })
    }

    /// Starts an epoch: the validation stream starts over.
    fn begin_epoch(&mut self) {
        self.valid_order = (0..self.data.valid.len()).collect();
        self.valid_pos = self.valid_order.len();
    }

    /// One step on the training samples `chunk`: the outer step (if any), the loss, its
    /// gradients and the inner optimizers' steps. Returns the moved net; a non-finite NLL is
    /// returned as the error value.
    fn run(
        &mut self,
        mut net: Supernet,
        chunk: &[usize],
        epoch: usize,
        epoch_seed: u64,
        tally: &mut Tally,
    ) -> Result<Supernet, f32> {
        let (cfg, step, ad) = (self.cfg, self.step, &self.ad);
        let n = self.data.train.len();
        let x = match self.fill {
            Some(fill) => {
                let seed = SplitMix64(epoch_seed ^ step.wrapping_mul(0x5851_F42D)).next_u64();
                batch_input_augmented(&self.data.train, chunk, ad, cfg.augment, fill, seed)
            }
            None => batch_input(&self.data.train, chunk, ad),
        };
        let y = batch_targets(&self.data.train, chunk, ad);
        let (mode, kl_w) = if cfg.finetune {
            (Mode::Mean { prune: None }, 0.0)
        } else {
            let at = step as f64 / self.steps_per_epoch as f64;
            (Mode::Sample, cfg.objective.kl_weight_at(at))
        };
        tally.kl_weight = kl_w;
        net.progress = step as f64 / self.total_steps.max(1) as f64;
        let structure_moves = epoch >= cfg.search_warmup;
        if let Some(o) = self.outer.filter(|_| structure_moves) {
            let valid = self.valid_batch(epoch_seed);
            let seed = SplitMix64(epoch_seed ^ step.wrapping_mul(0xA24B_AED4)).next_u64();
            let mut problem =
                NetProblem::new(net, (x.clone(), y.clone()), valid, kl_w, n, o.clone(), seed);
            let h = hypergradient(&mut problem, o.order, o.xi);
            net = self.optimizers.outer.step(cfg.gamma_lr, problem.net, h);
        }
        let (loss, nll_t, out, structure_kl) = batch_loss(&net, x, &y, mode, kl_w, n);
        if let Some(v) = structure_kl {
            tally.structure_kl_sum += v;
            tally.structure_kl_batches += 1;
        }
        let nll_v: f32 = nll_t.into_scalar();
        if !nll_v.is_finite() {
            return Err(nll_v);
        }
        if let BatchTargets::Classes(_, labels) = &y {
            let o = values(out.detach());
            let k = o.len() / chunk.len();
            tally.correct += o
                .chunks(k)
                .zip(labels)
                .filter(|(r, l)| ardent_data::argmax(r) == **l as usize)
                .count();
        }
        let mut grads = loss.backward();
        // Outer variables move in the outer steps only.
        let _ = GradientsParams::from_params(&mut grads, &net, &self.outer_ids);
        if !self.frozen_ids.is_empty() {
            let _ = GradientsParams::from_params(&mut grads, &net, &self.frozen_ids);
        }
        let gamma_grads = GradientsParams::from_module(&mut grads, &net.gamma);
        let gate_grads = (!self.gate_ids.is_empty())
            .then(|| GradientsParams::from_params(&mut grads, &net, &self.gate_ids));
        let grads = GradientsParams::from_grads(grads, &net);
        tally.lr = lr_at(cfg, step, self.total_steps);
        net = self.optimizers.weights.step(tally.lr, net, grads);
        if self.gamma_steps && structure_moves {
            net = self.optimizers.gamma.step(cfg.gamma_lr, net, gamma_grads);
        }
        if let Some(g) = gate_grads.filter(|_| structure_moves && !cfg.finetune) {
            net = self.optimizers.gamma.step(cfg.gate_lr, net, g);
        }
        tally.nll_sum += f64::from(nll_v) * chunk.len() as f64;
        tally.last_nll = nll_v;
        self.step += 1;
        Ok(net)
    }

    /// The outer problem's next validation batch.
    fn valid_batch(&mut self, epoch_seed: u64) -> (Value, BatchTargets) {
        let size = self.cfg.batch_size;
        if self.valid_pos + size > self.valid_order.len() {
            shuffle(&mut self.valid_order, epoch_seed ^ self.step);
            self.valid_pos = 0;
        }
        let end = (self.valid_pos + size).min(self.valid_order.len());
        let chunk = &self.valid_order[self.valid_pos..end];
        self.valid_pos = end;
        (
            batch_input(&self.data.valid, chunk, &self.ad),
            batch_targets(&self.data.valid, chunk, &self.ad),
        )
    }
}

/// The parameters on the first `edges` edges of `net`.
fn edge_ids(net: &Supernet, edges: usize) -> Vec<ParamId> {
    param_ids(net.ops.iter().take(edges).flatten())
}

/// The parameters of a VAE code's gate: structure variables, which the structure's optimizer
/// moves, at `gate_lr`.
fn gate_ids(net: &Supernet) -> Vec<ParamId> {
    param_ids(
        net.ops
            .iter()
            .flatten()
            .filter(|op| matches!(op, OpParams::Code(_))),
    )
}

fn param_ids<'n>(ops: impl Iterator<Item = &'n OpParams>) -> Vec<ParamId> {
    struct Ids(Vec<ParamId>);
    impl ModuleVisitor for Ids {
        fn visit_float<const D: usize>(&mut self, param: &Param<Tensor<D>>) {
            self.0.push(param.id);
        }
    }
    let mut ids = Ids(Vec::new());
    for op in ops {
        op.visit(&mut ids);
    }
    ids.0
}

/// Trains `net` from `start` (epoch 0 with fresh optimizers for a new run) to `cfg.epochs`,
/// calling `report` after every epoch. Returns the trained supernet (with autodiff).
pub fn train(
    net: Supernet,
    data: &Prepared,
    cfg: &TrainConfig,
    run: &Run,
    start: Start,
    device: &Device,
    report: &mut dyn FnMut(&EpochMetrics),
) -> Result<Supernet, TrainError> {
    let start_epoch = start.epoch;
    let mut step = Step::new(&net, data, cfg, start, device)?;
    let mut net = net.fork(&step.ad).train();
    if let Some(p) = &run.metrics
        && start_epoch > 0
    {
        keep_metrics_up_to(p, start_epoch)?;
    }
    let mut metrics = MetricsFile::new(run, start_epoch == 0);
    for epoch in start_epoch..cfg.epochs {
        // Seeds derive from (seed, epoch) so a resumed run sees the same batches and noise.
        let epoch_seed = SplitMix64(cfg.seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9)).next_u64();
        device.seed(epoch_seed);
        let mut order: Vec<usize> = (0..data.train.len()).collect();
        shuffle(&mut order, epoch_seed);
        step.begin_epoch();
        let bar = progress_bar(run.progress, step.steps_per_epoch, epoch, cfg.epochs);
        let t0 = Instant::now();
        let mut tally = Tally::default();
        for chunk in order.chunks(cfg.batch_size) {
            net = step
                .run(net, chunk, epoch, epoch_seed, &mut tally)
                .map_err(|v| {
                    bar.finish_and_clear();
                    diverged(run, epoch, step.step, "the NLL", v)
                })?;
            bar.inc(1);
            bar.set_message(format!("NLL {:.4}", tally.last_nll));
        }
        bar.finish_and_clear();
        let steps_seconds = t0.elapsed().as_secs_f64();
        let eval_net = net.valid();
        let m = epoch_metrics(
            &eval_net,
            data,
            cfg,
            epoch,
            step.step,
            &tally,
            steps_seconds,
            device,
        )
        .map_err(|kl| diverged(run, epoch + 1, step.step, "the KL", kl))?;
        let m = EpochMetrics {
            seconds: t0.elapsed().as_secs_f64(),
            ..m
        };
        metrics.write(&m)?;
        report(&m);
        let last = epoch + 1 == cfg.epochs;
        if last || (cfg.checkpoint_every > 0 && (epoch + 1) % cfg.checkpoint_every == 0) {
            let state = Start {
                epoch: epoch + 1,
                step: step.step,
                optimizers: step.optimizers.clone(),
            };
            save(
                &eval_net,
                data,
                cfg,
                run,
                &state,
                record("the epoch's metrics", &m)?,
            )?;
        }
    }
    Ok(net)
}

/// The metrics of the epoch that `tally` added up, evaluated on `net` (posterior means); a
/// non-finite KL is returned as the error value.
#[allow(clippy::too_many_arguments)]
fn epoch_metrics(
    net: &Supernet,
    data: &Prepared,
    cfg: &TrainConfig,
    epoch: usize,
    step: u64,
    tally: &Tally,
    steps_seconds: f64,
    device: &Device,
) -> Result<EpochMetrics, f32> {
    let n = data.train.len() as f64;
    let kl = f64::from(net.kl(true).into_scalar::<f32>());
    if !kl.is_finite() {
        return Err(kl as f32);
    }
    let lambda = (!cfg.finetune).then_some(cfg.lambda);
    let (valid_accuracy, valid_rmse, valid_nll) = evaluate(net, &data.valid, lambda, device);
    let (weights_kept, weights_total, live_units) = sparsity(net, cfg.lambda);
    let (structure, member_params) = structure_metrics(net);
    let structure_kl = (tally.structure_kl_batches > 0)
        .then(|| tally.structure_kl_sum / tally.structure_kl_batches as f64);
    Ok(EpochMetrics {
        epoch: epoch + 1,
        step,
        loss: tally.nll_sum / n + tally.kl_weight * (kl + structure_kl.unwrap_or(0.0)) / n,
        nll: tally.nll_sum / n,
        kl,
        kl_weight: tally.kl_weight,
        lr: tally.lr,
        train_accuracy: matches!(net.family.task, Task::Classification { .. })
            .then(|| tally.correct as f64 / n),
        valid_accuracy,
        valid_rmse,
        valid_nll,
        weights_kept,
        weights_total,
        live_units,
        samples_per_second: n / steps_seconds.max(1e-9),
        seconds: steps_seconds,
        structure,
        member_params,
        structure_kl,
        code: code_metrics(net),
    })
}

/// The run's metrics file, opened at the first line written, so that a run that fails before
/// it leaves the file as it was.
struct MetricsFile<'a> {
    run: &'a Run,
    /// A new run empties the file (when `run.fresh_metrics`); a resumed one appends.
    from_start: bool,
    file: Option<std::fs::File>,
}

impl<'a> MetricsFile<'a> {
    fn new(run: &'a Run, from_start: bool) -> MetricsFile<'a> {
        MetricsFile {
            run,
            from_start,
            file: None,
        }
    }

    fn write(&mut self, m: &EpochMetrics) -> Result<(), TrainError> {
        use std::io::Write;
        let Some(path) = &self.run.metrics else {
            return Ok(());
        };
        let error = |error| TrainError::Metrics {
            path: path.clone(),
            error,
        };
        let file = match &mut self.file {
            Some(f) => f,
            None => {
                let fresh = self.run.fresh_metrics && self.from_start;
                let f = std::fs::OpenOptions::new()
                    .create(true)
                    .write(true)
                    .append(!fresh)
                    .truncate(fresh)
                    .open(path)
                    .map_err(error)?;
                self.file.insert(f)
            }
        };
        let line = serde_json::to_string(m).map_err(|e| error(e.into()))?;
        writeln!(file, "{line}").map_err(error)
    }
}

/// Before a resumed run appends to its metrics file: keeps the lines of epochs up to the
/// checkpoint's, dropping those of epochs the interrupted run finished after its last
/// checkpoint (they are trained again) and any line cut short by the interruption.
fn keep_metrics_up_to(path: &Path, epoch: usize) -> Result<(), TrainError> {
    let error = |error| TrainError::Metrics {
        path: path.to_path_buf(),
        error,
    };
    let text = match std::fs::read_to_string(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(error(e)),
    };
    let kept: String = text
        .lines()
        .filter(|line| {
            serde_json::from_str::<serde_json::Value>(line)
                .ok()
                .and_then(|m| m["epoch"].as_u64())
                .is_some_and(|e| e as usize <= epoch)
        })
        .map(|line| format!("{line}\n"))
        .collect();
    if kept.len() == text.len() {
        return Ok(());
    }
    ardent_data::write_atomic(path, kept.as_bytes()).map_err(error)
}

fn diverged(run: &Run, epoch: usize, step: u64, what: &str, value: f32) -> TrainError {
    TrainError::Diverged {
        epoch,
        step,
        what: what.to_string(),
        value,
        checkpoint: run.checkpoint.exists().then(|| run.checkpoint.clone()),
    }
}

fn progress_bar(show: bool, steps: u64, epoch: usize, epochs: usize) -> indicatif::ProgressBar {
    if !show {
        return indicatif::ProgressBar::hidden();
    }
    let bar = indicatif::ProgressBar::with_draw_target(
        Some(steps),
        indicatif::ProgressDrawTarget::stderr(),
    );
    if let Ok(style) = indicatif::ProgressStyle::with_template(
        "epoch {prefix} [{bar:30}] {pos}/{len} {msg} ({eta})",
    ) {
        bar.set_style(style.progress_chars("=> "));
    }
    bar.set_prefix(format!("{}/{epochs}", epoch + 1));
    bar
}

/// A checkpoint loaded for resuming or fine-tuning: the supernet, its settings and progress.
#[derive(Debug)]
pub struct Loaded {
    pub net: Supernet,
    pub normalizer: ardent_data::Normalizer,
    pub config: Option<TrainConfig>,
    pub epoch: usize,
    pub step: u64,
    /// The optimizer state the run stopped with, as stored (empty for a checkpoint without
    /// it); [`Loaded::start`] restores it.
    pub moments: BTreeMap<String, Moments>,
    pub family: Family,
    /// The file it was read from.
    pub path: PathBuf,
}

impl Loaded {
    /// Where `--resume` continues from: the stored progress, and the optimizers restored for
    /// the loaded net on `device` (a stored state of no parameter of the net is an error
    /// naming the file).
    pub fn start(&self, device: &Device) -> Result<Start, TrainError> {
        let optimizers = Optimizers::restore(&self.moments, &self.net, device)
            .map_err(|e| TrainError::Config(format!("{}: {e}", self.path.display())))?;
        Ok(Start {
            epoch: self.epoch,
            step: self.step,
            optimizers,
        })
    }
}

/// Loads a checkpoint onto `device`.
pub fn load(path: &Path, device: &Device) -> Result<Loaded, TrainError> {
    let ck = Checkpoint::read(path)?;
    let (net, normalizer) = from_tensors(&ck.family, &ck.tensors, device)?;
    // Weights no run produced (hand-built, converted) store no settings.
    let config = match &ck.meta.settings {
        serde_json::Value::Null => None,
        stored => Some(serde_json::from_value(stored.clone()).map_err(|e| {
            TrainError::Config(format!(
                "{}: the stored training settings cannot be read: {e}",
                path.display()
            ))
        })?),
    };
    Ok(Loaded {
        moments: ck.optimizer,
        net,
        normalizer,
        config,
        epoch: ck.meta.epoch,
        step: ck.meta.step,
        family: ck.family,
        path: path.to_path_buf(),
    })
}

/// Fixes the masks of a trained supernet at threshold λ for fine-tuning: pruned weights get
/// μ = 0 and a fixed zero mask. Surviving weights keep μ and will be trained as point
/// estimates.
pub fn freeze_masks(mut net: Supernet, lambda: f32) -> Supernet {
    fn freeze<const D: usize>(
        mu: &mut burn::module::Param<Tensor<D>>,
        log_sigma2: &burn::module::Param<Tensor<D>>,
        mask: &mut Option<Tensor<D>>,
        lambda: f32,
    ) {
        let k = keep(&mu.val(), &log_sigma2.val().exp(), lambda);
        *mu = burn::module::Param::from_tensor(mu.val() * k.clone());
        *mask = Some(k);
    }
    for ops in net.ops.iter_mut() {
        for p in ops.iter_mut() {
            match p {
                OpParams::Dense(d) => freeze(&mut d.mu, &d.log_sigma2, &mut d.mask, lambda),
                OpParams::Conv(c) => freeze(&mut c.mu, &c.log_sigma2, &mut c.mask, lambda),
                _ => {}
            }
        }
    }
    net
}

/// After fine-tuning, writes the masks into the variances so the checkpoint alone reproduces
/// them under the relative-density rule for any λ in (0, 1): kept weights get log σ² = −60
/// (ρ ≈ 0), pruned ones μ = 0 and log σ² = 0 (ρ = 1).
pub fn bake_masks(mut net: Supernet) -> Supernet {
    fn bake<const D: usize>(
        mu: &mut burn::module::Param<Tensor<D>>,
        log_sigma2: &mut burn::module::Param<Tensor<D>>,
        mask: &mut Option<Tensor<D>>,
    ) {
        if let Some(k) = mask.take() {
            let kept_log_s2 = k.clone().mul_scalar(-60.0);
            *mu = burn::module::Param::from_tensor(mu.val() * k);
            *log_sigma2 = burn::module::Param::from_tensor(kept_log_s2);
        }
    }
    for ops in net.ops.iter_mut() {
        for p in ops.iter_mut() {
            match p {
                OpParams::Dense(d) => bake(&mut d.mu, &mut d.log_sigma2, &mut d.mask),
                OpParams::Conv(c) => bake(&mut c.mu, &mut c.log_sigma2, &mut c.mask),
                _ => {}
            }
        }
    }
    net
}

/// Quality of a trained supernet on the test split (or validation, without one), pruned at λ.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub set: &'static str,
    pub accuracy: Option<f64>,
    pub rmse: Option<f64>,
    /// The mean NLL per sample (for a VAE, the negative ELBO, in nats).
    pub nll: f64,
    /// A VAE's code.
    pub code: Option<CodeMetrics>,
    pub weights_kept: usize,
    pub weights_total: usize,
    pub live_units: Vec<(String, usize, usize)>,
}

pub fn summary(net: &Supernet, data: &Prepared, lambda: f32, device: &Device) -> Summary {
    let eval = net.valid();
    let (set, name) = match &data.test {
        Some(t) => (t, "test"),
        None => (&data.valid, "validation"),
    };
    let (accuracy, rmse, nll) = evaluate(&eval, set, Some(lambda), device);
    let (weights_kept, weights_total, live_units) = sparsity(&eval, lambda);
    Summary {
        set: name,
        accuracy,
        rmse,
        nll,
        code: code_metrics(&eval),
        weights_kept,
        weights_total,
        live_units,
    }
}
