#!/usr/bin/env bash
# Start the web server and the background worker for the demo; Ctrl-C stops both.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=.venv/bin/python
HOST=${FRESHLOOP_DEMO_HOST:-127.0.0.1}
PORT=${FRESHLOOP_DEMO_PORT:-8000}

# Real-time pushes cross the server's processes through Redis. Use REDIS_URL when it is set;
# otherwise start Debian's redis-server on a private port (kept in data/redis), once.
if [[ -z "${REDIS_URL:-}" ]]; then
  REDIS_PORT=${FRESHLOOP_DEMO_REDIS_PORT:-6391}
  if ! redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1; then
    mkdir -p data/redis
    redis-server --port "$REDIS_PORT" --bind 127.0.0.1 --dir "$PWD/data/redis" \
      --save 60 1 --appendonly no --daemonize no --loglevel warning > data/redis/redis.log 2>&1 &
    REDIS_PID=$!
    for _ in $(seq 1 50); do redis-cli -p "$REDIS_PORT" ping >/dev/null 2>&1 && break; sleep 0.1; done
  fi
  export REDIS_URL="redis://127.0.0.1:$REDIS_PORT/0"
fi

$PY manage.py run_huey --quiet &
WORKER_PID=$!
# The data hub flushes accepted events in a process of its own, so the web server only accepts
# (faster than flushing inside the web process: docs/datahub.md, "Numbers").
$PY manage.py datahub_flusher > /dev/null &
FLUSHER_PID=$!
trap 'kill $WORKER_PID $FLUSHER_PID ${REDIS_PID:-} 2>/dev/null || true' EXIT INT TERM
export FRESHLOOP_DATAHUB_AUTOFLUSH=0

cat <<MSG

  FreshLoop 鲜环 demo is starting on http://$HOST:$PORT
    消费者 H5        http://$HOST:$PORT/m/        (手机号 + 验证码登录；沙箱验证码会显示在页面上)
    运营控制台        http://$HOST:$PORT/console/
    后台管理          http://$HOST:$PORT/admin/
    API 文档          http://$HOST:$PORT/api/v1/docs
    健康检查          http://$HOST:$PORT/healthz
  Demo logins are listed above (printed by demo_seed). Ctrl-C stops the server and the worker.

MSG
# The production layout (docs/decisions/0007-server-layout.md): FRESHLOOP_WEB_WORKERS processes
# (one per core by default) on one port, plain requests on threads, event streams on the event
# loop. `manage.py serve` trusts X-Forwarded-For from exactly FRESHLOOP_TRUSTED_PROXIES (none by
# default), as the application does — plain uvicorn would trust any local client's header.
$PY manage.py serve --host "$HOST" --port "$PORT"
