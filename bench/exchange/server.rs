//! The keymint release binary as child processes (one or several replicas),
//! and what the kernel says about them: CPU time (`/proc/<pid>/stat`) and peak RSS (`/proc/<pid>/status`).

use std::net::TcpListener;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

struct Server {
    child: Child,
    addr: String,
    _keys: Option<tempfile::TempDir>,
}

/// Replicas on one database and one keys folder, as a group: the load
/// generator takes turns over their addresses; CPU is their sum.
pub struct Servers {
    replicas: Vec<Server>,
}

impl Servers {
    /// `count` replicas; with `redis`, limits are shared there instead of
    /// in the database.
    pub fn start(binary: &Path, database_url: &str, count: usize, redis: Option<&str>) -> Self {
        let keys = tempfile::tempdir().expect("keys dir");
        let replicas = (0..count.max(1))
            .map(|_| Server::start_in(binary, database_url, keys.path(), redis))
            .collect::<Vec<_>>();
        // The folder lives as long as the first replica.
        let mut servers = Self { replicas };
        servers.replicas[0]._keys = Some(keys);
        servers
    }

    /// Every replica's address, comma-separated.
    pub fn addr(&self) -> String {
        let addrs: Vec<&str> = self.replicas.iter().map(|s| s.addr.as_str()).collect();
        addrs.join(",")
    }

    pub fn cpu_micros(&self) -> u64 {
        self.replicas.iter().map(Server::cpu_micros).sum()
    }

    /// The largest replica's peak RSS.
    pub fn peak_rss_kib(&self) -> u64 {
        self.replicas
            .iter()
            .map(Server::peak_rss_kib)
            .max()
            .unwrap_or(0)
    }

    pub fn stop(self) {
        for replica in self.replicas {
            replica.stop();
        }
    }
}

impl Server {
    fn start_in(binary: &Path, database_url: &str, keys: &Path, redis: Option<&str>) -> Self {
        // A free port: bind, read it, release it for the server.
        let addr = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("a free port")
            .to_string();
        let mut command = Command::new(binary);
        if let Some(redis) = redis {
            command.env("KEYMINT_REDIS_URL", redis);
        }
        let child = command
            .arg("serve")
            .env("DATABASE_URL", database_url)
            .env("KEYMINT_BIND", &addr)
            .env("KEYMINT_ISSUER", crate::once::ISSUER)
            .env("KEYMINT_KEYS_DIR", keys)
            .env("KEYMINT_AUTO_BOOTSTRAP", "false")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {}: {e}", binary.display()));
        let server = Self {
            child,
            addr,
            _keys: None,
        };
        server.wait_ready();
        server
    }

    fn wait_ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if crate::load::get_status(&self.addr, "/readyz") == Some(200) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        panic!("keymint did not become ready on {}", self.addr);
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// User + system CPU time so far, in microseconds.
    fn cpu_micros(&self) -> u64 {
        let stat = std::fs::read_to_string(format!("/proc/{}/stat", self.pid())).expect("stat");
        // Fields after the parenthesised command name; utime and stime are
        // fields 14 and 15 of the whole line, in clock ticks.
        let after_name = &stat[stat.rfind(')').expect("comm") + 2..];
        let fields: Vec<&str> = after_name.split_whitespace().collect();
        let ticks: u64 = fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap();
        ticks * 1_000_000 / clock_ticks_per_second()
    }

    /// Peak resident set size (VmHWM), in KiB.
    fn peak_rss_kib(&self) -> u64 {
        let status =
            std::fs::read_to_string(format!("/proc/{}/status", self.pid())).expect("status");
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
            .expect("VmHWM")
    }

    /// SIGTERM (graceful stop), then wait.
    fn stop(mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.pid().to_string()])
            .status();
        let _ = self.child.wait();
    }
}

fn clock_ticks_per_second() -> u64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|out| String::from_utf8(out.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100)
}
