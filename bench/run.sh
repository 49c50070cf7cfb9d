#!/usr/bin/env bash
# Builds keymint in release and runs the exchange benchmark against it.
# Arguments go to the benchmark, e.g. `bash bench/run.sh --backends sqlite
# --keys 1000 --seconds 3`. See bench/README.md. PostgreSQL must be up on
# 127.0.0.1:5432 for the postgres rows (or pass --backends sqlite).
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --locked
cargo bench --locked --bench exchange -- "$@"
