//! Replica rows (`--replicas 1,2,3`): one PostgreSQL, `--hot` keys, and
//! that many keymint replicas at once behind one load generator, which
//! takes turns over their addresses. Limits are shared in PostgreSQL, and
//! again in Redis with `--redis`. The rows show what sharing limits costs
//! and what bounds the scaling on this machine.

use std::sync::Arc;
use std::time::Duration;

use crate::load::Traffic;
use crate::{Args, Row, Target, run, seed};

pub async fn rows(args: &Args, seconds: Duration) -> Vec<Row> {
    let db = seed::BenchDb::postgres(&args.postgres);
    let seeded = seed::seed(&db, args.hot);
    let traffic = Traffic::Secrets {
        secrets: Arc::new(seeded.secrets),
        proofs: None,
    };
    let stores = std::iter::once(None).chain(args.redis.as_deref().map(Some));
    let mut rows = Vec::new();
    for redis in stores {
        for &replicas in &args.replicas {
            let target = Target {
                label: match redis {
                    None => format!("postgres x{replicas}"),
                    Some(_) => format!("postgres x{replicas}, limits in Redis"),
                },
                replicas,
                redis,
            };
            rows.push(run(args, &db, &target, args.hot, args.hot, &traffic, seconds).await);
        }
    }
    rows
}
