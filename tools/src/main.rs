//! lambda-probe-tools: what runs around the probe on a workstation, never inside Lambda.
//! One module per subcommand; this file only picks the subcommand.

mod emulate;
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
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            let _ = e.print();
            // Help and version go to stdout with status 0; usage errors are status 2.
            return if e.use_stderr() {
                ExitCode::from(2)
            } else {
                ExitCode::SUCCESS
            };
        }
    };
    match cli.command {
        Command::Emulate(args) => emulate::main(args),
        Command::Report(args) => report::main(args),
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
