//! `ardent`'s command line as a library: the clap definitions and what each command does, so
//! that tests can walk every command's options. Thin: parsing, printing, exit codes; the work is
//! in the crates below. Every error exits with code 2 after one `error:` line that names the
//! file and the place.

pub mod cmd;
mod fmt;

use clap::{Parser, Subcommand};

#[derive(Parser, Debug)]
#[command(
    name = "ardent",
    version,
    about = "Train a model family with ARD, prune it, export compact ONNX, run it with tract"
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

impl Cli {
    /// Parses the process's arguments as [`Parser::parse`] does (exiting on bad ones), and
    /// notes which of `train`'s options were given on the command line, which `--resume`
    /// checks against the stored run.
    pub fn from_env() -> Cli {
        use clap::{CommandFactory, FromArgMatches};
        let matches = Cli::command().get_matches();
        let mut cli = Cli::from_arg_matches(&matches).unwrap_or_else(|e| e.exit());
        if let (Command::Train(a), Some(("train", sub))) = (&mut cli.command, matches.subcommand())
        {
            a.note_given(sub);
        }
        cli
    }
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Validate model-family specs and print vertices, edges, parameters and FLOPs.
    Check(cmd::check::Args),
    /// Read a dataset and print a summary of it.
    Data(cmd::data::Args),
    /// Train a family with variational ARD weights; writes a checkpoint and per-epoch JSON lines.
    Train(Box<cmd::train::Args>),
    /// Fine-tune a trained checkpoint's surviving weights with its structure and masks fixed.
    Finetune(cmd::train::FinetuneArgs),
    /// Prune a checkpoint at λ, collapse its structure and write a compact ONNX file, checked
    /// in tract against the collapsed model.
    Export(cmd::export::Args),
    /// The demo: search mlp-search-weights on the bundled digits with ARD, export it dense and
    /// compact, fine-tune, export again, and compare them in tract (under a minute).
    Demo(cmd::pipeline::DemoArgs),
    /// The demo's steps on any spec and data: train, export, fine-tune, export, compare.
    Pipeline(cmd::pipeline::Args),
    /// Export checkpoints at many thresholds λ in memory, measure each in tract beside a
    /// magnitude-pruning baseline of the same size; write a CSV and a Pareto plot.
    Sweep(cmd::sweep::Args),
    /// Draw the Gumbel-softmax and Dirichlet densities on the 2-simplex at several
    /// temperatures, or γ per edge over training from a metrics log.
    Viz(cmd::viz::Args),
    /// Predict every sample of an input file with an ONNX model (as `ardent-run run`).
    Run(ardent_runtime::cli::RunArgs),
    /// Time an ONNX model at several batch sizes (as `ardent-run bench`).
    Bench(ardent_runtime::cli::BenchArgs),
    /// Describe an ONNX model (as `ardent-run info`).
    Info(ardent_runtime::cli::InfoArgs),
}

/// Runs the parsed command.
pub fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Check(a) => cmd::check::run(a),
        Command::Data(a) => cmd::data::run(a),
        Command::Train(a) => cmd::train::run(*a),
        Command::Finetune(a) => cmd::train::run_finetune(a),
        Command::Export(a) => cmd::export::run(a),
        Command::Demo(a) => cmd::pipeline::demo(a),
        Command::Pipeline(a) => cmd::pipeline::run(a),
        Command::Sweep(a) => cmd::sweep::run(a),
        Command::Viz(a) => cmd::viz::run(a),
        Command::Run(a) => ardent_runtime::cli::run(a),
        Command::Bench(a) => ardent_runtime::cli::bench_cmd(a),
        Command::Info(a) => ardent_runtime::cli::info(a),
    }
}
