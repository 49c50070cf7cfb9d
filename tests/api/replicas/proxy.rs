//! A TCP forwarder in front of the machine's real Redis that a test can
//! cut and restore: an outage of the shared store without stopping the
//! Redis every other test uses.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

pub struct CutProxy {
    pub port: u16,
    open: Arc<AtomicBool>,
    /// Bumped on every cut: connections end when it changes.
    cuts: watch::Sender<u64>,
}

impl CutProxy {
    /// Forwards a local port to `upstream` (`host:port`).
    pub async fn start(upstream: String) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let open = Arc::new(AtomicBool::new(true));
        let (cuts, _) = watch::channel(0);
        let accepting = open.clone();
        let cut = cuts.subscribe();
        tokio::spawn(async move {
            while let Ok((client, _)) = listener.accept().await {
                // Cut: accepted and dropped at once, as a dead peer would.
                if !accepting.load(Ordering::SeqCst) {
                    continue;
                }
                let (upstream, mut cut) = (upstream.clone(), cut.clone());
                // Only cuts from now on end this connection.
                cut.borrow_and_update();
                tokio::spawn(async move {
                    let Ok(server) = TcpStream::connect(&upstream).await else {
                        return;
                    };
                    let (mut client, mut server) = (client, server);
                    tokio::select! {
                        _ = tokio::io::copy_bidirectional(&mut client, &mut server) => {}
                        _ = cut.changed() => {}
                    }
                });
            }
        });
        Self { port, open, cuts }
    }

    /// Ends every connection and refuses new ones.
    pub fn cut(&self) {
        self.open.store(false, Ordering::SeqCst);
        self.cuts.send_modify(|n| *n += 1);
    }

    pub fn restore(&self) {
        self.open.store(true, Ordering::SeqCst);
    }
}

/// `redis://host:port/...` split into `host:port` and the rest of the URL
/// after it (the database number, if any).
pub fn redis_address(url: &str) -> (String, String) {
    let rest = url.strip_prefix("redis://").expect("a redis:// URL");
    match rest.split_once('/') {
        Some((address, path)) => (address.to_owned(), format!("/{path}")),
        None => (rest.to_owned(), String::new()),
    }
}
