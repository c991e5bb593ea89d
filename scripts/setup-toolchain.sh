#!/usr/bin/env bash
# Installs what building intentlab needs, and only what is missing: a Rust toolchain that can target
# wasm32-unknown-unknown, wasm-bindgen-cli at exactly the version in Cargo.lock, and wasm-opt.
# With --with-cargo-leptos it also installs cargo-leptos (only `make watch` needs it: the Makefile drives the
# build directly, which saves a ~23 minute compile on a fresh 2-core machine).
#
# The wasm toolchain: first the ordinary route (`rustup target add`); where rustup cannot download (machines that
# reach only the package registries), Debian's rustc-web with the standard library built once from its sources.
#
# Writes target/toolchain.env (RUSTUP_TOOLCHAIN=...), which scripts/build.sh and the Makefile read, so the server
# and the browser bundle are built by the same compiler and share their host artifacts.
# Idempotent: with everything present it takes about a second.
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
ENV_FILE="$ROOT/target/toolchain.env"
WITH_CARGO_LEPTOS=0
for arg in "$@"; do
  case "$arg" in
    --with-cargo-leptos) WITH_CARGO_LEPTOS=1 ;;
    *) echo "usage: $0 [--with-cargo-leptos]" >&2; exit 2 ;;
  esac
done

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }

as_root() {
  if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "need root to run: $*" >&2; return 1
  fi
}

APT_UPDATED=0
apt_install() {
  local missing=()
  for pkg in "$@"; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
  [ ${#missing[@]} -eq 0 ] && return 0
  command -v apt-get >/dev/null || { echo "apt-get not found; install: ${missing[*]}" >&2; return 1; }
  if [ "$APT_UPDATED" = 0 ]; then as_root apt-get update -qq; APT_UPDATED=1; fi
  say "apt-get install ${missing[*]}"
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
}

command -v cargo >/dev/null || { echo "cargo not found: install Rust with rustup first (https://rustup.rs)" >&2; exit 1; }
export PATH="$HOME/.cargo/bin:$PATH"

# --- 1. a toolchain with the wasm32 target -------------------------------------------------------------
wasm_target_installed() { # $1: toolchain name ('' = default)
  local tc=${1:+"+$1"}
  local sysroot
  sysroot="$(rustc ${tc} --print sysroot 2>/dev/null)" || return 1
  compgen -G "$sysroot/lib/rustlib/wasm32-unknown-unknown/lib/libstd-*.rlib" >/dev/null
}

build_debian_wasm_std() {
  # Debian's rustc ships no prebuilt wasm32 std, but rust-web-src has its sources: build it once with a
  # throwaway cdylib and copy the rlibs into the sysroot.
  local sysroot libdir tmp
  sysroot="$(/usr/bin/rustc --print sysroot)"
  libdir="$sysroot/lib/rustlib/wasm32-unknown-unknown/lib"
  say "building the wasm32 standard library for Debian's rustc (about a minute, once)"
  tmp="$(mktemp -d)"
  mkdir -p "$tmp/src"
  cat >"$tmp/Cargo.toml" <<'TOML'
[package]
name = "wasm_std_seed"
version = "0.0.0"
edition = "2021"
[lib]
crate-type = ["cdylib"]
[profile.release]
panic = "abort"
TOML
  echo 'pub fn seed() -> u32 { 1 }' >"$tmp/src/lib.rs"
  (cd "$tmp" && PATH="/usr/bin:$PATH" RUSTC_BOOTSTRAP=1 /usr/bin/cargo build -q --release \
    --target wasm32-unknown-unknown -Zbuild-std=std,panic_abort)
  as_root mkdir -p "$libdir"
  as_root cp "$tmp"/target/wasm32-unknown-unknown/release/deps/lib*.rlib "$libdir"/
  as_root rm -f "$libdir"/libwasm_std_seed*
  rm -rf "$tmp"
}

TOOLCHAIN=""
if wasm_target_installed ""; then
  TOOLCHAIN=""
elif wasm_target_installed debian-web; then
  TOOLCHAIN="debian-web"
elif timeout 300 rustup target add wasm32-unknown-unknown >/dev/null 2>&1; then
  say "installed the wasm32 target with rustup"
  TOOLCHAIN=""
else
  say "rustup cannot download the wasm32 target here; using Debian's rustc-web"
  apt_install rustc-web cargo-web rust-web-src lld-22
  wasm_target_installed_at_usr() { compgen -G "$(/usr/bin/rustc --print sysroot)/lib/rustlib/wasm32-unknown-unknown/lib/libstd-*.rlib" >/dev/null; }
  wasm_target_installed_at_usr || build_debian_wasm_std
  rustup toolchain list | grep -q '^debian-web' || rustup toolchain link debian-web "$(/usr/bin/rustc --print sysroot)"
  TOOLCHAIN="debian-web"
fi
mkdir -p "$ROOT/target"
echo "RUSTUP_TOOLCHAIN=${TOOLCHAIN}" >"$ENV_FILE.tmp" && mv "$ENV_FILE.tmp" "$ENV_FILE"
[ -n "$TOOLCHAIN" ] && export RUSTUP_TOOLCHAIN="$TOOLCHAIN"

# --- 2. wasm-bindgen-cli, the exact version of the wasm-bindgen crate in Cargo.lock ----------------------
WBG_VERSION="$(awk '/^name = "wasm-bindgen"$/ { getline; gsub(/version = |"/, ""); print; exit }' "$ROOT/Cargo.lock")"
[ -n "$WBG_VERSION" ] || { echo "wasm-bindgen is not in Cargo.lock" >&2; exit 1; }
if [ "$(wasm-bindgen --version 2>/dev/null | awk '{print $2}')" != "$WBG_VERSION" ]; then
  say "installing wasm-bindgen-cli $WBG_VERSION (several minutes, once)"
  # --locked first (reproducible); its lock file has named versions the registry index did not have yet,
  # in which case the unlocked build is the only one that works.
  cargo install -q wasm-bindgen-cli --version "$WBG_VERSION" --locked --force \
    || cargo install -q wasm-bindgen-cli --version "$WBG_VERSION" --force
