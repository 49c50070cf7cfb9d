//! Stop signals: SIGTERM (orchestrators, systemd) and SIGINT (Ctrl-C) both
//! start a graceful stop. actix's own handling would make SIGINT a forced
//! stop that drops requests in flight, so keymint listens itself. (SIGQUIT
//! keeps its default: an immediate stop.)

/// Resolves when the process is asked to stop.
pub async fn requested() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        let (mut term, mut int) = match (
            signal(SignalKind::terminate()),
            signal(SignalKind::interrupt()),
        ) {
            (Ok(term), Ok(int)) => (term, int),
            (Err(error), _) | (_, Err(error)) => {
                log::error!("cannot listen for stop signals ({error}); stop with SIGKILL");
                return std::future::pending().await;
            }
        };
        let name = tokio::select! {
            _ = term.recv() => "SIGTERM",
            _ = int.recv() => "SIGINT",
        };
        log::info!("{name} received: no new connections; finishing requests in flight");
    }
    #[cfg(not(unix))]
    {
        if tokio::signal::ctrl_c().await.is_err() {
            return std::future::pending().await;
        }
        log::info!("Ctrl-C received: no new connections; finishing requests in flight");
    }
}
