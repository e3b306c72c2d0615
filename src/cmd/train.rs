use std::path::PathBuf;

use anyhow::{Context, Result};
use ardent_data::{CsvOptions, LabelColumn, LoadOptions, Splits, TargetKind, bundled};
use ardent_models::{Family, Task};
use ardent_runtime::args::{
    HeaderArgs, held_out_fraction, int_in, learning_rate, non_negative, open_unit_f32, term_weight,
};
use ardent_trainer::bilevel::{Order, OuterConfig, Reference};
use ardent_trainer::train::{self, ChangedSetting, Run, TrainConfig};

use super::report::EpochLog;
use ardent_trainer::{LrSchedule, Objective, Preset, Supernet, data::prepare, parse_device};

/// How a CSV file is read, shared by the commands that read data.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct CsvArgs {
    /// CSV: the label column's name (default: the last column).
    #[arg(long)]
    pub label: Option<String>,
    #[command(flatten)]
    pub header: HeaderArgs,
}

impl CsvArgs {
    pub fn options(&self) -> CsvOptions {
        CsvOptions {
            header: self.header.header(),
            label: self
                .label
                .clone()
                .map_or(LabelColumn::Last, LabelColumn::Name),
        }
    }

    /// The same settings as command-line words, for the pipeline's stages.
    pub fn to_args(&self) -> Vec<String> {
        let mut args = Vec::new();
        if let Some(l) = &self.label {
            args.extend(["--label".into(), l.clone()]);
        }
        if self.header.header {
            args.push("--header".into());
        }
        if self.header.no_header {
            args.push("--no-header".into());
        }
        args
    }
}

/// Where the data comes from, shared by the commands that read data.
#[derive(clap::Args, Debug, Clone)]
pub struct DataArgs {
    /// Dataset: a directory (MNIST IDX layout, train.csv, or x_train.npy + y_train.npy), a CSV
    /// file, or a bundled set: `digits` or `wine`.
    #[arg(long)]
    pub data: String,
    #[command(flatten)]
    pub csv: CsvArgs,
    /// Use at most this many training samples (quick runs).
    #[arg(long, value_parser = int_in::<1, { u64::MAX }>)]
    pub max_samples: Option<usize>,
}

impl DataArgs {
    /// Loads the data as `task` reads it; what the readers decided (a guessed CSV header,
    /// labels written as decimals) goes to standard error as notes.
    pub fn load(&self, task: Task) -> Result<Splits> {
        let kind = match task {
            Task::Classification { .. } => TargetKind::Classes,
            Task::Regression { .. } => TargetKind::Real,
        };
        let mut splits = match bundled::by_name(&self.data) {
            Some(d) => Splits {
                train: d?,
                test: None,
            },
            None => {
                let options = LoadOptions {
                    allow_non_finite: false,
                    csv: self.csv.options(),
                };
                ardent_data::load_path(&PathBuf::from(&self.data), kind, &options)?
            }
        };
        for d in std::iter::once(&splits.train).chain(&splits.test) {
            for n in &d.notes {
                eprintln!("note: {n}");
            }
        }
        if let Some(n) = self.max_samples {
            splits.train = splits.train.take(n);
        }
        Ok(splits)
    }
}

