//! `ardent-run`: run, time and describe ONNX models with tract. Small enough for a board: it
//! links tract and ardent's data readers only.

use clap::{Parser, Subcommand};

use ardent_runtime::cli;

#[derive(Parser, Debug)]
#[command(
    name = "ardent-run",
    version,
    about = "Run, time and describe ONNX models with tract"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Predict every sample of an input file; accuracy when labels are given.
    Run(cli::RunArgs),
    /// Latency percentiles, throughput and peak memory at several batch sizes.
    Bench(cli::BenchArgs),
    /// Inputs, outputs, parameter count and ardent metadata of a model.
    Info(cli::InfoArgs),
}

fn main() -> std::process::ExitCode {
    cli::quiet_broken_pipe();
    cli::keep_freed_memory();
    let result = match Cli::parse().command {
        Command::Run(a) => cli::run(a),
        Command::Bench(a) => cli::bench_cmd(a),
        Command::Info(a) => cli::info(a),
    };
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            std::process::ExitCode::from(2)
        }
    }
}
