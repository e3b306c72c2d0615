//! A training or fine-tuning run as a user asks for one: the spec or checkpoint, the data
//! source, and the settings, typed. [`train`] and [`finetune`] do everything between reading
//! the inputs and the finished checkpoint (retargeting the spec to the data, the member of a
//! searched checkpoint, resuming, random search), and tell an [`Observer`] what happens, so
//! that the command line and the pipeline run the same code and only print differently.

use std::path::{Path, PathBuf};

use ardent_data::{Source, Splits};
use ardent_models::grow::Subnetworks;
use ardent_models::{Family, Task};

use crate::adanet::{self, Growth, Round};
use crate::bilevel::{Order, OuterConfig, Reference};
use crate::controller::Controller;
use crate::data::{Augment, Prepared, prepare};
use crate::error::TrainError;
use crate::objective::{Objective, Preset};
use crate::random::{Strategy, Trial, Uniform, search_by_trials};
use crate::supernet::Supernet;
use crate::train::{
    self, EpochMetrics, LrSchedule, Run, Start, Summary, TrainConfig, freeze_masks, summary,
};
use crate::{Device, parse_device};

/// What a run tells while it works. Notes are one line each, for a person.
pub trait Observer {
    /// Something the run decided that the user should know (a retargeted input, a batch cut
    /// to the data, the data readers' own decisions).
    fn note(&mut self, text: &str);
    /// One finished epoch.
    fn epoch(&mut self, metrics: &EpochMetrics);
    /// One finished random-search trial of `trials`.
    fn trial(&mut self, trial: &Trial, trials: usize);
    /// One finished growth round of at most `rounds`.
    fn round(&mut self, round: &Round, rounds: usize);
}

/// The outer problem's settings a user overrides; `None` keeps the preset's.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct OuterOverrides {
    pub order: Option<Order>,
    /// λ_lik^Q.
    pub lik: Option<f64>,
    /// λ_prior^Q.
    pub prior: Option<f64>,
    /// ξ, the second-order hypergradient's virtual step (default: the learning rate).
    pub xi: Option<f64>,
    /// Reference structures, as [`Reference::parse`] reads them.
    pub references: Vec<String>,
}

impl OuterOverrides {
    fn is_empty(&self) -> bool {
        *self == OuterOverrides::default()
    }
}

/// What training and fine-tuning runs share: where they write, how long they run and how
/// their steps go.
#[derive(Debug, Clone)]
pub struct RunOptions {
    /// The checkpoint to write (each job has its default name).
    pub out: Option<PathBuf>,
    /// Continue the run stored in `out`, with its settings.
    pub resume: bool,
    pub epochs: usize,
    pub batch_size: usize,
    pub lr: f64,
    pub lr_schedule: LrSchedule,
    pub seed: u64,
    /// The pruning threshold: of the metrics and the summary when training, of the fixed
    /// masks when fine-tuning.
    pub lambda: f32,
    pub checkpoint_every: usize,
    /// Every epoch's metrics as JSON lines.
    pub metrics: Option<PathBuf>,
    /// Show a progress bar within each epoch (on stderr).
    pub progress: bool,
    pub device: String,
}

impl RunOptions {
    /// `epochs` at learning rate `lr` on a cosine schedule, with every other option at the
    /// commands' defaults.
    pub fn new(epochs: usize, lr: f64) -> RunOptions {
        RunOptions {
            out: None,
            resume: false,
            epochs,
            batch_size: 100,
            lr,
            lr_schedule: LrSchedule::Cosine,
            seed: 42,
            lambda: ardent_models::DEFAULT_LAMBDA as f32,
            checkpoint_every: 1,
            metrics: None,
            progress: true,
            device: "flex".into(),
        }
    }
}