#[derive(clap::Args, Debug)]
pub struct Args {
    /// The model-family spec (TOML).
    spec: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// Checkpoint to write (safetensors); default `NAME.safetensors`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the run stored in the `--out` checkpoint, with its settings: `--epochs`,
    /// `--checkpoint-every`, `--metrics` and `--device` may change; other settings given
    /// again must equal the stored ones.
    #[arg(long)]
    resume: bool,
    #[arg(long, default_value_t = 10, value_parser = int_in::<1, 1_000_000>)]
    epochs: usize,
    /// Samples per step; a batch larger than the training split is cut to it, with a note.
    #[arg(long, default_value_t = 100, value_parser = int_in::<1, { u64::MAX }>)]
    batch_size: usize,
    #[arg(long, default_value_t = 1e-3, value_parser = learning_rate)]
    lr: f64,
    /// `cosine` decays the learning rate to 0 over the run; `constant` keeps it (BENCHMARKS.md
    /// compares them).
    #[arg(long, value_enum, default_value = "cosine")]
    lr_schedule: Schedule,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Objective: `ml` (no KL), `elbo` (KL weight 1) and `single-level` (one level);
    /// `darts` (weights by likelihood, structure on the validation split) and `evidence`
    /// (priors on γ by the validation likelihood, second-order hypergradient) are bilevel.
    #[arg(long, value_enum, default_value = "elbo")]
    preset: PresetArg,
    /// Bilevel presets: the hypergradient's order (default: the preset's).
    #[arg(long, value_enum)]
    hypergradient: Option<OrderArg>,
    /// Bilevel presets: override λ_lik^Q.
    #[arg(long, value_parser = term_weight)]
    lik_q: Option<f64>,
    /// Bilevel presets: override λ_prior^Q.
    #[arg(long, value_parser = term_weight)]
    prior_q: Option<f64>,
    /// Bilevel presets: ξ, the second-order hypergradient's virtual step (default: --lr).
    #[arg(long, value_parser = learning_rate)]
    xi: Option<f64>,
    /// Bilevel presets: a reference structure p′ with its weight λ_struct in the outer problem,
    /// as `EDGE=s1,s2,...;EDGE=...@λ` (concentrations per op of the named searched edges, e.g.
    /// `x->a=5,0.2,0.2@0.5`). λ > 0 pulls the structure towards p′, λ < 0 pushes it away.
    /// Repeatable.
    #[arg(long)]
    reference: Vec<String>,
    /// Train, from scratch, the member a searched checkpoint of this family collapses to (as
    /// DARTS retrains the structure it found), as a fixed family.
    #[arg(long)]
    member_of: Option<PathBuf>,
    /// Random search: train this many members drawn uniformly from the family, each as a
    /// fixed family for --epochs, and keep the best on the validation split in --out.
    #[arg(long, default_value_t = 0, value_parser = int_in::<0, 10_000>)]
    random_search: usize,
    /// Override the preset's KL weight λ_prior^L.
    #[arg(long, value_parser = term_weight)]
    kl_weight: Option<f64>,
    /// Augment image batches: `shift` (random shifts of up to 2 pixels, padding and
    /// cropping back), `flip` (mirror half the images left to right), or both
    /// (`shift,flip`). Reproducible from the seed; images only.
    #[arg(long, value_enum, value_delimiter = ',')]
    augment: Vec<AugmentArg>,
    /// Epochs over which the KL weight rises linearly from 0 (default: half of --epochs;
    /// 0 turns the warm-up off).
    #[arg(long, value_parser = non_negative)]
    warmup: Option<f64>,
    /// Pruning threshold on ρ = exp(−μ²/2σ²) for the metrics.
    #[arg(long, default_value_t = ardent_models::DEFAULT_LAMBDA as f32, value_parser = open_unit_f32)]
    lambda: f32,
    /// The share of the training data held out for validation.
    #[arg(long, default_value_t = 0.1, value_parser = held_out_fraction)]
    valid_fraction: f64,
    /// Adam's learning rate for the structure logits θ of searched edges.
    #[arg(long, default_value_t = 3e-3, value_parser = learning_rate)]
    gamma_lr: f64,
    /// Epochs before θ starts to move (the candidates' weights warm up first).
    #[arg(long, default_value_t = 0, value_parser = int_in::<0, 1_000_000>)]
    search_warmup: usize,
    /// Checkpoint every N epochs (and at the end); 0: only at the end.
    #[arg(long, default_value_t = 1, value_parser = int_in::<0, 1_000_000>)]
    checkpoint_every: usize,
    /// Write every epoch's full metrics as JSON lines to this file (a new run starts it
    /// afresh; --resume keeps the epochs the checkpoint holds).
    #[arg(long)]
    metrics: Option<PathBuf>,
    /// Print the full metrics as JSON lines on stdout instead of one short line per epoch.
    #[arg(long)]
    json: bool,
    /// `flex` (CPU); with `--features cuda`, `cuda[:N]`; with `--features vulkan`, `vulkan[:N]`
    /// (the N-th discrete GPU; plain `vulkan` lets wgpu pick). A GPU that cannot be brought up
    /// is an error before any work.
    #[arg(long, default_value = "flex")]
    device: String,
    /// The options given on the command line (clap's ids), so that `--resume` tells a setting
    /// the user asked for from a default; empty where the arguments were built in code.
    #[arg(skip)]
    given: Vec<String>,
}

