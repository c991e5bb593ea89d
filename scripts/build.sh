#!/usr/bin/env bash
# Builds intentlab the way cargo-leptos would, without needing cargo-leptos:
#   1. the hydrate bundle: the root lib for wasm32 with `hydrate`, then wasm-bindgen (+ wasm-opt in release),
#   2. the site: CSS and public/ files into target/site,
#   3. the server binary with `ssr`.
# Usage: scripts/build.sh [dev|release]   (dev: debug builds for tests; release: what `make run` serves)
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
MODE="${1:-dev}"
NAME=intentlab
SITE="target/site"
PKG="$SITE/pkg"

CARGO="$ROOT/scripts/cargo.sh"

case "$MODE" in
  dev) WASM_PROFILE_FLAG=(); WASM_DIR=debug; SERVER_FLAG=() ;;
  release) WASM_PROFILE_FLAG=(--profile wasm-release); WASM_DIR=wasm-release; SERVER_FLAG=(--release) ;;
  *) echo "usage: $0 [dev|release]" >&2; exit 2 ;;
esac

step() { printf '\033[1;34m[build]\033[0m %s\n' "$*" >&2; }

step "hydrate bundle ($MODE)"
"$CARGO" build --lib --target wasm32-unknown-unknown --no-default-features --features hydrate "${WASM_PROFILE_FLAG[@]}"
mkdir -p "$PKG"
wasm-bindgen --target web --no-typescript --out-dir "$PKG" --out-name "$NAME" \
  "target/wasm32-unknown-unknown/$WASM_DIR/$NAME.wasm"
# wasm-bindgen writes <name>_bg.wasm, which is what the page asks for when the server was not compiled with
# LEPTOS_OUTPUT_NAME set (cargo-leptos sets it and renames the file to <name>.wasm instead).
WASM="$PKG/${NAME}_bg.wasm"
rm -f "$PKG/$NAME.wasm"
if [ "$MODE" = release ]; then
  step "wasm-opt -Oz"
  wasm-opt -Oz --enable-bulk-memory --enable-nontrapping-float-to-int --enable-sign-ext --enable-mutable-globals \
    -o "$WASM.opt" "$WASM"
  mv -f "$WASM.opt" "$WASM"
fi

step "site assets"
cp style/main.css "$PKG/$NAME.css"
cp -R public/. "$SITE/"

step "server ($MODE)"
"$CARGO" build --bin "$NAME" "${SERVER_FLAG[@]}"
