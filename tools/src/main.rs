//! lambda-probe-tools: what runs around the probe on a workstation, never inside Lambda.
//! One module per subcommand; this file only picks the subcommand.

mod emulate;
mod predict;
mod report;

use clap::{Parser, Subcommand};
use std::process::ExitCode;

/// Local tools around lambda-probe (never linked into the Lambda binary).
#[derive(Debug, Parser)]
#[command(name = "lambda-probe-tools", version)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the probe under Lambda's CPU share and memory limit for each memory size, with
    /// cgroups.
    Emulate(emulate::Args),
    /// Plots and tables across memory sizes (report.md, report.html) from responses, emulate
    /// JSON lines and CloudWatch Logs exports.
    Report(report::Args),
    /// A run's duration and cost at every memory size, with the cheapest, fastest and balanced
    /// sizes, from one run.
    Predict(predict::Args),
}

fn main() -> ExitCode {
    // clap prints help and version on stdout with status 0, usage errors on stderr with 2.
    let cli = Cli::parse();
    match cli.command {
        Command::Emulate(args) => emulate::main(args),
        Command::Report(args) => report::main(args),
        Command::Predict(args) => predict::main(args),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_cli_is_well_formed() {
        Cli::command().debug_assert();
    }
}