impl Args {
    /// Records which options `matches` (this command's) took from the command line.
    pub(crate) fn note_given(&mut self, matches: &clap::ArgMatches) {
        self.given = matches
            .ids()
            .filter(|id| {
                matches.value_source(id.as_str()) == Some(clap::parser::ValueSource::CommandLine)
            })
            .map(|id| id.to_string())
            .collect();
    }
}

/// The options given on the command line, as the settings [`TrainConfig::resumed`] names:
/// clap's ids are the options' names with underscores, and the outer problem's five options
/// are one setting, `outer`. Ids that name no stored setting (`data`, `epochs`, ...) pass
/// through and are not compared.
fn given_settings(a: &Args) -> Vec<&str> {
    const OUTER: [&str; 5] = ["hypergradient", "lik_q", "prior_q", "xi", "reference"];
    a.given
        .iter()
        .map(|id| {
            if OUTER.contains(&id.as_str()) {
                "outer"
            } else {
                id.as_str()
            }
        })
        .collect()
}

/// The refusal of a resumed run whose settings differ from the stored ones.
fn changed_settings_error(out: &std::path::Path, changed: &[ChangedSetting]) -> anyhow::Error {
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
    anyhow::anyhow!(
        "{}: --resume continues the stored run with its own settings, but {} differ{}; drop {} \
         or start a new run with another --out",
        out.display(),
        list.join(", "),
        if list.len() == 1 { "s" } else { "" },
        if list.len() == 1 { "it" } else { "them" },
    )
}

/// What `--augment` turns on.
#[derive(clap::ValueEnum, Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum AugmentArg {
    Shift,
    Flip,
}

/// The pixels a `--augment shift` moves an image by, at most, along each axis: 2 of 28 keeps a
/// Fashion-MNIST garment inside the frame.
const AUGMENT_SHIFT: usize = 2;

