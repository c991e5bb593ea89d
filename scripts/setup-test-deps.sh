#!/usr/bin/env bash
# Installs what the test suites need, only when missing: PostgreSQL and Chromium from Debian's packages,
# playwright-core from npm (end2end/), and from PyPI the OpenFeature SDK with its OFREP provider (tests/ofrep/.venv)
# and the Segment and RudderStack analytics SDKs (tests/sdk/.venv), and schemathesis (tests/schemathesis/.venv).
# Idempotent; about a second when everything is present.
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"

say() { printf '\033[1;34m[setup]\033[0m %s\n' "$*" >&2; }
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; else sudo "$@"; fi; }

missing=()
for pkg in postgresql chromium; do dpkg -s "$pkg" >/dev/null 2>&1 || missing+=("$pkg"); done
if [ ${#missing[@]} -gt 0 ]; then
  say "apt-get install ${missing[*]}"
  as_root apt-get update -qq
  DEBIAN_FRONTEND=noninteractive as_root apt-get install -y -qq "${missing[@]}" >/dev/null
fi

command -v npm >/dev/null || { echo "npm not found: install Node.js (apt-get install nodejs npm)" >&2; exit 1; }
cd "$ROOT/end2end"
if [ ! -d node_modules/playwright-core ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  say "npm ci (end2end)"
  npm ci --no-audit --no-fund --loglevel=error >/dev/null
fi

# Debian's python3 ships venv separately.
python3 -c 'import ensurepip, venv' 2>/dev/null || {
  say "apt-get install python3-venv"
  as_root apt-get install -y -qq python3-venv >/dev/null
}
# One virtual environment per Python suite, rebuilt only when its requirements change.
for suite in ofrep sdk schemathesis; do
  cd "$ROOT/tests/$suite"
  if [ ! -x .venv/bin/python ] || [ requirements.txt -nt .venv/installed ]; then
    say "pip install -r tests/$suite/requirements.txt"
    python3 -m venv .venv
    .venv/bin/pip install --quiet --disable-pip-version-check -r requirements.txt
    touch .venv/installed
  fi
done
