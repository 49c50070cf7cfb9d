//! A lean HTTP/1.1 load generator: keep-alive connections on one thread,
//! request bytes written by hand, and just enough response parsing to find
//! where each answer ends, so the generator takes as little of the shared
//! machine as possible.

use std::io::{Read, Write};
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::once::OncePool;

/// What a run sends.
#[derive(Clone)]
pub enum Traffic {
    /// Exchanges of these secrets as Bearer, each with a DPoP proof of its
    /// own when there is a pool of them.
    Secrets {
        secrets: Arc<Vec<String>>,
        proofs: Option<Arc<OncePool>>,
    },
    /// Federated exchanges: form bodies, each good once.
    Federated { bodies: Arc<OncePool> },
}

/// One request to send.
enum Request<'a> {
    Bearer {
        secret: &'a str,
        proof: Option<&'a str>,
    },
    Form {
        body: &'a str,
    },
}

/// What a run achieved.
pub struct RunStats {
    pub ok: u64,
    pub errors: u64,
    /// Connections that stopped early because a pool of one-use
    /// credentials ran dry: the run's rate is then not a saturation figure.
    pub out_of_proofs: usize,
    pub elapsed: Duration,
    /// Service latencies of the successful requests, microseconds.
    pub latencies_us: Vec<u32>,
}

impl RunStats {
    pub fn per_second(&self) -> f64 {
        self.ok as f64 / self.elapsed.as_secs_f64()
    }

    /// The `p`-th percentile (0-100) of the latencies, in milliseconds.
    pub fn percentile_ms(&mut self, p: f64) -> f64 {
        if self.latencies_us.is_empty() {
            return f64::NAN;
        }
        self.latencies_us.sort_unstable();
        let rank = ((p / 100.0) * (self.latencies_us.len() - 1) as f64).round() as usize;
        f64::from(self.latencies_us[rank]) / 1000.0
    }
}

struct Connection {
    stream: TcpStream,
    request: Vec<u8>,
    response: Vec<u8>,
    /// xorshift state: which key the next request presents.
    pick: u64,
}

impl Connection {
    async fn open(addr: &str, seed: u64) -> Self {
        let stream = TcpStream::connect(addr).await.expect("connect");
        stream.set_nodelay(true).expect("nodelay");
        Self {
            stream,
            request: Vec::with_capacity(256),
            response: Vec::with_capacity(4096),
            pick: seed | 1,
        }
    }

    fn next_secret<'a>(&mut self, secrets: &'a [String]) -> &'a str {
        self.pick ^= self.pick << 13;
        self.pick ^= self.pick >> 7;
        self.pick ^= self.pick << 17;
        &secrets[(self.pick % secrets.len() as u64) as usize]
    }

    /// One exchange; the status. A secret goes as form 2 (Bearer header,
    /// empty body), with a DPoP proof if given; a form body as it is.
    async fn exchange(&mut self, request: Request<'_>) -> std::io::Result<u16> {
        self.request.clear();
        self.request
            .extend_from_slice(b"POST /auth/token HTTP/1.1\r\nHost: bench\r\n");
        match request {
            Request::Bearer { secret, proof } => {
                self.request
                    .extend_from_slice(b"Content-Length: 0\r\nAuthorization: Bearer ");
                self.request.extend_from_slice(secret.as_bytes());
                if let Some(proof) = proof {
                    self.request.extend_from_slice(b"\r\nDPoP: ");
                    self.request.extend_from_slice(proof.as_bytes());
                }
                self.request.extend_from_slice(b"\r\n\r\n");
            }
            Request::Form { body } => {
                let head = format!(
                    "Content-Type: application/x-www-form-urlencoded\r\nContent-Length: {}\r\n\r\n",
                    body.len()
                );
                self.request.extend_from_slice(head.as_bytes());
                self.request.extend_from_slice(body.as_bytes());
            }
        }
        self.stream.write_all(&self.request).await?;
        self.read_response().await
    }

    async fn read_response(&mut self) -> std::io::Result<u16> {
        self.response.clear();
        let mut chunk = [0u8; 4096];
        let (head_end, total) = loop {
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.response.extend_from_slice(&chunk[..n]);
            if let Some(end) = find(&self.response, b"\r\n\r\n") {
                let length = content_length(&self.response[..end]).unwrap_or(0);
                break (end + 4, end + 4 + length);
            }
        };
        while self.response.len() < total {
            let n = self.stream.read(&mut chunk).await?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.response.extend_from_slice(&chunk[..n]);
        }
        debug_assert!(head_end <= total);
        Ok(status(&self.response))
    }
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