fn augment(args: &[AugmentArg]) -> ardent_trainer::data::Augment {
    ardent_trainer::data::Augment {
        shift: if args.contains(&AugmentArg::Shift) {
            AUGMENT_SHIFT
        } else {
            0
        },
        flip: args.contains(&AugmentArg::Flip),
    }
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum Schedule {
    Constant,
    Cosine,
}

impl From<Schedule> for LrSchedule {
    fn from(s: Schedule) -> LrSchedule {
        match s {
            Schedule::Constant => LrSchedule::Constant,
            Schedule::Cosine => LrSchedule::Cosine,
        }
    }
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum PresetArg {
    Ml,
    Elbo,
    SingleLevel,
    Darts,
    Evidence,
}

impl From<PresetArg> for Preset {
    fn from(p: PresetArg) -> Preset {
        match p {
            PresetArg::Ml => Preset::Ml,
            PresetArg::Elbo => Preset::Elbo,
            PresetArg::SingleLevel => Preset::SingleLevel,
            PresetArg::Darts => Preset::Darts,
            PresetArg::Evidence => Preset::Evidence,
        }
    }
}

#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum OrderArg {
    First,
    Second,
}

/// The KL warm-up a run gets unless told otherwise: half its epochs. Measured on the zoo
/// (BENCHMARKS.md, "Training defaults"): against no warm-up it keeps fewer weights at a
/// higher accuracy, because the weights find the data before the prior starts to prune them.
pub(crate) fn default_warmup(epochs: usize) -> f64 {
    epochs as f64 / 2.0
}

/// Reads the spec and fits its input to the data's sample size when they differ.
pub fn family_for(spec: &std::path::Path, splits: &Splits) -> Result<Family> {
    let family = Family::from_path(spec)?;
    let shape = &splits.train.sample_shape;
    if shape.iter().product::<usize>() == family.input_shape().size() {
        return Ok(family);
    }
    let retargeted = family.with_input(shape).with_context(|| {
        format!(
            "{}: cannot take the data's samples of shape {shape:?}",
            spec.display()
        )
    })?;
    eprintln!(
        "note: input of `{}` set to {shape:?} to fit {}",
        family.name, splits.train.name
    );
    Ok(retargeted)
}

/// The member the searched checkpoint `path` of `family` collapses to, as a fixed family.
fn collapsed_member(family: &Family, path: &std::path::Path) -> Result<Family> {
    let ck = ardent_models::Checkpoint::read(path)?;
    if ck.family.source != family.source {
        anyhow::bail!(
            "--member-of {}: that checkpoint is of family `{}`, whose spec differs from {}",
            path.display(),
            ck.family.name,
            family.name
        );
    }
    let choice = ck.collapsed_choice().with_context(|| {
        format!(
            "--member-of {}: a searched edge has no stored structure",
            path.display()
        )
    })?;
    let member = family
        .fixed_member(&choice)
        .with_context(|| format!("--member-of {}", path.display()))?;
    eprintln!(
        "training the member of {} from scratch: {} parameters before pruning",
        path.display(),
        family.member_cost(&choice).params
    );
    Ok(member)
}

/// The outer problem of the chosen preset, with the command line's overrides.
fn outer_config(a: &Args, family: &Family) -> Result<Option<OuterConfig>> {
    let Some(mut o) = Objective::outer(a.preset.into(), a.xi.unwrap_or(a.lr)) else {
        if a.hypergradient.is_some()
            || a.lik_q.is_some()
            || a.prior_q.is_some()
            || a.xi.is_some()
            || !a.reference.is_empty()
        {
            anyhow::bail!(
                "--hypergradient, --lik-q, --prior-q, --xi and --reference set the outer problem, which only the bilevel presets have (--preset darts or evidence)"
            );
        }
        return Ok(None);
    };
    o.references = a
        .reference
        .iter()
        .map(|r| {
            Reference::parse(r, family).map_err(|why| anyhow::anyhow!("--reference `{r}`: {why}"))
        })
        .collect::<Result<_>>()?;
    if let Some(order) = a.hypergradient {
        o.order = match order {
            OrderArg::First => Order::First,
            OrderArg::Second => Order::Second,
        };
    }
    o.lik = a.lik_q.unwrap_or(o.lik);
    o.prior = a.prior_q.unwrap_or(o.prior);
    Ok(Some(o))
}

/// Cuts the batch size to the training split, saying so: a batch cannot hold more samples
/// than there are.
fn fit_batch(cfg: &mut TrainConfig, train_samples: usize) {
    if cfg.batch_size > train_samples {
        eprintln!(
            "note: --batch-size {} is larger than the {train_samples} training samples; using {train_samples}",
            cfg.batch_size
        );
        cfg.batch_size = train_samples;
    }
}

pub fn run(a: Args) -> Result<()> {
    let device = parse_device(&a.device)?;
    let probe = Family::from_path(&a.spec)?;
    let splits = a.data.load(probe.task)?;
    let mut family = family_for(&a.spec, &splits)?;
    if let Some(searched) = &a.member_of {
        family = collapsed_member(&family, searched)?;
    }
    let out = a
        .out
        .clone()
        .unwrap_or_else(|| PathBuf::from(format!("{}.safetensors", family.name)));
    let mut cfg = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        lr_schedule: a.lr_schedule.into(),
        seed: a.seed,
        objective: {
            let mut o = Objective::preset(a.preset.into());
            if let Some(w) = a.kl_weight {
                o.kl_weight = w;
            }
            o.warmup_epochs = a.warmup.unwrap_or(default_warmup(a.epochs));
            o
        },
        lambda: a.lambda,
        valid_fraction: a.valid_fraction,
        checkpoint_every: a.checkpoint_every,
        finetune: false,
        gamma_lr: a.gamma_lr,
        search_warmup: a.search_warmup,
        outer: outer_config(&a, &family)?,
        augment: augment(&a.augment),
    };
    let (net, normalizer, start) = if a.resume {
        let loaded = train::load(&out, &device)
            .with_context(|| format!("resuming from {}", out.display()))?;
        if let Some(saved) = &loaded.config {
            cfg = cfg
                .resumed(saved, &given_settings(&a))
                .map_err(|changed| changed_settings_error(&out, &changed))?;
        }
        eprintln!(
            "resuming {} at epoch {} (step {})",
            out.display(),
            loaded.epoch,
            loaded.step
        );
        let start = loaded
            .start(&device)
            .with_context(|| format!("resuming from {}", out.display()))?;
        (loaded.net, Some(loaded.normalizer), start)
    } else {
        (
            Supernet::new(&family, &device, cfg.seed)?,
            None,
            train::Start::default(),
        )
    };
    let data = prepare(
        &net.family,
        splits,
        cfg.valid_fraction,
        cfg.seed,
        normalizer,
    )?;
    fit_batch(&mut cfg, data.train.len());
    let run = Run {
        checkpoint: out,
        metrics: a.metrics.clone(),
        fresh_metrics: !a.resume,
        progress: true,
        data_name: a.data.data.clone(),
    };
    let mut log = EpochLog::new(a.json, cfg.epochs);
    if a.random_search > 0 {
        if a.resume || cfg.outer.is_some() {
            anyhow::bail!(
                "--random-search trains fixed members from scratch: it takes neither --resume nor a bilevel preset"
            );
        }
        return random_search(
            &family,
            &data,
            &cfg,
            &run,
            a.random_search,
            &device,
            &mut log,
        );
    }
    train_and_summarize(net, &data, &cfg, &run, start, &device, &mut log)
}