impl RunOptions {
    /// The loop's settings these options fix; the rest are the default recipe's, for the
    /// job to set.
    fn config(&self) -> TrainConfig {
        TrainConfig {
            epochs: self.epochs,
            batch_size: self.batch_size,
            lr: self.lr,
            lr_schedule: self.lr_schedule,
            seed: self.seed,
            lambda: self.lambda,
            checkpoint_every: self.checkpoint_every,
            ..TrainConfig::default()
        }
    }

    /// Where the run writes its checkpoint `out` and metrics, on `data`.
    fn run(&self, out: PathBuf, data: &Source) -> Run {
        Run {
            checkpoint: out,
            metrics: self.metrics.clone(),
            fresh_metrics: !self.resume,
            progress: self.progress,
            data_name: data.name.clone(),
        }
    }
}

/// How a run searches its family's structure.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Search {
    /// The relaxed γ of the supernet, by gradient (one level or bilevel, per the preset);
    /// a family without searched edges just trains.
    Gradient,
    /// `trials` members drawn uniformly, each trained as a fixed family; the best is kept.
    Random { trials: usize },
    /// `trials` members drawn from a policy learned by REINFORCE at rate `lr`
    /// (`controller.rs`); the best is kept.
    Controller { trials: usize, lr: f64 },
    /// AdaNet: up to `rounds` subnetworks of the chain spec added one per round, each
    /// candidate trained for the run's epochs beside the frozen earlier ones (`adanet.rs`).
    AdaNet(Growth),
}

/// The controller's learning rate unless told otherwise: a step moves the drawn alternatives'
/// logits by about rate × advantage in spreads. Chosen on mlp-search with the digits (20
/// trials of 5 epochs, seeds 1–3; BENCHMARKS.md, "A learned controller"): the members drawn
/// in the last 10 trials averaged 87.9 % validation accuracy at 0.5, 89.2 % at 1 and 93.8 % at
/// 2 (random search's draws: 73.0 %), the best member 96.5 %, 95.9 % and 96.5 %.
pub const CONTROLLER_LR: f64 = 2.0;

/// A training run: `ardent train`'s options, typed. [`TrainJob::new`] gives the command's
/// defaults.
#[derive(Debug, Clone)]
pub struct TrainJob {
    /// The model-family spec (TOML).
    pub spec: PathBuf,
    pub data: Source,
    /// Where and how long; the checkpoint's default name is `NAME.safetensors`.
    pub run: RunOptions,
    /// The settings the user gave (as [`TrainConfig::resumed`] names them), which a resumed
    /// run compares with the stored ones; the others are the defaults and are not compared.
    pub given: Vec<String>,
    pub preset: Preset,
    /// λ_prior^L; `None`: the preset's.
    pub kl_weight: Option<f64>,
    /// Epochs of KL warm-up; `None`: [`default_warmup`].
    pub warmup: Option<f64>,
    pub outer: OuterOverrides,
    /// Train the member this searched checkpoint collapses to, from scratch, as a fixed family.
    pub member_of: Option<PathBuf>,
    /// How the structure is searched.
    pub search: Search,
    pub augment: Augment,
    pub valid_fraction: f64,
    pub gamma_lr: f64,
    /// Adam's rate for a VAE code's gate.
    pub gate_lr: f64,
    pub search_warmup: usize,
}

impl TrainJob {
    /// `ardent train SPEC --data SOURCE` with every other option at its default.
    pub fn new(spec: impl Into<PathBuf>, data: Source) -> TrainJob {
        TrainJob {
            spec: spec.into(),
            data,
            run: RunOptions::new(10, 1e-3),
            given: Vec::new(),
            preset: Preset::Elbo,
            kl_weight: None,
            warmup: None,
            outer: OuterOverrides::default(),
            member_of: None,
            search: Search::Gradient,
            augment: Augment::default(),
            valid_fraction: ardent_models::DEFAULT_VALID_FRACTION,
            gamma_lr: 3e-3,
            gate_lr: crate::train::default_gate_lr(),
            search_warmup: 0,
        }
    }
}

