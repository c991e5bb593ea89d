#!/usr/bin/env bash
# Builds intentlab the way cargo-leptos would, without needing cargo-leptos:
#   1. the browser bundle: the root lib for wasm32 with `hydrate`, then tools/bundle (split at the lazy routes,
#      wasm-bindgen, wasm-opt in release, content-addressed into target/site/pkg/<hash>/, precompressed),
#   2. the site's other files: public/ into target/site,
#   3. the server binary with `ssr`.
# Usage: scripts/build.sh [bundle|server] dev|release
#   dev: debug builds (quick to compile); release: what `make run` serves.
#   `make test` runs the end-to-end suites against the release bundle served by a debug server.
# Each step is skipped by cargo (and by tools/bundle) when nothing it depends on changed.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
WHAT=all
case "${1:-}" in bundle|server) WHAT="$1"; shift ;; esac
MODE="${1:-dev}"
NAME=intentlab
SITE="target/site"
CARGO="$ROOT/scripts/cargo.sh"

case "$MODE" in
  dev) WASM_PROFILE_FLAG=(); WASM_DIR=debug; SERVER_FLAG=(); OPTIMIZE=() ;;
  release) WASM_PROFILE_FLAG=(--profile wasm-release); WASM_DIR=wasm-release; SERVER_FLAG=(--release); OPTIMIZE=(--optimize) ;;
  *) echo "usage: $0 [bundle|server] dev|release" >&2; exit 2 ;;
esac

step() { printf '\033[1;34m[build]\033[0m %s\n' "$*" >&2; }

if [ "$WHAT" != server ]; then
  step "browser bundle ($MODE)"
  # The wasm32 flags (type-erased views, relocations for splitting) are in .cargo/config.toml.
  "$CARGO" build --lib --target wasm32-unknown-unknown --no-default-features --features hydrate "${WASM_PROFILE_FLAG[@]}"
  "$CARGO" run --quiet --release -p bundle -- "${OPTIMIZE[@]}" \
    --wasm "target/wasm32-unknown-unknown/$WASM_DIR/$NAME.wasm" --css style/main.css --site "$SITE"
  cp -R public/. "$SITE/"
fi

if [ "$WHAT" != bundle ]; then
  step "server ($MODE)"
  "$CARGO" build --bin "$NAME" "${SERVER_FLAG[@]}"
fi
