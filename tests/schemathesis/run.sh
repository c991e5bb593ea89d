#!/usr/bin/env bash
# Property-based tests of the whole API from its own OpenAPI document (schemathesis): every operation, with
# generated and edge-case inputs, once with an API key of each scope. Fails on any 5xx, a dropped connection,
# a status the document does not list, or an answer that does not match its schema.
# Run by `make test-api-schema` inside scripts/with-server.sh (BASE_URL, DATABASE_URL set).
set -euo pipefail
ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
BIN="${INTENTLAB_BIN:-$ROOT/target/debug/intentlab}"
EXAMPLES="${SCHEMATHESIS_EXAMPLES:-25}"
for scope in assign ingest read admin; do
  key="$("$BIN" api-key create --name "schemathesis-$scope" --scopes "$scope" 2>/dev/null)"
  echo "[schemathesis] with a '$scope' key, $EXAMPLES examples per operation" >&2
  # Revoking keys is left out: a generated id may be the key the run itself uses.
  "$ROOT/tests/schemathesis/.venv/bin/schemathesis" run "$BASE_URL/api/v1/openapi.json" \
    --header "Authorization: Bearer $key" \
    --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
    --exclude-path-regex '/api-keys/\{id\}/revoke$' \
    --max-examples "$EXAMPLES" --workers 2 --phases examples,coverage,fuzzing \
    --request-timeout 30 --warnings off
done