/// The KL warm-up a run gets unless told otherwise: half its epochs. Measured on the zoo
/// (BENCHMARKS.md, "Training defaults"): against no warm-up it keeps fewer weights at a
/// higher accuracy, because the weights find the data before the prior starts to prune them.
pub fn default_warmup(epochs: usize) -> f64 {
    epochs as f64 / 2.0
}

/// A finished run.
#[derive(Debug, Clone)]
pub struct Finished {
    /// The checkpoint written.
    pub checkpoint: PathBuf,
    /// The threshold the summary prunes at.
    pub lambda: f32,
    /// Quality and surviving weights of the pruned net on the test (else validation) split.
    pub summary: Summary,
    /// Random search: the best trial, whose checkpoint was kept.
    pub best_trial: Option<Trial>,
    /// AdaNet: the depths of the grown ensemble's subnetworks.
    pub grown: Option<Vec<usize>>,
}

/// The refusal of a resumed run whose settings differ from the stored ones.
fn changed_settings(out: &Path, changed: &[train::ChangedSetting]) -> TrainError {
    let list: Vec<String> = changed
        .iter()
        .map(|c| {
            let flag = match c.name {
                "outer" => {
                    "the outer problem (--hypergradient, --lik-q, --prior-q, --xi, --reference):"
                        .to_string()
                }
                name => format!("--{}", name.replace('_', "-")),
            };
            format!("{flag} {} (stored: {})", c.asked, c.stored)
        })
        .collect();
    TrainError::Config(format!(
        "{}: --resume continues the stored run with its own settings, but {} differ{}; drop {} \
         or start a new run with another --out",
        out.display(),
        list.join(", "),
        if list.len() == 1 { "s" } else { "" },
        if list.len() == 1 { "it" } else { "them" },
    ))
}

/// Prefixes an error's message with what was being done.
fn within(what: String) -> impl FnOnce(TrainError) -> TrainError {
    move |e| TrainError::Within {
        what,
        source: Box::new(e),
    }
}

/// Reads the data as `task` reads it, passing the readers' notes on.
fn load_data(source: &Source, task: Task, obs: &mut dyn Observer) -> Result<Splits, TrainError> {
    let splits = source.load(task.target_kind())?;
    for d in std::iter::once(&splits.train).chain(&splits.test) {
        for n in &d.notes {
            obs.note(n);
        }
    }
    Ok(splits)
}

/// Fits the input of `family` (read from `spec`) to the data's sample size when they differ.
fn fit_to_data(
    family: Family,
    spec: &Path,
    splits: &Splits,
    obs: &mut dyn Observer,
) -> Result<Family, TrainError> {
    let shape = &splits.train.sample_shape;
    if shape.iter().product::<usize>() == family.input_shape().size() {
        return Ok(family);
    }
    let retargeted = family.with_input(shape).map_err(|e| {
        TrainError::Config(format!(
            "{}: cannot take the data's samples of shape {shape:?}: {e}",
            spec.display()
        ))
    })?;
    obs.note(&format!(
        "input of `{}` set to {shape:?} to fit {}",
        family.name, splits.train.name
    ));
    Ok(retargeted)
}

/// The member the searched checkpoint `path` of `family` collapses to, as a fixed family.
fn collapsed_member(
    family: &Family,
    path: &Path,
    obs: &mut dyn Observer,
) -> Result<Family, TrainError> {
    let at = |why: String| TrainError::Config(format!("--member-of {}: {why}", path.display()));
    let ck = ardent_models::Checkpoint::read(path)?;
    if ck.family.source != family.source {
        return Err(at(format!(
            "that checkpoint is of family `{}`, whose spec differs from {}",
            ck.family.name, family.name
        )));
    }
    let choice = ck
        .collapsed_choice()
        .ok_or_else(|| at("a searched edge has no stored structure".into()))?;
    let member = family
        .fixed_member(&choice)
        .map_err(|e| at(e.to_string()))?;
    obs.note(&format!(
        "training the member of {} from scratch: {} parameters before pruning",
        path.display(),
        family.member_cost(&choice).params
    ));
    Ok(member)
}

