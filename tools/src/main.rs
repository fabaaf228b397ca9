//! lambda-probe-tools: what runs around the probe on a workstation, never inside Lambda.
//! One module per subcommand; this file only picks the subcommand.

mod emulate;
mod predict;
mod report;

use std::process::ExitCode;

const USAGE: &str = "\
lambda-probe-tools: local tools around lambda-probe (never linked into the Lambda binary).

usage:
  lambda-probe-tools emulate --memory 128,256,1769 --payload <file.json | -> [options]
      Run the probe under Lambda's CPU share and memory limit for each memory size, with
      cgroups. `lambda-probe-tools emulate --help` lists the options.
  lambda-probe-tools report <input>... --out <dir>
      Plots and tables across memory sizes (report.md, report.html) from responses, emulate
      JSON lines and CloudWatch Logs exports. `lambda-probe-tools report --help` says more.
  lambda-probe-tools predict <result>... [--memory LIST] [--json] [--check <measured>...]
      A run's duration and cost at every memory size, with the cheapest, fastest and balanced
      sizes, from one run. `lambda-probe-tools predict --help` says more.
  lambda-probe-tools help
";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.first().map(String::as_str) {
        Some("emulate") => emulate::main(&args[1..]),
        Some("report") => report::main(&args[1..]),
        Some("predict") => predict::main(&args[1..]),
        Some("help" | "--help" | "-h") => {
            print!("{USAGE}");
            ExitCode::SUCCESS
        }
        Some(other) => {
            eprintln!("unknown command {other:?}\n\n{USAGE}");
            ExitCode::from(2)
        }
        None => {
            eprint!("{USAGE}");
            ExitCode::from(2)
        }
    }
}
