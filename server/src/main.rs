use clap::Parser;
use tandem::{serve, AppState, Config};
use tracing_subscriber::EnvFilter;

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info,sqlx=warn"));
    // These crates log message payloads (entry text, cookies) at debug and trace: never.
    for quiet in ["tungstenite=info", "tokio_tungstenite=info", "hyper=info", "h2=info"] {
        filter = filter.add_directive(quiet.parse().expect("valid directive"));
    }
    tracing_subscriber::fmt().with_env_filter(filter).init();
    let config = Config::parse();
    let listener = tokio::net::TcpListener::bind(config.listen).await?;
    let bound = listener.local_addr()?;
    let state = AppState::new(config, bound).await?;
    println!(
        "Tandem is listening on http://{bound} (database: {})",
        redact(&state.config.database_url)
    );
    serve(listener, state, shutdown_signal()).await?;
    Ok(())
}

/// The database URL without a password, for the start-up line.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(s), Some(at)) if at > s => format!("{}://…@{}", &url[..s], &url[at + 1..]),
        _ => url.to_string(),
    }
}

async fn shutdown_signal() {
    let ctrl_c = tokio::signal::ctrl_c();
    #[cfg(unix)]
    {
        let mut term =
            tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()).expect("SIGTERM handler");
        tokio::select! {
            _ = ctrl_c => {}
            _ = term.recv() => {}
        }
    }
    #[cfg(not(unix))]
    let _ = ctrl_c.await;
    tracing::info!("shutting down");
}