/// The outer problem of the chosen preset, with the overrides.
fn outer_config(job: &TrainJob, family: &Family) -> Result<Option<OuterConfig>, TrainError> {
    let Some(mut o) = Objective::outer(job.preset, job.outer.xi.unwrap_or(job.run.lr)) else {
        if !job.outer.is_empty() {
            return Err(TrainError::Config(
                "--hypergradient, --lik-q, --prior-q, --xi and --reference set the outer problem, which only the bilevel presets have (--preset darts or evidence)".into(),
            ));
        }
        return Ok(None);
    };
    o.references = job
        .outer
        .references
        .iter()
        .map(|r| {
            Reference::parse(r, family)
                .map_err(|why| TrainError::Config(format!("--reference `{r}`: {why}")))
        })
        .collect::<Result<_, _>>()?;
    if let Some(order) = job.outer.order {
        o.order = order;
    }
    o.lik = job.outer.lik.unwrap_or(o.lik);
    o.prior = job.outer.prior.unwrap_or(o.prior);
    Ok(Some(o))
}

/// Cuts the batch size to the training split, saying so: a batch cannot hold more samples
/// than there are.
fn fit_batch(cfg: &mut TrainConfig, train_samples: usize, obs: &mut dyn Observer) {
    if cfg.batch_size > train_samples {
        obs.note(&format!(
            "--batch-size {} is larger than the {train_samples} training samples; using {train_samples}",
            cfg.batch_size
        ));
        cfg.batch_size = train_samples;
    }
}

/// Forwards the loop's epochs to the observer.
fn run_loop(
    net: Supernet,
    data: &Prepared,
    cfg: &TrainConfig,
    run: &Run,
    start: Start,
    device: &Device,
    obs: &mut dyn Observer,
) -> Result<Finished, TrainError> {
    let trained = train::train(net, data, cfg, run, start, device, &mut |m| obs.epoch(m))?;
    Ok(Finished {
        checkpoint: run.checkpoint.clone(),
        lambda: cfg.lambda,
        summary: summary(&trained, data, cfg.lambda, device),
        best_trial: None,
        grown: None,
    })
}

