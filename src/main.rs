//! The two doors: inside Lambda, the runtime loop; outside, `run <payload>` prints the same JSON.

use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    lambda_probe::environment::mark_process_start();
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.is_empty() {
        // Plain text, no colour codes: CloudWatch shows escape sequences verbatim.
        tracing_subscriber::fmt()
            .with_ansi(false)
            .with_target(false)
            .without_time()
            .with_max_level(tracing::Level::INFO)
            .init();
        let handler = lambda_runtime::service_fn(lambda_probe::lambda_handler);
        return match lambda_runtime::run(handler).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("lambda runtime stopped: {e}");
                ExitCode::FAILURE
            }
        };
    }
    lambda_probe::output::cli(&args).await
}