/// Random search: each trial's epochs and a line per trial on stdout, then the best trial's
/// summary.
fn random_search(
    family: &Family,
    data: &ardent_trainer::data::Prepared,
    cfg: &TrainConfig,
    run: &Run,
    trials: usize,
    device: &ardent_trainer::Device,
    log: &mut EpochLog,
) -> Result<()> {
    if !family.edges.iter().any(|e| e.structure.is_searched()) {
        anyhow::bail!(
            "--random-search: `{}` has no searched edge, so it has one member only",
            family.name
        );
    }
    let log = std::cell::RefCell::new(log);
    let done = ardent_trainer::random::random_search(
        family,
        data,
        cfg,
        run,
        trials,
        device,
        &mut |m| log.borrow_mut().epoch(m),
        &mut |t| log.borrow_mut().trial(t, trials),
    )?;
    if let Some(best) = done.iter().rev().find(|t| t.best) {
        eprintln!(
            "random search: trial {} of {trials} is the best ({} parameters)",
            best.trial + 1,
            best.member_params
        );
    }
    let best = train::load(&run.checkpoint, device)
        .with_context(|| format!("reading the best trial {}", run.checkpoint.display()))?;
    summarize(&best.net, data, cfg.lambda, device, &run.checkpoint);
    Ok(())
}

/// Runs the loop with a line per epoch on stdout, then prints the summary.
fn train_and_summarize(
    net: Supernet,
    data: &ardent_trainer::data::Prepared,
    cfg: &TrainConfig,
    run: &Run,
    start: train::Start,
    device: &ardent_trainer::Device,
    log: &mut EpochLog,
) -> Result<()> {
    let trained = train::train(net, data, cfg, run, start, device, &mut |m| log.epoch(m))?;
    summarize(&trained, data, cfg.lambda, device, &run.checkpoint);
    Ok(())
}

/// Prints test (or validation) quality with pruning at λ, and the surviving weights.
pub fn summarize(
    net: &Supernet,
    data: &ardent_trainer::data::Prepared,
    lambda: f32,
    device: &ardent_trainer::Device,
    out: &std::path::Path,
) {
    let s = train::summary(net, data, lambda, device);
    let quality = match (s.accuracy, s.rmse) {
        (Some(a), _) => format!("accuracy {:.2} %", 100.0 * a),
        (_, Some(r)) => format!("RMSE {r:.4}"),
        _ => String::new(),
    };
    eprintln!(
        "{} {quality} with weights ρ ≤ {lambda}: {} of {} kept; checkpoint {}",
        s.set,
        s.weights_kept,
        s.weights_total,
        out.display()
    );
    for (op, alive, units) in s.live_units {
        eprintln!("  {op}: {alive}/{units} units live");
    }
}

