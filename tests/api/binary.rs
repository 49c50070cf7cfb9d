//! The `keymint` binary as a child process: a command on a test database,
//! and a first `serve` whose printed bootstrap key is read back.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::Duration;

use crate::helpers::TestDb;

/// `keymint` on `db` and `keys_dir`, with an empty environment and the
/// log filter `rust_log`.
pub fn keymint(db: &TestDb, keys_dir: &std::path::Path, rust_log: &str) -> Command {
    let mut command = Command::new(env!("CARGO_BIN_EXE_keymint"));
    command
        .env_clear()
        .env("RUST_LOG", rust_log)
        .args(["--database-url", &db.url, "--keys-dir"])
        .arg(keys_dir);
    command
}

/// A `keymint serve` on port 0 that bootstrapped its empty database.
/// Killed when dropped, should a test fail before stopping it.
pub struct Served {
    pub child: Child,
    /// `http://127.0.0.1:PORT`.
    pub base: String,
    /// The bootstrap workspace key, as printed.
    pub secret: String,
    /// The curl command the first start printed.
    pub curl: String,
    /// stderr (the log), line by line, read on a thread so the child never
    /// blocks on a full pipe.
    pub log: mpsc::Receiver<String>,
}

/// `keymint serve --bind 127.0.0.1:0`, its stderr read line by line on a
/// thread so the child never blocks on a full pipe.
fn spawn_serve(
    db: &TestDb,
    keys_dir: &std::path::Path,
    rust_log: &str,
) -> (Child, mpsc::Receiver<String>) {
    let mut child = keymint(db, keys_dir, rust_log)
        .args(["serve", "--bind", "127.0.0.1:0"])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let (lines, log) = mpsc::channel();
    let stderr = BufReader::new(child.stderr.take().unwrap());
    std::thread::spawn(move || {
        for line in stderr.lines().map_while(Result::ok) {
            if lines.send(line).is_err() {
                break;
            }
        }
    });
    (child, log)
}

/// Starts `keymint serve --bind 127.0.0.1:0` and reads the printed key.
pub fn serve(db: &TestDb, keys_dir: &std::path::Path, rust_log: &str) -> Served {
    let (mut child, log) = spawn_serve(db, keys_dir, rust_log);
    let stdout = BufReader::new(child.stdout.take().unwrap());
    let curl = stdout
        .lines()
        .map(Result::unwrap)
        .find(|line| line.trim_start().starts_with("curl "))
        .expect("a curl line is printed")
        .trim()
        .to_owned();
    // curl -s -X POST http://127.0.0.1:PORT/auth/token -H 'Authorization: Bearer kmk_...'
    let url = curl
        .split_whitespace()
        .find(|w| w.starts_with("http://"))
        .expect("a URL in the curl line");
    let base = url.trim_end_matches("/auth/token").to_owned();
    let secret = curl
        .rsplit("Bearer ")
        .next()
        .unwrap()
        .trim_end_matches('\'')
        .to_owned();
    Served {
        child,
        base,
        secret,
        curl,
        log,
    }
}

/// Starts `keymint serve` again on a database it served before: nothing is
/// printed, so the address comes from the log's "listening on" line.
/// `secret` is the key a test already holds.
pub fn serve_again(db: &TestDb, keys_dir: &std::path::Path, secret: &str) -> Served {
    let (child, log) = spawn_serve(db, keys_dir, "info");
    let mut served = Served {
        child,
        base: String::new(),
        secret: secret.to_owned(),
        curl: String::new(),
        log,
    };
    let line = served.log_line(Duration::from_secs(30), |line| {
        line.contains("listening on ")
    });
    let address = line
        .split("listening on ")
        .nth(1)
        .and_then(|rest| rest.split_whitespace().next())
        .expect("an address after 'listening on'");
    served.base = format!("http://{address}");
    served
}

impl Served {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    /// Sends SIGTERM, as an orchestrator or systemd would.
    pub fn terminate(&self) {
        self.signal("TERM");
    }

    /// Sends the signal `name` (`TERM`, `INT`...) to the process.
    pub fn signal(&self, name: &str) {
        let pid = self.child.id().to_string();
        let flag = format!("-{name}");
        let sent = Command::new("kill").args([&flag, &pid]).status().unwrap();
        assert!(sent.success());
    }

    /// Waits (bounded) for the process to exit and returns its status.
    pub fn wait_for_exit(&mut self, within: Duration) -> std::process::ExitStatus {
        let deadline = std::time::Instant::now() + within;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return status;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "keymint did not exit within {within:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Log lines until one satisfies `wanted`, failing after `within`.
    pub fn log_line(&self, within: Duration, wanted: impl Fn(&str) -> bool) -> String {
        let deadline = std::time::Instant::now() + within;
        loop {
            let left = deadline.saturating_duration_since(std::time::Instant::now());
            match self.log.recv_timeout(left) {
                Ok(line) if wanted(&line) => return line,
                Ok(_) => {}
                Err(error) => panic!("no such log line within {within:?}: {error}"),
            }
        }
    }
}

impl Drop for Served {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}
