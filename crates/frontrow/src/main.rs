//! `frontrow`: the concert seat-reservation server. Settings come from the environment (see
//! README); without `DATABASE_URL` it runs on the embedded in-memory store with demo data.

use std::process::ExitCode;

mod catalogue;
mod settings;
mod startup;
mod system;
mod tasks;
mod telemetry;

#[tokio::main]
async fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match args.iter().map(String::as_str).collect::<Vec<_>>().as_slice() {
        [] => {}
        ["catalogue", "import", path] => return catalogue::import(path).await,
        _ => {
            eprintln!(
                "usage: frontrow                              serve (settings in the environment; see README)"
            );
            eprintln!("       frontrow catalogue import FILE.json   load or update concerts in DATABASE_URL");
            return ExitCode::from(2);
        }
    }
    let settings = match settings::Settings::from_env() {
        Ok(settings) => settings,
        Err(error) => {
            eprintln!("frontrow: {error}");
            return ExitCode::from(2);
        }
    };
    telemetry::init(settings.json_logs);
    let application = match startup::Application::build(&settings).await {
        Ok(application) => application,
        Err(error) => {
            tracing::error!(error = %error, "cannot start");
            return ExitCode::FAILURE;
        }
    };
    match application.run_until_stopped().await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!(error = %error, "server failed");
            ExitCode::FAILURE
        }
    }
}
