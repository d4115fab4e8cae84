#!/usr/bin/env bash
# `make run`: the mock model API and the gateway, in run/ inside the
# checkout; Ctrl-C or `make stop` stops both.
set -euo pipefail
ROOT=$(cd "$(dirname "$0")/.." && pwd)
RUN=$ROOT/run
PORT=${AIGOV_PORT:-8080}
MOCK_PORT=${AIGOV_MOCK_PORT:-8081}
METRICS_PORT=${AIGOV_METRICS_PORT:-9145}
NGINX=${NGINX:-/usr/sbin/nginx}

stop() {
    if [ -f "$RUN/nginx.pid" ]; then
        kill -QUIT "$(cat "$RUN/nginx.pid")" 2>/dev/null || true
        for _ in $(seq 50); do [ -f "$RUN/nginx.pid" ] || break; sleep 0.1; done
        rm -f "$RUN/nginx.pid"
    fi
    if [ -f "$RUN/mock.pid" ]; then
        kill "$(cat "$RUN/mock.pid")" 2>/dev/null || true
        rm -f "$RUN/mock.pid"
    fi
}

if [ "${1:-}" = stop ]; then
    stop
    echo "stopped"
    exit 0
fi

stop
mkdir -p "$RUN/tmp"
chmod 755 "$RUN" "$RUN/tmp"

# the key that signs the audit log's checkpoints, made once
if [ ! -f "$RUN/audit.key" ]; then
    "$ROOT/build/aigov" keygen --out "$RUN/audit.key" --name aigov.dev/aigov >/dev/null 2>&1
fi
# the key of keyed content hashes (content: hash), made once
if [ ! -f "$RUN/audit-hash.key" ]; then
    "$ROOT/build/aigov" audit hash-keygen --out "$RUN/audit-hash.key" --id dev >/dev/null 2>&1
fi

"$ROOT/mock/aigov-mock" --port "$MOCK_PORT" --pidfile "$RUN/mock.pid" >"$RUN/mock.log" 2>&1 &

user=""
[ "$(id -u)" = 0 ] && user="user root;"
{ echo "$user"; sed -e "s|@ROOT@|$ROOT|g" -e "s|@RUN@|$RUN|g" \
      -e "s|@PORT@|$PORT|g" -e "s|@MOCK_PORT@|$MOCK_PORT|g" \
      -e "s|@METRICS_PORT@|$METRICS_PORT|g" \
      "$ROOT/conf/aigov.conf.in"; } >"$RUN/nginx.conf"

"$NGINX" -t -q -p "$RUN" -c "$RUN/nginx.conf"
"$NGINX" -p "$RUN" -c "$RUN/nginx.conf"

for _ in $(seq 50); do
    curl -s -o /dev/null "http://127.0.0.1:$MOCK_PORT/__health" && break
    sleep 0.1
done

trap 'echo; stop; echo stopped; exit 0' INT TERM

# a development token for an analyst, valid for a day
TOKEN=$("$ROOT/build/aigov" token --key "$ROOT/policies/keys/dev-rs256.pem" --kid dev-rs256 \
        --sub alice --groups analysts --ttl 86400)

cat <<MSG

aigov is running on http://127.0.0.1:$PORT in front of the mock model API on port $MOCK_PORT.
Config: $RUN/nginx.conf   Logs: $RUN/error.log
Metrics (Prometheus): curl -s http://127.0.0.1:$METRICS_PORT/metrics   (docs/metrics.md)
Access log with the decision of each request: $RUN/aigov-access.log

Policy: $ROOT/policies/example.yaml   Audit log: $RUN/audit.log

Try (alice is an analyst; the token is valid for a day):

  curl -s http://127.0.0.1:$PORT/v1/chat/completions \\
    -H 'Authorization: Bearer $TOKEN' \\
    -H 'Content-Type: application/json' \\
    -d '{"model":"gpt-4o-mini","messages":[{"role":"user","content":"Hello, aigov. Mail me at alice@example.com"}]}'

Mint other tokens with:
  build/aigov token --key policies/keys/dev-rs256.pem --kid dev-rs256 --sub bob --groups interns

Ctrl-C or \`make stop\` stops everything.
MSG

# stay in the foreground so Ctrl-C stops what we started
while [ -f "$RUN/nginx.pid" ] && kill -0 "$(cat "$RUN/nginx.pid")" 2>/dev/null; do
    sleep 1
done
stop