fi

# --- 3. wasm-opt (release bundles only), binaryen 116 or newer --------------------------------------------
# Older binaryen (Debian bookworm ships 108) mis-optimizes what today's rustc and wasm-bindgen emit: the bundle
# then fails in the browser at start-up (`WebAssembly.Table.set(): Argument 1 is invalid for table`). The
# `wasm-opt` crate builds binaryen 116 from its C++ sources, natively (about 8 minutes on 2 cores, once).
WASM_OPT_MIN=116
WASM_OPT_CRATE=0.116.1
wasm_opt_version() { wasm-opt --version 2>/dev/null | awk '{print $3}'; }
if [ "$(wasm_opt_version)" -lt "$WASM_OPT_MIN" ] 2>/dev/null || [ -z "$(wasm_opt_version)" ]; then
  say "installing wasm-opt (binaryen $WASM_OPT_MIN, about 8 minutes, once)"
  cargo install -q wasm-opt --version "$WASM_OPT_CRATE" --locked --force
fi
hash -r
[ "$(wasm_opt_version)" -ge "$WASM_OPT_MIN" ] || {
  echo "wasm-opt on PATH is $(command -v wasm-opt) version $(wasm_opt_version); $WASM_OPT_MIN or newer is needed (put ~/.cargo/bin first)" >&2
  exit 1
}

# --- 4. cargo-leptos, on request --------------------------------------------------------------------------
if [ "$WITH_CARGO_LEPTOS" = 1 ] && ! command -v cargo-leptos >/dev/null; then
  say "installing cargo-leptos (about 23 minutes on 2 cores, once)"
  cargo install -q cargo-leptos --locked --features no_downloads
fi

say "toolchain ready (${TOOLCHAIN:-default}); wasm-bindgen $WBG_VERSION, wasm-opt $(wasm_opt_version)"
