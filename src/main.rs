use std::process::ExitCode;

#[tokio::main]
async fn main() -> ExitCode {
    ringback::cli::run().await
}
