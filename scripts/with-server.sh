#!/usr/bin/env bash
# Runs a command against a freshly started server: a new SQLite database with an admin made by the CLI, the
# built server on a free port; the command gets BASE_URL, E2E_ADMIN_EMAIL and E2E_ADMIN_PASSWORD. The server is
# stopped afterwards (its log is printed if the command failed). Exits with the command's exit code.
# Expects a built server (scripts/build.sh dev) and its site files in target/site.
# Usage: scripts/with-server.sh CMD [ARGS...]
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
[ $# -gt 0 ] || { echo "usage: $0 CMD [ARGS...]" >&2; exit 2; }
BIN="${INTENTLAB_BIN:-target/debug/intentlab}"
[ -x "$BIN" ] || { echo "$BIN not found: run scripts/build.sh first" >&2; exit 1; }

TMP="$(mktemp -d -t intentlab-e2e.XXXXXX)"
PORT="$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')"
export DATABASE_URL="sqlite://$TMP/e2e.db"
export INTENTLAB_ADDR="127.0.0.1:$PORT"
export INTENTLAB_SITE_ROOT="${INTENTLAB_SITE_ROOT:-target/site}"
export BASE_URL="http://127.0.0.1:$PORT"
export E2E_ADMIN_EMAIL="e2e-admin@example.com"
export E2E_ADMIN_PASSWORD="e2e-admin-password-1"
# The suites sign in dozens of times a minute from one address; people do not.
export INTENTLAB_SIGN_IN_PER_MINUTE=1000

SERVER_PID=""
status=1
cleanup() {
  if [ -n "$SERVER_PID" ]; then
    kill -TERM "$SERVER_PID" 2>/dev/null || true
    wait "$SERVER_PID" 2>/dev/null || true
  fi
  if [ "$status" != 0 ] && [ -f "$TMP/server.log" ]; then
    echo "--- last server log lines ---" >&2
    tail -n 50 "$TMP/server.log" >&2
  fi
  rm -rf "$TMP"
}
trap cleanup EXIT

echo "$E2E_ADMIN_PASSWORD" | "$BIN" admin create --email "$E2E_ADMIN_EMAIL" --password-stdin
"$BIN" serve >"$TMP/server.log" 2>&1 &
SERVER_PID=$!

for _ in $(seq 1 120); do
  curl -fsS "$BASE_URL/readyz" >/dev/null 2>&1 && break
  kill -0 "$SERVER_PID" 2>/dev/null || { echo "the server exited during start-up" >&2; exit 1; }
  sleep 0.5
done
curl -fsS "$BASE_URL/readyz" >/dev/null || { echo "the server did not become ready in 60 s" >&2; exit 1; }

set +e
"$@"
status=$?
set -e
exit "$status"
