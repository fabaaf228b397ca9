//! The two doors: inside Lambda (no arguments), the runtime loop; outside, `run <payload>`
//! prints the same JSON.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    lambda_probe::host::mark_process_start();
    if std::env::args_os().len() > 1 {
        return lambda_probe::cli::main().await;
    }
    match lambda_probe::lambda::serve().await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("lambda runtime stopped: {e}");
            ExitCode::FAILURE
        }
    }
}