/// Trains (or resumes, or random-searches) as `job` asks; the checkpoint is at
/// [`Finished::checkpoint`].
pub fn train(job: &TrainJob, obs: &mut dyn Observer) -> Result<Finished, TrainError> {
    let opts = &job.run;
    let device = parse_device(&opts.device)?;
    let family = Family::from_path(&job.spec)?;
    let splits = load_data(&job.data, family.task, obs)?;
    let mut family = fit_to_data(family, &job.spec, &splits, obs)?;
    if let Some(searched) = &job.member_of {
        family = collapsed_member(&family, searched, obs)?;
    }
    let out = opts
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.safetensors", family.name)));
    let mut cfg = TrainConfig {
        objective: {
            let mut o = Objective::preset(job.preset);
            if let Some(w) = job.kl_weight {
                o.kl_weight = w;
            }
            o.warmup_epochs = job.warmup.unwrap_or(default_warmup(opts.epochs));
            o
        },
        valid_fraction: job.valid_fraction,
        gamma_lr: job.gamma_lr,
        gate_lr: job.gate_lr,
        search_warmup: job.search_warmup,
        outer: outer_config(job, &family)?,
        augment: job.augment,
        ..opts.config()
    };
    let resuming = || within(format!("resuming from {}", out.display()));
    let (mut net, normalizer, start) = if opts.resume {
        let loaded = train::load(&out, &device).map_err(resuming())?;
        if let Some(saved) = &loaded.config {
            let given: Vec<&str> = job.given.iter().map(String::as_str).collect();
            cfg = cfg
                .resumed(saved, &given)
                .map_err(|changed| changed_settings(&out, &changed))?;
        }
        obs.note(&format!(
            "resuming {} at epoch {} (step {})",
            out.display(),
            loaded.epoch,
            loaded.step
        ));
        let start = loaded.start(&device).map_err(resuming())?;
        (loaded.net, Some(loaded.normalizer), start)
    } else {
        (
            Supernet::new(&family, &device, cfg.seed)?,
            None,
            Start::default(),
        )
    };
    let data = prepare(
        &net.family,
        splits,
        cfg.valid_fraction,
        cfg.seed,
        normalizer,
    )?;
    net.output_range = data.output_range;
    fit_batch(&mut cfg, data.train.len(), obs);
    let run = opts.run(out, &job.data);
    let from_scratch = match job.search {
        Search::Gradient => None,
        Search::Random { .. } | Search::Controller { .. } => Some(
            "a search by trials (--random-search, --search controller) trains fixed members from scratch",
        ),
        Search::AdaNet(_) => {
            Some("AdaNet growth trains its subnetworks from scratch, one round after another")
        }
    };
    if let Some(what) = from_scratch
        && matches!(family.task, Task::Vae { .. })
    {
        return Err(TrainError::Config(format!(
            "{}: {what}, scored by accuracy; a VAE's code is searched by its gate, trained by gradient with the rest",
            job.spec.display()
        )));
    }
    if let Some(what) = from_scratch
        && (opts.resume || cfg.outer.is_some())
    {
        return Err(TrainError::Config(format!(
            "{what}: it takes neither --resume nor a bilevel preset"
        )));
    }
    let (trials, mut strategy): (usize, Box<dyn Strategy>) = match job.search {
        Search::Gradient => return run_loop(net, &data, &cfg, &run, start, &device, obs),
        Search::Random { trials } => (trials, Box::new(Uniform::for_seed(cfg.seed))),
        Search::Controller { trials, lr } => {
            (trials, Box::new(Controller::new(&family, lr, cfg.seed)))
        }
        Search::AdaNet(growth) => {
            let subnetworks = Subnetworks::new(&family).map_err(|e| e.in_file(&job.spec))?;
            return grown(&subnetworks, &data, &cfg, &run, &growth, &device, obs);
        }
    };
    search(
        &family,
        &data,
        &cfg,
        &run,
        trials,
        strategy.as_mut(),
        &device,
        obs,
    )
}

/// A search by trials, keeping the best trial's checkpoint at the run's path.
#[allow(clippy::too_many_arguments)]
fn search(
    family: &Family,
    data: &Prepared,
    cfg: &TrainConfig,
    run: &Run,
    trials: usize,
    strategy: &mut dyn Strategy,
    device: &Device,
    obs: &mut dyn Observer,
) -> Result<Finished, TrainError> {
    if !family.edges.iter().any(|e| e.structure.is_searched()) {
        return Err(TrainError::Config(format!(
            "a search by trials: `{}` has no searched edge, so it has one member only",
            family.name
        )));
    }
    let obs = std::cell::RefCell::new(obs);
    let done = search_by_trials(
        family,
        data,
        cfg,
        run,
        trials,
        strategy,
        device,
        &mut |m| obs.borrow_mut().epoch(m),
        &mut |t| obs.borrow_mut().trial(t, trials),
    )?;
    let best = train::load(&run.checkpoint, device).map_err(within(format!(
        "reading the best trial {}",
        run.checkpoint.display()
    )))?;
    Ok(Finished {
        checkpoint: run.checkpoint.clone(),
        lambda: cfg.lambda,
        summary: summary(&best.net, data, cfg.lambda, device),
        best_trial: done.into_iter().rev().find(|t| t.best),
        grown: None,
    })
}

