use std::path::PathBuf;

use anyhow::Result;
use ardent_data::{CsvOptions, LabelColumn, Source};
use ardent_runtime::args::{
    HeaderArgs, held_out_fraction, int_in, learning_rate, non_negative, open_unit_f32, term_weight,
};
use ardent_trainer::adanet::{self, Growth, Round};
use ardent_trainer::bilevel::Order;
use ardent_trainer::data::Augment;
use ardent_trainer::job::{
    self, FinetuneJob, Finished, Observer, OuterOverrides, RunOptions, Search, TrainJob,
};
use ardent_trainer::random::Trial;
use ardent_trainer::{EpochMetrics, LrSchedule, Preset};

use super::report::EpochLog;

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
    pub fn source(&self) -> Source {
        Source {
            csv: self.csv.options(),
            max_samples: self.max_samples,
            ..Source::new(self.data.clone())
        }
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
    /// fixed family for --epochs, and keep the best on the validation split in --out (the
    /// same as `--search random --trials N`).
    #[arg(long, default_value_t = 0, value_parser = int_in::<0, 10_000>, conflicts_with = "search")]
    random_search: usize,
    /// Search by trials or by growth instead of by gradient on γ. `random` and `controller`
    /// train --trials members, each a fixed family for --epochs, and keep the best on the
    /// validation split in --out: `random` draws them uniformly, `controller` from a policy
    /// per searched edge that REINFORCE learns from their validation accuracy. `adanet` grows
    /// an ensemble of the chain SPEC's subnetworks, one per round (--rounds), each candidate
    /// trained for --epochs beside the frozen earlier ones.
    #[arg(long, value_enum)]
    search: Option<SearchArg>,
    /// How many members --search random or controller trains.
    #[arg(
        long,
        value_parser = int_in::<1, 10_000>,
        requires = "search",
        required_if_eq_any([("search", "random"), ("search", "controller")])
    )]
    trials: Option<usize>,
    /// --search adanet: the most rounds, each adding one subnetwork (growth stops early when
    /// no candidate lowers the objective).
    #[arg(
        long,
        value_parser = int_in::<1, 1_000>,
        requires = "search",
        required_if_eq("search", "adanet"),
        conflicts_with = "trials"
    )]
    rounds: Option<usize>,
    /// --search adanet: λ, the weight of a subnetwork's complexity √(depth + 1) in its
    /// penalty (λ·√(depth + 1) + β)·|w| on its mixture weight w.
    #[arg(long, default_value_t = adanet::LAMBDA, value_parser = term_weight)]
    adanet_lambda: f64,
    /// --search adanet: β, the penalty per unit of |w| that every subnetwork pays.
    #[arg(long, default_value_t = adanet::BETA, value_parser = term_weight)]
    adanet_beta: f64,
    /// --search controller: the policy's learning rate (a step is rate × advantage ×
    /// ∇ log π).
    #[arg(long, default_value_t = job::CONTROLLER_LR, value_parser = learning_rate)]
    controller_lr: f64,
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
    /// Adam's learning rate for a VAE code's gate logits (one per code dimension).
    #[arg(long, default_value_t = 3e-2, value_parser = learning_rate)]
    gate_lr: f64,
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
///
/// [`TrainConfig::resumed`]: ardent_trainer::TrainConfig::resumed
fn given_settings(given: &[String]) -> Vec<String> {
    const OUTER: [&str; 5] = ["hypergradient", "lik_q", "prior_q", "xi", "reference"];
    given
        .iter()
        .map(|id| {
            if OUTER.contains(&id.as_str()) {
                "outer".to_string()
            } else {
                id.clone()
            }
        })
        .collect()
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

fn augment(args: &[AugmentArg]) -> Augment {
    Augment {
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
pub(crate) enum PresetArg {
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

impl Args {
    /// The run these options ask for.
    pub fn job(&self) -> TrainJob {
        TrainJob {
            spec: self.spec.clone(),
            data: self.data.source(),
            run: RunOptions {
                out: self.out.clone(),
                resume: self.resume,
                epochs: self.epochs,
                batch_size: self.batch_size,
                lr: self.lr,
                lr_schedule: self.lr_schedule.into(),
                seed: self.seed,
                lambda: self.lambda,
                checkpoint_every: self.checkpoint_every,
                metrics: self.metrics.clone(),
                progress: true,
                device: self.device.clone(),
            },
            given: given_settings(&self.given),
            preset: self.preset.into(),
            kl_weight: self.kl_weight,
            warmup: self.warmup,
            outer: OuterOverrides {
                order: self.hypergradient.map(|o| match o {
                    OrderArg::First => Order::First,
                    OrderArg::Second => Order::Second,
                }),
                lik: self.lik_q,
                prior: self.prior_q,
                xi: self.xi,
                references: self.reference.clone(),
            },
            member_of: self.member_of.clone(),
            search: self.search(),
            augment: augment(&self.augment),
            valid_fraction: self.valid_fraction,
            gamma_lr: self.gamma_lr,
            gate_lr: self.gate_lr,
            search_warmup: self.search_warmup,
        }
    }
}

/// What `--search` does.
#[derive(clap::ValueEnum, Debug, Clone, Copy)]
enum SearchArg {
    Random,
    Controller,
    #[value(name = "adanet")]
    AdaNet,
}

impl Args {
    fn search(&self) -> Search {
        match (self.search, self.trials, self.rounds) {
            (Some(SearchArg::Random), Some(trials), _) => Search::Random { trials },
            (Some(SearchArg::Controller), Some(trials), _) => Search::Controller {
                trials,
                lr: self.controller_lr,
            },
            (Some(SearchArg::AdaNet), _, Some(rounds)) => Search::AdaNet(Growth {
                rounds,
                lambda: self.adanet_lambda,
                beta: self.adanet_beta,
            }),
            // clap requires --trials with --search random or controller, --rounds with
            // --search adanet, and refuses --random-search beside --search.
            _ if self.random_search > 0 => Search::Random {
                trials: self.random_search,
            },
            _ => Search::Gradient,
        }
    }
}

/// Prints a run's notes to stderr and its epochs and trials to stdout, as the user chose.
#[derive(Debug)]
pub struct Printer(pub EpochLog);

impl Observer for Printer {
    fn note(&mut self, text: &str) {
        eprintln!("note: {text}");
    }
    fn epoch(&mut self, metrics: &EpochMetrics) {
        self.0.epoch(metrics);
    }
    fn trial(&mut self, trial: &Trial, trials: usize) {
        self.0.trial(trial, trials);
    }
    fn round(&mut self, round: &Round, rounds: usize) {
        self.0.round(round, rounds);
    }
}

pub fn run(a: Args) -> Result<()> {
    let done = job::train(&a.job(), &mut Printer(EpochLog::new(a.json, a.epochs)))?;
    summarize(&done);
    Ok(())
}

/// Prints test (or validation) quality with pruning at λ, the surviving weights, and random
/// search's best trial.
pub fn summarize(done: &Finished) {
    if let Some(depths) = &done.grown {
        let list: Vec<String> = depths.iter().map(usize::to_string).collect();
        eprintln!(
            "adanet: {} subnetworks of depths {}",
            depths.len(),
            list.join(", ")
        );
    }
    if let Some(best) = &done.best_trial {
        eprintln!(
            "search: trial {} is the best ({} parameters)",
            best.trial + 1,
            best.member_params
        );
    }
    let s = &done.summary;
    let quality = match (s.accuracy, s.rmse, &s.code) {
        (_, _, Some(code)) => format!(
            "−ELBO {:.2} nats per sample, code {} of {} dimensions kept,",
            s.nll, code.kept, code.dims
        ),
        (Some(a), _, _) => format!("accuracy {:.2} %", 100.0 * a),
        (_, Some(r), _) => format!("RMSE {r:.4}"),
        _ => String::new(),
    };
    eprintln!(
        "{} {quality} with weights ρ ≤ {}: {} of {} kept; checkpoint {}",
        s.set,
        done.lambda,
        s.weights_kept,
        s.weights_total,
        done.checkpoint.display()
    );
    for (op, alive, units) in &s.live_units {
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

impl FinetuneArgs {
    /// The run these options ask for.
    pub fn job(&self) -> FinetuneJob {
        FinetuneJob {
            checkpoint: self.checkpoint.clone(),
            data: self.data.source(),
            run: RunOptions {
                out: self.out.clone(),
                resume: self.resume,
                epochs: self.epochs,
                batch_size: self.batch_size,
                lr: self.lr,
                lr_schedule: self.lr_schedule.into(),
                seed: self.seed,
                lambda: self.lambda,
                checkpoint_every: self.checkpoint_every,
                metrics: self.metrics.clone(),
                progress: true,
                device: self.device.clone(),
            },
        }
    }
}

/// `ardent finetune`.
pub fn run_finetune(a: FinetuneArgs) -> Result<()> {
    let done = job::finetune(&a.job(), &mut Printer(EpochLog::new(a.json, a.epochs)))?;
    summarize(&done);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct TrainCli {
        #[command(flatten)]
        args: Args,
    }

    #[derive(Parser)]
    struct FinetuneCli {
        #[command(flatten)]
        args: FinetuneArgs,
    }

    /// The command's defaults and the library's are one set: a pipeline that builds a job
    /// with `TrainJob::new` trains as `ardent train` does.
    #[test]
    fn train_defaults_are_the_jobs() {
        let cli = TrainCli::parse_from(["train", "s.toml", "--data", "digits"]);
        let job = cli.args.job();
        let lib = TrainJob::new("s.toml", Source::new("digits"));
        assert_eq!(format!("{job:?}"), format!("{lib:?}"));
    }

    #[test]
    fn each_search_value_gives_its_search() {
        let search = |extra: &[&str]| {
            let mut args = vec!["train", "s.toml", "--data", "digits"];
            args.extend_from_slice(extra);
            TrainCli::parse_from(args).args.job().search
        };
        assert_eq!(search(&[]), Search::Gradient);
        assert_eq!(
            search(&["--search", "random", "--trials", "4"]),
            Search::Random { trials: 4 }
        );
        assert_eq!(
            search(&["--random-search", "4"]),
            Search::Random { trials: 4 }
        );
        assert_eq!(
            search(&["--search", "controller", "--trials", "4"]),
            Search::Controller {
                trials: 4,
                lr: job::CONTROLLER_LR
            }
        );
        assert_eq!(
            search(&["--search", "adanet", "--rounds", "3", "--adanet-beta", "0"]),
            Search::AdaNet(Growth {
                rounds: 3,
                lambda: adanet::LAMBDA,
                beta: 0.0
            })
        );
    }

    #[test]
    fn finetune_defaults_are_the_jobs() {
        let cli = FinetuneCli::parse_from(["finetune", "c.safetensors", "--data", "digits"]);
        let job = cli.args.job();
        let lib = FinetuneJob::new("c.safetensors", Source::new("digits"));
        assert_eq!(format!("{job:?}"), format!("{lib:?}"));
    }
}