fn status(response: &[u8]) -> u16 {
    std::str::from_utf8(response.get(9..12).unwrap_or_default())
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0)
}

fn content_length(head: &[u8]) -> Option<usize> {
    let head = std::str::from_utf8(head).ok()?;
    head.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())
            .flatten()
    })
}

/// Closed loop: every connection sends its next exchange as soon as the
/// previous answer arrives, for `duration`. The throughput at saturation.
pub async fn saturate(
    addr: &str,
    traffic: &Traffic,
    connections: usize,
    duration: Duration,
) -> RunStats {
    run(addr, traffic, connections, duration, None).await
}

/// Open loop at `rate` exchanges per second, spread over the connections
/// on a fixed schedule. Latency is measured from each request's send.
pub async fn paced(
    addr: &str,
    traffic: &Traffic,
    connections: usize,
    duration: Duration,
    rate: f64,
) -> RunStats {
    run(addr, traffic, connections, duration, Some(rate)).await
}

async fn run(
    addr: &str,
    traffic: &Traffic,
    connections: usize,
    duration: Duration,
    rate: Option<f64>,
) -> RunStats {
    // Several replicas: `addr` lists them, and connections take turns.
    let addrs: Vec<&str> = addr.split(',').collect();
    let mut opened = Vec::with_capacity(connections);
    for k in 0..connections {
        let seed = 0x9E37_79B9_7F4A_7C15 ^ ((k as u64 + 1) * 7919);
        opened.push(Connection::open(addrs[k % addrs.len()], seed).await);
    }
    let start = tokio::time::Instant::now() + Duration::from_millis(10);
    let deadline = start + duration;
    // Connection k sends slots k, k + C, k + 2C... of the schedule.
    let spacing = rate.map(|rate| Duration::from_secs_f64(connections as f64 / rate));
    let tasks: Vec<_> = opened
        .into_iter()
        .enumerate()
        .map(|(k, mut conn)| {
            let traffic = traffic.clone();
            let first = spacing.map(|s| start + s.mul_f64(k as f64 / connections as f64));
            tokio::spawn(async move {
                let (mut ok, mut errors, mut latencies) = (0u64, 0u64, Vec::new());
                let mut out_of_proofs = false;
                let mut slot = first;
                if slot.is_none() {
                    tokio::time::sleep_until(start).await;
                }
                loop {
                    if let (Some(at), Some(spacing)) = (slot, spacing) {
                        if at >= deadline {
                            break;
                        }
                        tokio::time::sleep_until(at).await;
                        slot = Some(at + spacing);
                    } else if tokio::time::Instant::now() >= deadline {
                        break;
                    }
                    let request = match &traffic {
                        Traffic::Secrets { secrets, proofs } => {
                            let secret = conn.next_secret(secrets);
                            match proofs.as_deref().map(OncePool::take) {
                                None => Some(Request::Bearer {
                                    secret,
                                    proof: None,
                                }),
                                Some(proof) => proof.map(|proof| Request::Bearer {
                                    secret,
                                    proof: Some(proof),
                                }),
                            }
                        }
                        Traffic::Federated { bodies } => {
                            bodies.take().map(|body| Request::Form { body })
                        }
                    };
                    let Some(request) = request else {
                        out_of_proofs = true;
                        break;
                    };
                    let sent = Instant::now();
                    match conn.exchange(request).await {
                        Ok(200) => {
                            ok += 1;
                            latencies.push(sent.elapsed().as_micros().min(u32::MAX as u128) as u32);
                        }
                        Ok(_) => errors += 1,
                        Err(_) => {
                            errors += 1;
                            break;
                        }
                    }
                }
                (ok, errors, latencies, out_of_proofs)
            })
        })
        .collect();
    let mut stats = RunStats {
        ok: 0,
        errors: 0,
        out_of_proofs: 0,
        elapsed: duration,
        latencies_us: Vec::new(),
    };
    for task in tasks {
        let (ok, errors, latencies, out_of_proofs) = task.await.expect("connection task");
        stats.out_of_proofs += usize::from(out_of_proofs);
        stats.ok += ok;
        stats.errors += errors;
        stats.latencies_us.extend(latencies);
    }
    stats
}

/// A blocking GET's status (readiness probes); `None` if nothing answers.
pub fn get_status(addr: &str, path: &str) -> Option<u16> {
    let mut stream = std::net::TcpStream::connect(addr).ok()?;
    write!(
        stream,
        "GET {path} HTTP/1.1\r\nHost: bench\r\nConnection: close\r\n\r\n"
    )
    .ok()?;
    let mut response = Vec::new();
    stream.read_to_end(&mut response).ok()?;
    Some(status(&response))
}