#[derive(clap::Args, Debug)]
pub struct FinetuneArgs {
    /// The trained checkpoint whose masks are fixed.
    checkpoint: PathBuf,
    #[command(flatten)]
    data: DataArgs,
    /// The fine-tuned checkpoint to write; default `NAME.finetuned.safetensors`.
    #[arg(long)]
    out: Option<PathBuf>,
    /// Continue the fine-tuning run stored in `--out`.
    #[arg(long)]
    resume: bool,
    #[arg(long, default_value_t = 5, value_parser = int_in::<1, 1_000_000>)]
    epochs: usize,
    /// Samples per step; a batch larger than the training split is cut to it, with a note.
    #[arg(long, default_value_t = 100, value_parser = int_in::<1, { u64::MAX }>)]
    batch_size: usize,
    #[arg(long, default_value_t = 1e-4, value_parser = learning_rate)]
    lr: f64,
    #[arg(long, value_enum, default_value = "cosine")]
    lr_schedule: Schedule,
    #[arg(long, default_value_t = 42)]
    seed: u64,
    /// Weights with ρ = exp(−μ²/2σ²) > λ are removed and stay removed.
    #[arg(long, default_value_t = ardent_models::DEFAULT_LAMBDA as f32, value_parser = open_unit_f32)]
    lambda: f32,
    /// Checkpoint every N epochs (and at the end); 0: only at the end.
    #[arg(long, default_value_t = 1, value_parser = int_in::<0, 1_000_000>)]
    checkpoint_every: usize,
    /// Write every epoch's full metrics as JSON lines to this file.
    #[arg(long)]
    metrics: Option<PathBuf>,
    /// Print the full metrics as JSON lines on stdout instead of one short line per epoch.
    #[arg(long)]
    json: bool,
    /// `flex` (CPU), or `cuda[:N]` / `vulkan[:N]` in builds with those features (as for `train`).
    #[arg(long, default_value = "flex")]
    device: String,
}

/// Fine-tunes the surviving weights of a checkpoint as point estimates, with its structure and
/// its masks at λ fixed; the validation split and normaliser are the original run's.
pub fn run_finetune(a: FinetuneArgs) -> Result<()> {
    let device = parse_device(&a.device)?;
    let out = a.out.clone().unwrap_or_else(|| {
        let stem = a
            .checkpoint
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "model".into());
        a.checkpoint
            .with_file_name(format!("{stem}.finetuned.safetensors"))
    });
    let from = if a.resume { &out } else { &a.checkpoint };
    let loaded =
        train::load(from, &device).with_context(|| format!("loading {}", from.display()))?;
    // Weights no run produced take the default recipe (a validation fraction, the ELBO).
    let saved = loaded.config.clone().unwrap_or_default();
    let mut cfg = TrainConfig {
        epochs: a.epochs,
        batch_size: a.batch_size,
        lr: a.lr,
        lr_schedule: a.lr_schedule.into(),
        seed: a.seed,
        objective: saved.objective,
        lambda: a.lambda,
        valid_fraction: saved.valid_fraction,
        checkpoint_every: a.checkpoint_every,
        finetune: true,
        gamma_lr: saved.gamma_lr,
        search_warmup: saved.search_warmup,
        outer: None,
        // The fine-tuning keeps the training run's augmentation: same data, same recipe.
        augment: saved.augment,
    };
    let start = if a.resume {
        if !saved.finetune {
            anyhow::bail!(
                "{}: --resume needs a fine-tuning checkpoint, and this one is not",
                out.display()
            );
        }
        cfg = TrainConfig {
            epochs: a.epochs,
            ..saved
        };
        loaded
            .start(&device)
            .with_context(|| format!("resuming from {}", out.display()))?
    } else {
        train::Start::default()
    };
    let splits = a.data.load(loaded.family.task)?;
    let data = prepare(
        &loaded.family,
        splits,
        cfg.valid_fraction,
        cfg.seed,
        Some(loaded.normalizer),
    )?;
    fit_batch(&mut cfg, data.train.len());
    let net = train::freeze_masks(loaded.net, cfg.lambda);
    let run = Run {
        checkpoint: out,
        metrics: a.metrics.clone(),
        fresh_metrics: !a.resume,
        progress: true,
        data_name: a.data.data.clone(),
    };
    let mut log = EpochLog::new(a.json, cfg.epochs);
    train_and_summarize(net, &data, &cfg, &run, start, &device, &mut log)
}
