#!/usr/bin/env bash
# Installs what building and testing need, idempotently: quick when everything is present.
#   - Rust components rustfmt and clippy, and the aarch64 target for arm64 builds;
#   - openssl (the reference for PBKDF2 tests and benchmarks);
#   - .venv with cargo-lambda (zig, the Runtime API emulator), moto (local DynamoDB),
#     aws-sam-cli, cfn-lint, awscli and boto3.
set -euo pipefail
cd "$(dirname "$0")/.."

need_apt=()
command -v openssl >/dev/null || need_apt+=(openssl)
command -v python3 >/dev/null || need_apt+=(python3 python3-venv)
command -v cc >/dev/null || need_apt+=(gcc)
# GNU time measures the fixture runs' peak memory (make fixtures).
[ -x /usr/bin/time ] || need_apt+=(time)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "setup: installing ${need_apt[*]} with apt-get"
  apt-get update -qq && apt-get install -y -qq "${need_apt[@]}"
fi

if ! command -v cargo >/dev/null; then
  echo "setup: cargo not found; install the stable Rust toolchain with rustup first" >&2
  exit 1
fi
if command -v rustup >/dev/null; then
  installed=$(rustup component list --installed 2>/dev/null || true)
  for c in rustfmt clippy; do
    grep -q "^$c" <<<"$installed" || rustup component add "$c"
  done
  rustup target list --installed | grep -qx aarch64-unknown-linux-gnu ||
    rustup target add aarch64-unknown-linux-gnu
fi

stamp=.venv/.requirements-installed
if [ ! -x .venv/bin/python ]; then
  echo "setup: creating .venv"
  python3 -m venv .venv
fi
if [ ! -f "$stamp" ] || ! cmp -s requirements-dev.txt "$stamp"; then
  echo "setup: installing Python tools into .venv (cargo-lambda, moto, sam, cfn-lint, awscli)"
  .venv/bin/pip install -q --disable-pip-version-check -r requirements-dev.txt
  cp requirements-dev.txt "$stamp"
fi
