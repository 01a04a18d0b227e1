#!/usr/bin/env bash
# Smoke check: start the demo exactly as `make demo` does (scripts/run_demo.sh), wait until it
# answers /healthz and the H5 home, then stop it. Exits non-zero if it never answers.
set -euo pipefail
cd "$(dirname "$0")/.."
PORT=${FRESHLOOP_SMOKE_PORT:-8765}
LOG=$(mktemp)
FRESHLOOP_DEMO_PORT=$PORT setsid bash scripts/run_demo.sh >"$LOG" 2>&1 &
DEMO_PID=$!
cleanup() { kill -TERM -- -"$DEMO_PID" 2>/dev/null || true; wait "$DEMO_PID" 2>/dev/null || true; rm -f "$LOG"; }
trap cleanup EXIT

for _ in $(seq 1 120); do
  if curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1; then
    # Read the whole page first: `curl | grep -q` fails under pipefail when grep stops early.
    home=$(curl -fsS "http://127.0.0.1:$PORT/m/")
    grep -q "鲜" <<<"$home" || { echo "smoke: /m/ did not render" >&2; exit 1; }
    curl -fsS "http://127.0.0.1:$PORT/api/v1/openapi.json" >/dev/null
    echo "smoke: demo answered on port $PORT"
    exit 0
  fi
  if ! kill -0 "$DEMO_PID" 2>/dev/null; then
    echo "smoke: the demo server exited early:" >&2; cat "$LOG" >&2; exit 1
  fi
  sleep 1
done
echo "smoke: no answer from http://127.0.0.1:$PORT/healthz within 120 s" >&2
cat "$LOG" >&2
exit 1
