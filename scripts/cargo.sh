#!/usr/bin/env bash
# Runs cargo with the toolchain that scripts/setup-toolchain.sh chose (recorded in target/toolchain.env), so the
# server, the tests and the browser bundle are all compiled by the same rustc and share build artifacts.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
if [ -f "$ROOT/target/toolchain.env" ]; then
  # shellcheck disable=SC1091
  . "$ROOT/target/toolchain.env"
  if [ -n "${RUSTUP_TOOLCHAIN:-}" ]; then export RUSTUP_TOOLCHAIN; else unset RUSTUP_TOOLCHAIN; fi
fi
exec cargo "$@"