/// An AdaNet growth, its ensemble's checkpoint at the run's path.
fn grown(
    subnetworks: &Subnetworks,
    data: &Prepared,
    cfg: &TrainConfig,
    run: &Run,
    growth: &Growth,
    device: &Device,
    obs: &mut dyn Observer,
) -> Result<Finished, TrainError> {
    let obs = std::cell::RefCell::new(obs);
    let (net, rounds) = adanet::grow(
        subnetworks,
        data,
        cfg,
        run,
        growth,
        device,
        &mut |m| obs.borrow_mut().epoch(m),
        &mut |r| obs.borrow_mut().round(r, growth.rounds),
    )?;
    Ok(Finished {
        checkpoint: run.checkpoint.clone(),
        lambda: cfg.lambda,
        summary: summary(&net, data, cfg.lambda, device),
        best_trial: None,
        grown: rounds.last().map(|r| r.depths.clone()),
    })
}

/// A fine-tuning run: `ardent finetune`'s options, typed. [`FinetuneJob::new`] gives the
/// command's defaults.
#[derive(Debug, Clone)]
pub struct FinetuneJob {
    /// The trained checkpoint whose masks are fixed.
    pub checkpoint: PathBuf,
    pub data: Source,
    /// Where and how long; the checkpoint's default name is `NAME.finetuned.safetensors`
    /// beside `checkpoint`. Weights with ρ > `run.lambda` are removed and stay removed.
    pub run: RunOptions,
}

impl FinetuneJob {
    /// `ardent finetune CKPT --data SOURCE` with every other option at its default.
    pub fn new(checkpoint: impl Into<PathBuf>, data: Source) -> FinetuneJob {
        FinetuneJob {
            checkpoint: checkpoint.into(),
            data,
            run: RunOptions::new(5, 1e-4),
        }
    }

    /// The checkpoint the run writes.
    pub fn out(&self) -> PathBuf {
        self.run.out.clone().unwrap_or_else(|| {
            let stem = self
                .checkpoint
                .file_stem()
                .map(|s| s.to_string_lossy().into_owned())
                .unwrap_or_else(|| "model".into());
            self.checkpoint
                .with_file_name(format!("{stem}.finetuned.safetensors"))
        })
    }
}

/// Fine-tunes the surviving weights of a checkpoint as point estimates, with its structure and
/// its masks at λ fixed; the validation split and normaliser are the original run's.
pub fn finetune(job: &FinetuneJob, obs: &mut dyn Observer) -> Result<Finished, TrainError> {
    let opts = &job.run;
    let device = parse_device(&opts.device)?;
    let out = job.out();
    let from = if opts.resume { &out } else { &job.checkpoint };
    let loaded =
        train::load(from, &device).map_err(within(format!("loading {}", from.display())))?;
    // Weights no run produced take the default recipe (a validation fraction, the ELBO).
    let saved = loaded.config.clone().unwrap_or_default();
    let mut cfg = TrainConfig {
        objective: saved.objective,
        valid_fraction: saved.valid_fraction,
        finetune: true,
        gamma_lr: saved.gamma_lr,
        gate_lr: saved.gate_lr,
        search_warmup: saved.search_warmup,
        outer: None,
        // The fine-tuning keeps the training run's augmentation: same data, same recipe.
        augment: saved.augment,
        ..opts.config()
    };
    let start = if opts.resume {
        if !saved.finetune {
            return Err(TrainError::Config(format!(
                "{}: --resume needs a fine-tuning checkpoint, and this one is not",
                out.display()
            )));
        }
        cfg = TrainConfig {
            epochs: opts.epochs,
            ..saved
        };
        loaded
            .start(&device)
            .map_err(within(format!("resuming from {}", out.display())))?
    } else {
        Start::default()
    };
    let splits = load_data(&job.data, loaded.family.task, obs)?;
    let data = prepare(
        &loaded.family,
        splits,
        cfg.valid_fraction,
        cfg.seed,
        Some(loaded.normalizer),
    )?;
    fit_batch(&mut cfg, data.train.len(), obs);
    let net = freeze_masks(loaded.net, cfg.lambda);
    let run = opts.run(out, &job.data);
    run_loop(net, &data, &cfg, &run, start, &device, obs)
}
