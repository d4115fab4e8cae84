#!/usr/bin/env bash
# aigov benchmark: plain nginx against aigov and two peers, on one mock model
# API, all on this machine over loopback, measured side by side in one run.
#
#   bench/run.sh                 full run (3 x 3 s per row and case, median)
#   BENCH_QUICK=1 bench/run.sh   quick look (1 x 2 s)
#
# Settings (environment): BENCH_DURATION (seconds per run), BENCH_REPEAT,
# BENCH_WARMUP (seconds, default 1; the rows with a JIT, Lua and Portkey),
# BENCH_THREADS / BENCH_CONNECTIONS (wrk -t / -c), BENCH_ONLY (a regex on row
# ids, e.g. 'nginx|lua'), BENCH_TASKSET (a CPU list for wrk, e.g. 1),
# BENCH_CASES (a subset of: json1k json16k stream prompt128k prompt1m
# prompt4m prompt1m-file streams latency verify; latency is bench/stream_latency.pl,
# verify is bench/verify.sh (BENCH_VERIFY_RECORDS, default 500000),
# streams opens BENCH_STREAMS (default "1000 10000") slow streams at once,
# BENCH_LATENCY_REPEAT times, default 2, 1 quick),
# BENCH_RESULTS (where the
# table goes, default bench/results.md), BENCH_NO_INSTALL=1 (never apt-get or
# npm), BENCH_MICRO=0 (no micro-benchmarks), NGINX (default /usr/sbin/nginx),
# AIGOV_MODULE (default build/nginx/ngx_http_aigov_module.so).
# Everything runs under build/bench/; results go to $BENCH_RESULTS.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
BENCH=$ROOT/bench
RUN=$ROOT/build/bench
NGINX=${NGINX:-/usr/sbin/nginx}
RESULTS=${BENCH_RESULTS:-$BENCH/results.md}

if [ "${BENCH_QUICK:-0}" = 1 ]; then
    DURATION=${BENCH_DURATION:-2}; REPEAT=${BENCH_REPEAT:-1}
else
    DURATION=${BENCH_DURATION:-3}; REPEAT=${BENCH_REPEAT:-3}
fi
# Unrecorded seconds of load before each row's first run of a case: Node's
# and LuaJIT's JIT compilers need it, or the first run measures compilation
# (nginx and aigov rows have nothing to compile and go without).
WARMUP=${BENCH_WARMUP:-1}
THREADS=${BENCH_THREADS:-2}
CONNS=${BENCH_CONNECTIONS:-32}
ONLY=${BENCH_ONLY:-}
TASKSET=${BENCH_TASKSET:-}

MODULE=${AIGOV_MODULE:-$ROOT/build/nginx/ngx_http_aigov_module.so}
AIGOV=$ROOT/build/aigov
PLUGINS="pii secrets blocklist injection"
NGX_MODULES=/usr/lib/nginx/modules
PORTKEY_DIR=$BENCH/.peers/portkey
PORTKEY_ENTRY=$PORTKEY_DIR/node_modules/@portkey-ai/gateway/build/start-server.js
# The same pattern for the Lua guard (bench/lua/guard.lua) and Portkey's
# default.regexMatch guardrail; the benchmark prompt never matches it.
GUARD_REGEX='ignore (all )?previous instructions|sk-[A-Za-z0-9]{20,}|project neptune'

log() { printf '%s\n' "$*" >&2; }
die() { log "bench: $*"; exit 1; }

# ---------------------------------------------------------------- processes

PIDS=()
cleanup() {
    local pid n
    trap - EXIT INT TERM
    for pid in "${PIDS[@]}"; do
        kill -TERM "$pid" 2>/dev/null || true
    done
    for pid in "${PIDS[@]}"; do
        for n in $(seq 1 30); do
            kill -0 "$pid" 2>/dev/null || break
            sleep 0.1
        done
        kill -KILL "$pid" 2>/dev/null || true
    done
}
trap cleanup EXIT
trap 'log "bench: interrupted"; exit 130' INT TERM

port_free() {
    perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(LocalAddr => "127.0.0.1",
        LocalPort => $ARGV[0], Proto => "tcp", Listen => 1) ? 0 : 1)' "$1"
}

# Ports come from a random base, each checked with a bind; the result is in PORT.
NEXT_PORT=$((20000 + RANDOM % 11000))   # below the ephemeral ports (32768 up)
alloc_port() {
    while ! port_free "$NEXT_PORT"; do NEXT_PORT=$((NEXT_PORT + 1)); done
    PORT=$NEXT_PORT
    NEXT_PORT=$((NEXT_PORT + 1))
}

wait_port() {  # port pid seconds
    local _
    for _ in $(seq 1 $(($3 * 10))); do
        kill -0 "$2" 2>/dev/null || return 1
        perl -MIO::Socket::INET -e 'exit(IO::Socket::INET->new(PeerAddr => "127.0.0.1",
            PeerPort => $ARGV[0], Proto => "tcp") ? 0 : 1)' "$1" && return 0
        sleep 0.1
    done
    return 1
}

# Idle resident memory in KiB: the mean over an nginx master's workers, or
# the process itself (node).
rss_kb() {
    local kids pid sum=0 n=0 v
    kids=$(ps -o pid= --ppid "$1" 2>/dev/null || true)
    [ -n "$kids" ] || kids=$1
    for pid in $kids; do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        [ -n "$v" ] || continue
        sum=$((sum + v)); n=$((n + 1))
    done
    [ "$n" -gt 0 ] && echo $((sum / n)) || echo ""
}

# ---------------------------------------------------------------- peers

need_pkgs() {
    local p missing=""
    for p in "$@"; do
        dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing="$missing $p"
    done
    echo "$missing"
}

# Sets LUA_WHY to the reason when the Lua guard cannot run.
LUA_WHY=""
LUA_CPATH=""
install_lua() {
    local missing
    missing=$(need_pkgs libnginx-mod-http-lua libluajit2-5.1-2 lua-cjson)
    if [ -n "$missing" ]; then
        if [ "${BENCH_NO_INSTALL:-0}" = 1 ]; then
            LUA_WHY="packages missing:$missing (BENCH_NO_INSTALL=1)"; return
        elif [ "$(id -u)" != 0 ] && ! command -v sudo >/dev/null; then
            LUA_WHY="packages missing:$missing (not root, no sudo)"; return
        fi
        local sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
        log "bench: installing$missing"
        # shellcheck disable=SC2086
        if ! DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >"$RUN/apt.log" 2>&1; then
            $sudo apt-get update -qq >>"$RUN/apt.log" 2>&1 || true
            # shellcheck disable=SC2086
            DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq $missing >>"$RUN/apt.log" 2>&1 || {
                LUA_WHY="apt-get install$missing failed: $(grep -m1 '^E:' "$RUN/apt.log" || tail -1 "$RUN/apt.log")"
                return
            }
        fi
    fi
    [ -f $NGX_MODULES/ngx_http_lua_module.so ] || { LUA_WHY="$NGX_MODULES/ngx_http_lua_module.so missing"; return; }
    [ -f $NGX_MODULES/ndk_http_module.so ] || { LUA_WHY="$NGX_MODULES/ndk_http_module.so missing"; return; }
    LUA_CPATH=$(dpkg -L lua-cjson 2>/dev/null | grep -m1 '/lua/5.1/cjson.so$' || true)
    [ -n "$LUA_CPATH" ] || { LUA_WHY="lua-cjson has no Lua 5.1 cjson.so"; return; }
    LUA_CPATH=$(dirname "$LUA_CPATH")
}

# Sets PORTKEY_WHY to the reason when Portkey cannot run.
PORTKEY_WHY=""
install_portkey() {
    command -v node >/dev/null || { PORTKEY_WHY="node is not installed"; return; }
    command -v npm >/dev/null || { PORTKEY_WHY="npm is not installed"; return; }
    mkdir -p "$PORTKEY_DIR"
    if ! cmp -s "$BENCH/portkey/package.json" "$PORTKEY_DIR/package.json" || [ ! -f "$PORTKEY_ENTRY" ]; then
        if [ "${BENCH_NO_INSTALL:-0}" = 1 ]; then
            PORTKEY_WHY="not installed in bench/.peers/portkey (BENCH_NO_INSTALL=1)"; return
        fi
        log "bench: npm install @portkey-ai/gateway into bench/.peers/portkey"
        cp "$BENCH/portkey/package.json" "$PORTKEY_DIR/package.json"
        # No install scripts: the gateway's postinstall only runs its own dev tooling.
        if ! (cd "$PORTKEY_DIR" && npm install --no-audit --no-fund --ignore-scripts \
                --loglevel=error) >"$RUN/npm.log" 2>&1; then
            rm -f "$PORTKEY_DIR/package.json"   # retry next time
            PORTKEY_WHY="npm install failed: $(grep -m1 -i 'err' "$RUN/npm.log" || tail -1 "$RUN/npm.log")"
            return
        fi
    fi
    [ -f "$PORTKEY_ENTRY" ] || { PORTKEY_WHY="npm install left no build/start-server.js"; return; }
    local hono
    hono=$(node -p 'require(process.argv[1]).version' \
        "$PORTKEY_DIR/node_modules/@hono/node-server/package.json" 2>/dev/null || echo "?")
    [ "$hono" = 1.14.1 ] || log "bench: warning: @hono/node-server is $hono, not 1.14.1; Portkey streaming may break"
}

# ---------------------------------------------------------------- inputs

# A chat request of exactly $1 bytes with benign text: nothing in it is PII,
# a secret, a blocklisted term or an injection, so every row serves it.
make_body() {  # bytes stream(0|1) out
    perl -e '
        my ($size, $stream) = @ARGV;
        my $text = "Please summarise the quarterly operations review for the regional team. "
                 . "Focus on delivery times, staffing, supplier quality and the open risks, "
                 . "and suggest three next steps that a small team can take this month. ";
        my $head = q({"model":"gpt-4o-mini","messages":[{"role":"system","content":"You are a concise assistant for internal reports."},{"role":"user","content":");
        my $tail = q("}],"max_tokens":256,"temperature":0.2) . ($stream ? q(,"stream":true}) : q(}));
        my $room = $size - length($head) - length($tail);
        die "body size $size too small\n" if $room < 1;
        my $fill = $text x (int($room / length($text)) + 1);
        print $head, substr($fill, 0, $room), $tail;
    ' "$1" "$2" >"$3"
}

make_mock_files() {
    mkdir -p "$RUN/mock"
    # 200 SSE events in OpenAI's chunk shape: 199 chunks, then [DONE].
    perl -e '
        my $id = q("id":"chatcmpl-bench","object":"chat.completion.chunk","created":1700000000,"model":"gpt-4o-mini");
        my @w = qw(The quarter closed with delivery times down and staffing stable across the region while supplier quality improved);
        print qq(data: {$id,"choices":[{"index":0,"delta":{"role":"assistant","content":""},"finish_reason":null}]}\n\n);
        for my $i (1 .. 197) {
            my $word = $w[$i % @w];
            print qq(data: {$id,"choices":[{"index":0,"delta":{"content":" $word"},"finish_reason":null}]}\n\n);
        }
        print qq(data: {$id,"choices":[{"index":0,"delta":{},"finish_reason":"stop"}],"usage":{"prompt_tokens":230,"completion_tokens":197,"total_tokens":427}}\n\n);
        print "data: [DONE]\n\n";
    ' >"$RUN/mock/sse.txt"
}

MOCK_JSON_ANSWER='{"id":"chatcmpl-bench","object":"chat.completion","created":1700000000,"model":"gpt-4o-mini","choices":[{"index":0,"message":{"role":"assistant","content":"Delivery times improved by a week, staffing is stable and supplier quality rose. Next steps: renew the two weakest contracts, hire one planner, and review open risks every Friday."},"finish_reason":"stop"}],"usage":{"prompt_tokens":230,"completion_tokens":42,"total_tokens":272}}'

# An RS256 key pair of our own, and a token for it: `aigov token` when it
# works, else openssl by hand (same claims).
make_identity() {
    openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out "$RUN/jwt-rs256.pem" 2>/dev/null
    openssl pkey -in "$RUN/jwt-rs256.pem" -pubout -out "$RUN/jwt-rs256.pub.pem"
    JWT=""
    if [ -x "$AIGOV" ]; then
        JWT=$("$AIGOV" token --key "$RUN/jwt-rs256.pem" --sub bench --groups engineers 2>/dev/null | tail -1 || true)
    fi
    if [[ ! "$JWT" =~ ^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+$ ]]; then
        JWT_SOURCE="openssl (build/aigov token not available)"
        local now h p s
        now=$(date +%s)
        h=$(printf '%s' '{"alg":"RS256","typ":"JWT"}' | b64url)
        p=$(printf '{"sub":"bench","groups":["engineers"],"iat":%d,"nbf":%d,"exp":%d}' \
            "$now" "$((now - 60))" "$((now + 86400))" | b64url)
        s=$(printf '%s.%s' "$h" "$p" | openssl dgst -sha256 -sign "$RUN/jwt-rs256.pem" -binary | b64url)
        JWT="$h.$p.$s"
    else
        JWT_SOURCE="build/aigov token"
    fi
}
b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }

make_audit_key() {
    if [ -x "$AIGOV" ] && "$AIGOV" keygen --out "$RUN/audit.key" >/dev/null 2>&1 && [ -s "$RUN/audit.key" ]; then
        AUDIT_KEY_SOURCE="build/aigov keygen"
    else
        rm -f "$RUN/audit.key" "$RUN/audit.key.pub"
        openssl genpkey -algorithm ed25519 -out "$RUN/audit.key" 2>/dev/null
        openssl pkey -in "$RUN/audit.key" -pubout -out "$RUN/audit.key.pub"
        AUDIT_KEY_SOURCE="openssl (build/aigov keygen not available)"
    fi
}

# ---------------------------------------------------------------- nginx configs

# The frame shared by the mock and every nginx row: its own prefix, pid,
# logs and temp folders under build/bench/<name>, never /etc/nginx.
nginx_frame() {  # dir workers main-extra http-extra servers
    local dir=$1 user=""
    [ "$(id -u)" = 0 ] && user="user root;"
    cat <<EOF
# generated by bench/run.sh
$user
$3
worker_processes $2;
daemon off;
master_process on;
pid $dir/nginx.pid;
error_log $dir/error.log warn;
events { worker_connections 4096; }
http {
    access_log off;
    client_body_temp_path $dir/tmp/body;
    proxy_temp_path $dir/tmp/proxy;
    fastcgi_temp_path $dir/tmp/fastcgi;
    uwsgi_temp_path $dir/tmp/uwsgi;
    scgi_temp_path $dir/tmp/scgi;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
$4
$5
}
EOF
}

mock_conf() {  # dir
    nginx_frame "$1" 1 "" "    client_max_body_size 8m;" "$(cat <<EOF
    server {
        listen 127.0.0.1:$MOCK_JSON;
        location = /v1/chat/completions {
            default_type application/json;
            return 200 '$MOCK_JSON_ANSWER';
        }
    }
    server {
        listen 127.0.0.1:$MOCK_SSE;
        root $RUN/mock;
        # The static module answers POST of an existing file with 405;
        # error_page turns that into a GET of the same file, so the 200
        # events come from a plain file.
        location = /v1/chat/completions {
            try_files /sse.txt =404;
            error_page 405 =200 /sse.txt;
        }
        location = /sse.txt {
            internal;
            default_type text/event-stream;
            add_header Cache-Control no-cache;
        }
    }
EOF
)"
}

# A reverse proxy to the mock: JSON on one port, SSE (unbuffered) on another.
# $4 goes into both locations, $3 into http.
proxy_conf() {  # dir workers main-extra http-extra location-extra json-port sse-port long-port
    nginx_frame "$1" "$2" "$3" "$(cat <<EOF
    client_body_buffer_size 64k;
    client_max_body_size 8m;
    proxy_http_version 1.1;
    proxy_set_header Connection "";
    upstream mock_json { server 127.0.0.1:$MOCK_JSON; keepalive 64; keepalive_requests 1000000; }
    upstream mock_sse  { server 127.0.0.1:$MOCK_SSE;  keepalive 64; keepalive_requests 1000000; }
$4
EOF
)" "$(cat <<EOF
    server {
        listen 127.0.0.1:$6;
        location /v1/ {
$5
            proxy_pass http://mock_json;
        }
    }
    server {
        listen 127.0.0.1:$7;
        location /v1/ {
$5
            proxy_buffering off;
            proxy_pass http://mock_sse;
        }
    }
    server {
        # long prompts kept in memory: the buffer holds the largest body
        listen 127.0.0.1:$8;
        client_body_buffer_size 8m;
        location /v1/ {
$5
            proxy_pass http://mock_json;
        }
    }
EOF
)"
}

# Start nginx with $RUN/<name>/nginx.conf. On success sets NGX_PID; on
# failure sets START_ERR to "failed: <first error line>" and returns 1.
# (Not run in a subshell: PIDS must see the new process.)
start_nginx() {  # name port-to-wait
    local dir=$RUN/$1 err rc=0
    mkdir -p "$dir/tmp"
    "$NGINX" -t -q -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/t.log" 2>&1 || rc=$?
    if [ "$rc" != 0 ]; then
        err=$(grep -m1 -E '\[(emerg|alert|crit|error)\]' "$dir/t.log" || head -1 "$dir/t.log")
        err=${err#nginx: }
        if [ -z "$err" ] && [ "$rc" -gt 128 ]; then
            err="nginx -t crashed with signal $((rc - 128))$([ "$rc" != 139 ] || echo " (segmentation fault)")"
        fi
        START_ERR="failed: ${err:-nginx -t exited with $rc}"
        START_ERR=${START_ERR//"$ROOT"\//}
        return 1
    fi
    "$NGINX" -p "$dir" -c "$dir/nginx.conf" -e "$dir/error.log" >"$dir/stdout.log" 2>&1 &
    NGX_PID=$!
    PIDS+=("$NGX_PID")
    if ! wait_port "$2" "$NGX_PID" 10; then
        err=$(grep -m1 -E '\[(emerg|alert|crit)\]' "$dir/error.log" 2>/dev/null || echo "did not start")
        START_ERR="failed: ${err}"
        return 1
    fi
}

# ---------------------------------------------------------------- rows

# Each row: id, label, workers, the baseline row it is compared with, and its
# cases. Peers are compared with the 2-worker baseline: the machine's limit.
ROWS=(
    "nginx-1|nginx reverse proxy (baseline)|1|nginx-1|json1k json16k"
    "nginx-2|nginx reverse proxy (baseline)|2|nginx-2|json1k json16k stream prompt128k prompt1m prompt4m prompt1m-file"
    "pass-1|aigov pass-through|1|nginx-1|json1k json16k"
    "pass-2|aigov pass-through|2|nginx-2|json1k json16k stream prompt128k prompt1m prompt4m prompt1m-file"
    "policy-1|aigov + identity + policy|1|nginx-1|json1k json16k"
    "policy-2|aigov + identity + policy|2|nginx-2|json1k json16k"
    "plugins-1|aigov + 4 plugins on the prompt|1|nginx-1|json1k json16k"
    "plugins-2|aigov + 4 plugins on the prompt|2|nginx-2|json1k json16k"
    "audit-1|aigov + signed audit log|1|nginx-1|json1k json16k"
    "audit-2|aigov + signed audit log|2|nginx-2|json1k json16k stream prompt128k prompt1m prompt4m prompt1m-file"
    "metrics-2|aigov + signed audit log + metrics|2|nginx-2|json1k"
    "lua-2|nginx + Lua guard (cjson, ngx.re)|2|nginx-2|json1k json16k stream"
    "quota-2|aigov + policy + quotas in shared memory|2|nginx-2|json1k"
    "redis-2|aigov + policy + quotas in Redis|2|nginx-2|json1k"
    "portkey|Portkey gateway (Node.js)|1|nginx-2|json1k json16k stream"
    "portkey-guard|Portkey + regexMatch guardrail|1|nginx-2|json1k json16k stream"
)

declare -A STATUS RSS PJSON PSSE PLONG CASE_NOTE MASTER

row_field() { local IFS='|'; read -r -a f <<<"$1"; echo "${f[$2]}"; }

aigov_conf() {  # step workers dir json-port sse-port long-port
    local main="load_module $MODULE;" http="" loc="            aigov on;" p
    if [ "$1" = quota ] || [ "$1" = redis ]; then
        loc="$loc
            aigov_jwt_key $RUN/jwt-rs256.pub.pem;
            aigov_policy $BENCH/policy-quota.yaml;"
    fi
    [ "$1" != redis ] || loc="$loc
            aigov_quota_redis 127.0.0.1:$REDIS_PORT;"
    case $1 in
        policy|plugins|audit|metrics)
            loc="$loc
            aigov_jwt_key $RUN/jwt-rs256.pub.pem;"
            ;;
    esac
    case $1 in
        policy) loc="$loc
            aigov_policy $BENCH/policy-identity.yaml;" ;;
        plugins|audit|metrics) loc="$loc
            aigov_policy $BENCH/policy-plugins.yaml;"
            for p in $PLUGINS; do
                http="$http
    aigov_plugin $p $ROOT/build/plugins/$p.so;"
            done ;;
    esac
    if [ "$1" = audit ] || [ "$1" = metrics ]; then
        http="$http
    aigov_audit_log $3/audit.jsonl;
    aigov_audit_key $RUN/audit.key;
    aigov_audit_checkpoint 1000 1s;"
    fi
    if [ "$1" = metrics ]; then
        # counting is on where a location exposes the metrics
        http="$http
    server { listen unix:$3/metrics.sock; location = /metrics { aigov_metrics; } }"
    fi
    proxy_conf "$3" "$2" "$main" "$http" "$loc" "$4" "$5" "$6"
}

lua_conf() {  # workers dir json-port sse-port long-port
    proxy_conf "$2" "$1" \
        "load_module $NGX_MODULES/ndk_http_module.so;
load_module $NGX_MODULES/ngx_http_lua_module.so;" \
        "    lua_package_path \"$BENCH/lua/?.lua;/usr/share/lua/5.1/?.lua;;\";
    lua_package_cpath \"$LUA_CPATH/?.so;;\";" \
        "            access_by_lua_block { require(\"guard\").check() }" "$3" "$4" "$5"
}

start_row() {  # row-line
    local id workers step missing p
    id=$(row_field "$1" 0); workers=$(row_field "$1" 2)
    mkdir -p "$RUN/$id"
    alloc_port; PJSON[$id]=$PORT
    alloc_port; PSSE[$id]=$PORT
    alloc_port; PLONG[$id]=$PORT
    case $id in
        nginx-*)
            proxy_conf "$RUN/$id" "$workers" "" "" "" "${PJSON[$id]}" "${PSSE[$id]}" "${PLONG[$id]}" >"$RUN/$id/nginx.conf"
            start_nginx "$id" "${PJSON[$id]}" || { STATUS[$id]=$START_ERR; return; } ;;
        lua-*)
            [ -z "$LUA_WHY" ] || { STATUS[$id]="not available: $LUA_WHY"; return; }
            lua_conf "$workers" "$RUN/$id" "${PJSON[$id]}" "${PSSE[$id]}" "${PLONG[$id]}" >"$RUN/$id/nginx.conf"
            start_nginx "$id" "${PJSON[$id]}" || { STATUS[$id]=$START_ERR; return; } ;;
        pass-*|policy-*|plugins-*|audit-*|metrics-*)
            step=${id%-*}
            [ -f "$MODULE" ] || { STATUS[$id]="not available: ${MODULE#"$ROOT"/} not built"; return; }
            if [ "$step" = plugins ] || [ "$step" = audit ] || [ "$step" = metrics ]; then
                missing=""
                for p in $PLUGINS; do [ -f "$ROOT/build/plugins/$p.so" ] || missing="$missing $p.so"; done
                [ -z "$missing" ] || { STATUS[$id]="not available: build/plugins/ lacks$missing"; return; }
            fi
            aigov_conf "$step" "$workers" "$RUN/$id" "${PJSON[$id]}" "${PSSE[$id]}" "${PLONG[$id]}" >"$RUN/$id/nginx.conf"
            start_nginx "$id" "${PJSON[$id]}" || { STATUS[$id]=$START_ERR; return; } ;;
        quota-*|redis-*)
            step=${id%-*}
            [ -f "$MODULE" ] || { STATUS[$id]="not available: ${MODULE#"$ROOT"/} not built"; return; }
            if [ "$step" = redis ]; then
                start_redis || { STATUS[$id]="not available: $REDIS_WHY"; return; }
            fi
            aigov_conf "$step" "$workers" "$RUN/$id" "${PJSON[$id]}" "${PSSE[$id]}" "${PLONG[$id]}" >"$RUN/$id/nginx.conf"
            start_nginx "$id" "${PJSON[$id]}" || { STATUS[$id]=$START_ERR; return; } ;;
        portkey|portkey-guard)
            [ -z "$PORTKEY_WHY" ] || { STATUS[$id]="not available: $PORTKEY_WHY"; return; }
            if [ "$id" = portkey-guard ]; then   # same process as "portkey"
                STATUS[$id]=${STATUS[portkey]}; PJSON[$id]=${PJSON[portkey]}; PSSE[$id]=${PSSE[portkey]}
                MASTER[$id]=${MASTER[portkey]:-}
                RSS[$id]=${RSS[portkey]:-}; return
            fi
            PSSE[$id]=${PJSON[$id]}   # one port; the mock is chosen by header
            (cd "$RUN/portkey" && NODE_ENV=production PORTKEY_ENTRY=$PORTKEY_ENTRY \
                exec node "$BENCH/portkey/local.mjs" "--port=${PJSON[$id]}" --headless) \
                >"$RUN/portkey/stdout.log" 2>&1 &
            NGX_PID=$!
            PIDS+=("$NGX_PID")
            if ! wait_port "${PJSON[$id]}" "$NGX_PID" 30; then
                STATUS[$id]="failed: $(grep -m1 -i error "$RUN/portkey/stdout.log" || echo "did not start")"
                return
            fi
            # The gateway must listen on loopback only.
            if ss -ltnH "sport = :${PJSON[$id]}" | awk '{print $4}' | grep -qv '^127\.0\.0\.1:'; then
                STATUS[$id]="failed: listens beyond 127.0.0.1"; return
            fi ;;
    esac
    STATUS[$id]=ok
    MASTER[$id]=$NGX_PID
    sleep 0.3
    RSS[$id]=$(rss_kb "$NGX_PID")
}

# Debian's redis-server for the redis-* rows, on a free loopback port, no
# persistence; sets REDIS_PORT, or REDIS_WHY when it cannot run.
REDIS_PORT=""
REDIS_WHY=""
start_redis() {
    [ -z "$REDIS_PORT" ] || return 0
    command -v redis-server >/dev/null || { REDIS_WHY="redis-server is not installed (make deps)"; return 1; }
    alloc_port
    mkdir -p "$RUN/redis"
    redis-server --port "$PORT" --bind 127.0.0.1 --save '' --appendonly no \
        --dir "$RUN/redis" --daemonize no >"$RUN/redis/redis.log" 2>&1 &
    PIDS+=("$!")
    wait_port "$PORT" "$!" 10 || { REDIS_WHY="redis-server did not start"; return 1; }
    REDIS_PORT=$PORT
}

# Redis scripts and CPU per request of the redis-2 row: wrk for a few
# seconds on its own, INFO commandstats and INFO cpu before and after.
redis_cpu() {  # seconds of CPU redis-server has used
    redis-cli -p "$REDIS_PORT" INFO cpu | tr -d '\r' |
        awk -F: '/^used_cpu_(sys|user):/ {s += $2} END {printf "%.6f", s}'
}

redis_round_trips() {
    local line req calls cpu0 cpu1
    redis-cli -p "$REDIS_PORT" CONFIG RESETSTAT >/dev/null
    cpu0=$(redis_cpu)
    line=$(run_wrk redis-2 json1k 3)
    cpu1=$(redis_cpu)
    req=$(sed -n 's/.*requests=\([0-9]*\).*/\1/p' <<<"$line")
    calls=$(redis-cli -p "$REDIS_PORT" INFO commandstats | tr -d '\r' |
        sed -n 's/^cmdstat_\(evalsha\|eval\):calls=\([0-9]*\).*/\2/p' | awk '{s += $1} END {print s + 0}')
    [ -n "$req" ] && [ "$req" -gt 0 ] || { echo "could not be counted (wrk: $line)"; return; }
    awk -v c="$calls" -v r="$req" -v a="$cpu0" -v b="$cpu1" \
        'BEGIN { printf "%d scripts for %d requests: %.2f per request; redis-server used %.1f µs of CPU per request", c, r, c / r, (b - a) * 1e6 / r }'
}

# Headers and body of one (row, case); sets HDRS, BODY, PORT_OF.
case_inputs() {  # id case
    local mock
    case $2 in
        json1k)  BODY=$RUN/body-1k.json;     mock=$MOCK_JSON; PORT_OF=${PJSON[$1]} ;;
        json16k) BODY=$RUN/body-16k.json;    mock=$MOCK_JSON; PORT_OF=${PJSON[$1]} ;;
        stream)  BODY=$RUN/body-stream.json; mock=$MOCK_SSE;  PORT_OF=${PSSE[$1]} ;;
        # long prompts: in memory (client_body_buffer_size 8m), and one
        # through the 64k buffer, spilled to a temporary file
        prompt128k) BODY=$RUN/body-128k.json; mock=$MOCK_JSON; PORT_OF=${PLONG[$1]} ;;
        prompt1m)   BODY=$RUN/body-1m.json;   mock=$MOCK_JSON; PORT_OF=${PLONG[$1]} ;;
        prompt4m)   BODY=$RUN/body-4m.json;   mock=$MOCK_JSON; PORT_OF=${PLONG[$1]} ;;
        prompt1m-file) BODY=$RUN/body-1m.json; mock=$MOCK_JSON; PORT_OF=${PJSON[$1]} ;;
    esac
    HDRS=$RUN/headers-$1-$2.txt
    case $1 in
        portkey*)
            {
                echo "Authorization: Bearer sk-bench-not-a-real-key"
                echo "x-portkey-provider: openai"
                echo "x-portkey-custom-host: http://127.0.0.1:$mock/v1"
                if [ "$1" = portkey-guard ]; then
                    printf 'x-portkey-config: {"input_guardrails":[{"default.regexMatch":{"rule":"%s","not":true},"deny":true}]}\n' \
                        "$GUARD_REGEX"
                fi
            } >"$HDRS" ;;
        *)  echo "Authorization: Bearer $JWT" >"$HDRS" ;;
    esac
}

# The start of an answer on one line, tags and escapes dropped, for a note.
brief() {
    head -c 400 "$1" | tr -s '\r\n\t' '   ' | sed -e 's/<[^>]*>/ /g' -e 's/\\[rn]/ /g' -e 's/  */ /g' | cut -c1-100
}

# One request with curl, before measuring: 200 and the mock's answer, or a note.
precheck() {  # id case
    local out code
    case_inputs "$1" "$2"
    out=$RUN/precheck-$1-$2.txt
    code=$(curl -sS -o "$out" -w '%{http_code}' --max-time 10 -X POST \
        -H 'Content-Type: application/json' -H "@$HDRS" --data-binary "@$BODY" \
        "http://127.0.0.1:$PORT_OF/v1/chat/completions" 2>&1) || { echo "failed: curl: $code"; return 1; }
    if [ "$code" != 200 ]; then
        echo "failed: HTTP $code: $(brief "$out")"; return 1
    fi
    if [ "$2" = stream ]; then
        local events
        events=$(grep -c '^data: ' "$out" || true)
        grep -q '^data: \[DONE\]' "$out" || { echo "failed: stream has no [DONE] ($events events)"; return 1; }
        [ "$events" -ge 200 ] || { echo "failed: stream has $events events, not 200"; return 1; }
    else
        grep -q 'chatcmpl-bench' "$out" || { echo "failed: not the mock's answer: $(brief "$out")"; return 1; }
    fi
}

# CPU time (clock ticks, user + system) of a row's server: its nginx
# workers, or the process itself (node). Per request, it is what the row
# costs the machine whatever else runs on it; the throughput is not.
cpu_ticks() {  # master-pid
    local kids pid sum=0 f
    kids=$(ps -o pid= --ppid "$1" 2>/dev/null || true)
    [ -n "$kids" ] || kids=$1
    for pid in $kids; do
        f=$(cut -d' ' -f14,15 "/proc/$pid/stat" 2>/dev/null) || continue
        sum=$((sum + ${f% *} + ${f#* }))
    done
    echo "$sum"
}

run_wrk() {  # id case seconds -> the WRK line, with cpu_ticks= and hz=
    local pin=() t0 line
    case_inputs "$1" "$2"
    [ -z "$TASKSET" ] || pin=(taskset -c "$TASKSET")
    t0=$(cpu_ticks "${MASTER[$1]}")
    line=$(BENCH_BODY_FILE=$BODY BENCH_HEADERS_FILE=$HDRS \
        "${pin[@]}" wrk -t"$THREADS" -c"$CONNS" -d"$3"s --timeout 10s -s "$BENCH/wrk/chat.lua" \
        "http://127.0.0.1:$PORT_OF/v1/chat/completions" 2>&1 | grep '^WRK ' || echo "WRK error")
    echo "$line cpu_ticks=$(( $(cpu_ticks "${MASTER[$1]}") - t0 )) hz=$HZ"
}
HZ=$(getconf CLK_TCK)

# ---------------------------------------------------------------- open streams

# The "streams" case: BENCH_STREAMS (default "1000 10000") slow chat streams
# open at once (bench/slow_sse.mjs: one event every 100 ms, 50 events a
# stream) through plain nginx and through the full stack with the four
# plugins on the answer, both with 2 workers. Measured in the steady
# state: the workers' resident memory above their idle size per open
# stream, their CPU time per event, and the latency of short requests
# (a 1 KiB JSON request every 50 ms) sent to the same workers alongside.
# Limits are raised for this case only: worker_connections, nofile.
streams_case() {
    local counts=${BENCH_STREAMS:-1000 10000} secs=${BENCH_STREAMS_SECONDS:-12}
    local slow slow_pid n id dir sp jp master idle rss c0 c1 e0 e1 t0 t1 lat nofile
    # as many files as this machine lets a process have (each stream is two
    # sockets in nginx: 10,000 streams on 2 workers need 10,000 each)
    nofile=$(ulimit -Hn)
    [ "$nofile" = unlimited ] && nofile=100000
    [ "$nofile" -le 100000 ] || nofile=100000
    ulimit -n "$nofile" 2>/dev/null || true
    command -v node >/dev/null || { echo "(streams: node is not installed)"; return; }
    alloc_port; slow=$PORT
    node "$BENCH/slow_sse.mjs" "$slow" 50 100 >"$RUN/slow_sse.log" 2>&1 &
    slow_pid=$!
    PIDS+=("$slow_pid")
    wait_port "$slow" "$slow_pid" 10 || { echo "(streams: bench/slow_sse.mjs did not start)"; return; }
    echo "## Open streams"
    echo
    echo "$(date -u '+%Y-%m-%d %H:%M UTC'); each stream: bench/slow_sse.mjs, one event every 100 ms, 50 events (5 s), then a new one on the same connection (wrk -t2 -c N, 1 KiB request with \"stream\":true)." \
         "Both servers 2 workers, worker_connections 40000, worker_rlimit_nofile $nofile (the machine's limit)." \
         "Memory: the workers' VmRSS summed, ${secs} s after the streams opened, minus their idle sum, per open stream." \
         "CPU per event: the workers' CPU time over a window of the steady state (about 5 s) over the events the mock wrote in it; events/s is that count over the window." \
         "Short request: a 1 KiB JSON request to the same workers every 50 ms during that window (curl; p50 / p99 / max of its total time)."
    echo
    echo "| streams | configuration | events/s delivered | memory per stream | CPU per event | short request p50 / p99 / max ms | note |"
    echo "| ---: | --- | ---: | ---: | ---: | ---: | --- |"
    for n in $counts; do
        for id in nginx aigov; do
            dir=$RUN/streams-$id
            mkdir -p "$dir"
            alloc_port; sp=$PORT
            alloc_port; jp=$PORT
            local loc="" http=""
            if [ "$id" = aigov ]; then
                loc="            aigov on;
            aigov_jwt_key $RUN/jwt-rs256.pub.pem;
            aigov_policy $BENCH/policy-answer.yaml;"
                for p in $PLUGINS; do http="$http
    aigov_plugin $p $ROOT/build/plugins/$p.so;"; done
                http="$http
    aigov_audit_log $dir/audit.jsonl;
    aigov_audit_key $RUN/audit.key;
    aigov_audit_checkpoint 1000 1s;"
            fi
            local main="worker_rlimit_nofile $nofile;"
            [ "$id" = nginx ] || main="load_module $MODULE;
$main"
            nginx_frame "$dir" 2 "$main" "$http
    proxy_http_version 1.1;
    proxy_set_header Connection \"\";
    upstream slow { server 127.0.0.1:$slow; keepalive 64; }
    upstream mock_json { server 127.0.0.1:$MOCK_JSON; keepalive 64; }" "$(cat <<EOF
    server {
        listen 127.0.0.1:$sp backlog=65535;
        location /v1/ {
$loc
            proxy_buffering off;
            proxy_pass http://slow;
        }
    }
    server {
        listen 127.0.0.1:$jp;
        location /v1/ {
$loc
            proxy_pass http://mock_json;
        }
    }
EOF
)" | sed 's/worker_connections 4096;/worker_connections 40000;/' >"$dir/nginx.conf"
            if ! start_nginx "streams-$id" "$sp"; then
                echo "| $n | $id | - | | | | $START_ERR |"
                continue
            fi
            master=$NGX_PID
            sleep 0.5
            idle=$(rss_sum "$master")
            local hdrs=$RUN/headers-streams.txt
            echo "Authorization: Bearer $JWT" >"$hdrs"
            ( ulimit -n "$nofile"; BENCH_BODY_FILE=$RUN/body-stream.json BENCH_HEADERS_FILE=$hdrs \
                wrk -t2 -c"$n" -d$((secs + 8))s --timeout 60s -s "$BENCH/wrk/chat.lua" \
                "http://127.0.0.1:$sp/v1/chat/completions" >"$dir/wrk-$n.log" 2>&1 ) &
            local wrk_pid=$!
            sleep "$secs"
            rss=$(rss_sum "$master")
            c0=$(cpu_ticks "$master"); e0=$(curl -s "http://127.0.0.1:$slow/__count"); t0=$(date +%s%N)
            lat=$(for _ in $(seq 1 80); do
                      curl -s -o /dev/null -w '%{time_total}\n' --max-time 10 -X POST \
                          -H 'Content-Type: application/json' -H "@$hdrs" \
                          --data-binary "@$RUN/body-1k.json" "http://127.0.0.1:$jp/v1/chat/completions"
                      sleep 0.05
                  done | sort -n | awk '{v[NR]=$1} END {if (NR) printf "%.1f / %.1f / %.1f", v[int((NR+1)/2)]*1000, v[int(NR*0.99+0.5)]*1000, v[NR]*1000}')
            c1=$(cpu_ticks "$master"); e1=$(curl -s "http://127.0.0.1:$slow/__count"); t1=$(date +%s%N)
            wait "$wrk_pid" 2>/dev/null || true
            kill -TERM "$master" 2>/dev/null || true
            for _ in $(seq 1 50); do kill -0 "$master" 2>/dev/null || break; sleep 0.1; done
            awk -v n="$n" -v id="$id" -v idle="$idle" -v rss="$rss" -v c="$((c1 - c0))" -v hz="$HZ" \
                -v e="$((e1 - e0))" -v secs="$(( (t1 - t0) / 1000000 ))" -v w="$(grep -m1 -o 'Socket errors:.*' "$dir/wrk-$n.log" || true)" -v lat="$lat" '
                BEGIN {
                    label = id == "nginx" ? "nginx reverse proxy" : "aigov full stack, 4 plugins on the answer";
                    printf "| %d | %s | %.0f | %.1f KiB | %s | %s | %s |\n", n, label, e / (secs / 1000),
                        (rss - idle) / n, (e > 0 ? sprintf("%.1f us", c / hz * 1e6 / e) : "-"), lat, w
                }'
        done
    done
    echo
}

# Resident memory of an nginx master's workers, summed, in KiB.
rss_sum() {
    local pid sum=0 v
    for pid in $(ps -o pid= --ppid "$1" 2>/dev/null); do
        v=$(awk '/^VmRSS:/ {print $2}' "/proc/$pid/status" 2>/dev/null || true)
        sum=$((sum + ${v:-0}))
    done
    echo "$sum"
}

# ---------------------------------------------------------------- main

command -v wrk >/dev/null || die "wrk is not installed (apt-get install wrk, or make deps)"
[ -x "$NGINX" ] || die "$NGINX not found (apt-get install nginx, or make deps)"
command -v curl >/dev/null || die "curl is not installed"

rm -rf "$RUN"
mkdir -p "$RUN"
START=$(date +%s)

install_lua
install_portkey
make_body 1024 0 "$RUN/body-1k.json"
make_body 16384 0 "$RUN/body-16k.json"
make_body 1024 1 "$RUN/body-stream.json"
make_body $((128 * 1024)) 0 "$RUN/body-128k.json"
make_body $((1024 * 1024)) 0 "$RUN/body-1m.json"
make_body $((4 * 1024 * 1024)) 0 "$RUN/body-4m.json"
make_mock_files
make_identity
make_audit_key

alloc_port; MOCK_JSON=$PORT
alloc_port; MOCK_SSE=$PORT
mkdir -p "$RUN/mock"
mock_conf "$RUN/mock" >"$RUN/mock/nginx.conf"
start_nginx mock "$MOCK_JSON" || die "mock model API: $START_ERR"
wait_port "$MOCK_SSE" "$NGX_PID" 5 || die "mock model API: SSE port did not open"

SELECTED=()
for r in "${ROWS[@]}"; do
    id=$(row_field "$r" 0)
    if [ -n "$ONLY" ] && ! [[ $id =~ $ONLY ]]; then continue; fi
    SELECTED+=("$r")
    start_row "$r"
    log "bench: $id: ${STATUS[$id]}"
done

CASES=${BENCH_CASES:-json1k json16k stream prompt128k prompt1m prompt4m prompt1m-file streams latency verify}
for c in $CASES; do
    for r in "${SELECTED[@]}"; do
        id=$(row_field "$r" 0)
        [[ " $(row_field "$r" 4) " == *" $c "* ]] || continue
        [ "${STATUS[$id]}" = ok ] || continue
        CASE_NOTE[$id:$c]=$(precheck "$id" "$c") || true
        [ -z "${CASE_NOTE[$id:$c]}" ] || log "bench: $id $c: ${CASE_NOTE[$id:$c]}"
    done
done

# Redis scripts and CPU per request of the redis-2 row, measured apart.
REDIS_TRIPS=""
if [ "${STATUS[redis-2]:-}" = ok ] && [ -z "${CASE_NOTE[redis-2:json1k]:-}" ]; then
    REDIS_TRIPS=$(redis_round_trips)
    log "bench: redis-2: $REDIS_TRIPS"
fi

# Runs are interleaved (every row once, then again) so that a slow moment of
# the machine does not fall on one row only. Warm-up runs are not recorded.
: >"$RUN/measure.tsv"
for rep in $(seq 1 "$REPEAT"); do
    for c in $CASES; do
        for r in "${SELECTED[@]}"; do
            id=$(row_field "$r" 0)
            [[ " $(row_field "$r" 4) " == *" $c "* ]] || continue
            if [ "${STATUS[$id]}" != ok ] || [ -n "${CASE_NOTE[$id:$c]}" ]; then continue; fi
            [ "$rep" -gt 1 ] || [ "$WARMUP" = 0 ] || ! [[ $id =~ ^(lua|portkey) ]] \
                || run_wrk "$id" "$c" "$WARMUP" >/dev/null
            line=$(run_wrk "$id" "$c" "$DURATION")
            log "bench: run $rep/$REPEAT $c $id: ${line#WRK }"
            printf '%s\t%s\t%s\n' "$c" "$id" "$line" >>"$RUN/measure.tsv"
        done
    done
done

# Open streams: its own servers, after the wrk cases.
: >"$RUN/streams.md"
if [[ " $CASES " == *" streams "* ]]; then
    log "bench: open streams (${BENCH_STREAMS:-1000 10000})"
    streams_case >"$RUN/streams.md"
fi

# Stream latency is not a wrk case: its own script starts its own servers.
: >"$RUN/latency.md"
if [[ " $CASES " == *" latency "* ]]; then
    log "bench: stream latency (bench/stream_latency.pl)"
    BENCH_LATENCY_REPEAT=${BENCH_LATENCY_REPEAT:-$([ "${BENCH_QUICK:-0}" = 1 ] && echo 1 || echo 2)} \
        perl "$BENCH/stream_latency.pl" >"$RUN/latency.md" \
        || echo "(bench/stream_latency.pl failed; see the log above)" >"$RUN/latency.md"
fi

# Audit log verification: its own script, no servers.
: >"$RUN/verify.md"
if [[ " $CASES " == *" verify "* ]]; then
    log "bench: audit log verification (bench/verify.sh)"
    BENCH_VERIFY_REPEAT=${BENCH_VERIFY_REPEAT:-$([ "${BENCH_QUICK:-0}" = 1 ] && echo 1 || echo 3)} \
        "$BENCH/verify.sh" >"$RUN/verify.md" \
        || echo "(bench/verify.sh failed; see the log above)" >"$RUN/verify.md"
fi

# Everything the table needs, for bench/table.pl.
{
    for r in "${SELECTED[@]}"; do
        id=$(row_field "$r" 0)
        printf 'row\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$id" "$(row_field "$r" 1)" "$(row_field "$r" 2)" \
            "$(row_field "$r" 3)" "$(row_field "$r" 4)" "${RSS[$id]:-}" "${STATUS[$id]}"
        for c in $CASES; do
            [ -z "${CASE_NOTE[$id:$c]:-}" ] || printf 'note\t%s\t%s\t%s\n' "$id" "$c" "${CASE_NOTE[$id:$c]}"
        done
    done
} >"$RUN/rows.tsv"

# The per-MiB floors of a long prompt's steps (ns per MiB), for the table:
# the best of three runs, as below (one run that fell in one of this
# machine's slow phases once put the four plugins at 1.7 times their floor).
: >"$RUN/floors.tsv"
if [[ " $CASES " == *" prompt"* ]] && [ -x "$ROOT/build/bench-micro" ]; then
    for _ in 1 2 3; do
    MICRO_ONLY=long MICRO_SECONDS=${MICRO_SECONDS:-0.3} "$ROOT/build/bench-micro" 2>/dev/null | awk -F'|' '
        /request parse, chat 1 MiB/             { gsub(/ /, "", $4); print "parse\t" $4 }
        /filter_request, 4 plugins, chat 1 MiB/ { gsub(/ /, "", $4); print "plugins\t" $4 }
        /SHA-256, 1 MiB body/                   { gsub(/ /, "", $4); print "sha256\t" $4 }' \
        || true
    done | awk -F'\t' '!($1 in m) || $2 < m[$1] { m[$1] = $2 } END { for (k in m) print k "\t" m[k] }' \
        >"$RUN/floors.tsv"
fi

# The floors of a 1 KiB request's steps (ns per request), hot and after
# 1 MiB of other memory (cold), and of appending a loop turn's records
# (ns per write of four requests' records), for the table.
# A floor is the fastest the work goes here: the best of three runs.
if [[ " $CASES " == *" json1k "* ]] && [ -x "$ROOT/build/bench-micro" ]; then
    for _ in 1 2 3; do
    MICRO_ONLY=jwt,policy,request,audit,append MICRO_EVICT=${MICRO_EVICT:-1024} \
    MICRO_SECONDS=${MICRO_SECONDS:-0.3} "$ROOT/build/bench-micro" 2>/dev/null | awk -F'|' '
        { name = $2; gsub(/^ +| +$/, "", name); ns = $4; gsub(/ /, "", ns) }
        name == "JWT verify, cached"                                  { print "jwt\t" ns }
        name == "JWT verify, cached, cold"                            { print "jwt_cold\t" ns }
        name == "policy decide, allow"                                { print "policy\t" ns }
        name == "policy decide, allow, cold"                          { print "policy_cold\t" ns }
        name == "request parse, chat 1024 B"                          { print "parse1k\t" ns }
        name == "request parse, chat 1024 B, cold"                    { print "parse1k_cold\t" ns }
        name == "filter_request, 4 plugins, chat 1024 B"              { print "plugins1k\t" ns }
        name == "filter_request, 4 plugins, chat 1024 B, cold"        { print "plugins1k_cold\t" ns }
        name == "audit work of one 1 KiB request, writes aside"       { print "audit1k\t" ns }
        name == "audit work of one 1 KiB request, writes aside, cold" { print "audit1k_cold\t" ns }
        name == "audit log append, 4 requests'"'"' records"               { print "append4\t" ns }
        name == "audit log append, same bytes into cached pages"      { print "append4_cached\t" ns }' \
        || true
    done | awk -F'\t' '!($1 in m) || $2 < m[$1] { m[$1] = $2 } END { for (k in m) print k "\t" m[k] }' \
        >>"$RUN/floors.tsv"
fi

mem_kb=$(awk '/^MemTotal:/ {print $2}' /proc/meminfo)
cpu=$(awk -F': *' '/^model name/ {print $2; exit}' /proc/cpuinfo)
{
    echo "# aigov benchmark results"
    echo
    echo "Generated by \`make bench\` (bench/run.sh$([ "${BENCH_QUICK:-0}" != 1 ] || echo ", quick mode")) on $(date -u '+%Y-%m-%d %H:%M UTC'); see bench/README.md."
    echo
    echo "| machine | |"
    echo "| --- | --- |"
    echo "| CPU | $(nproc) x ${cpu:-unknown} |"
    echo "| memory | $((mem_kb / 1024 / 1024)) GiB |"
    echo "| kernel | $(uname -sr) |"
    echo "| nginx | $("$NGINX" -v 2>&1 | sed 's/^nginx version: //') |"
    echo "| node | $(node -v 2>/dev/null || echo none) |"
    echo "| wrk | $(wrk -v 2>&1 | head -1 | awk '{print $2}') |"
    echo
    echo "Load: wrk -t$THREADS -c$CONNS over keep-alive connections${TASKSET:+, wrk pinned to CPU $TASKSET}," \
         "each figure the median of $REPEAT run(s) of ${DURATION}s" \
         "(runs interleaved across rows$([ "$WARMUP" = 0 ] || echo "; the Lua and Portkey rows after a ${WARMUP}s warm-up for their JIT"))." \
         "Cases: json1k and json16k post chat requests of 1 KiB and 16 KiB to a JSON answer;" \
         "stream posts 1 KiB with \"stream\":true and gets 200 SSE events (~$(($(wc -c <"$RUN/mock/sse.txt") / 1024)) KiB);" \
         "prompt128k, prompt1m and prompt4m post chat requests of that size to a server with client_body_buffer_size 8m (the body stays in memory)," \
         "prompt1m-file the 1 MiB one through client_body_buffer_size 64k (the body goes to a temporary file)." \
         "CPU us/req is the server's CPU time (user + system, its workers) per request: unlike req/s, it does not depend on what else the machine runs." \
         "x nginx is the ratio against the baseline row named in the table, measured in this run." \
         "Idle RSS is per worker (the Node.js process for Portkey), before any load." \
         "Token: $JWT_SOURCE; audit key: $AUDIT_KEY_SOURCE."
    echo
    perl "$BENCH/table.pl" "$RUN/rows.tsv" "$RUN/measure.tsv" "$RUN/floors.tsv"
    if [ -s "$RUN/streams.md" ]; then
        echo
        cat "$RUN/streams.md"
    fi
    if [ -s "$RUN/latency.md" ]; then
        echo
        cat "$RUN/latency.md"
    fi
    if [ -s "$RUN/verify.md" ]; then
        echo
        cat "$RUN/verify.md"
    fi
    if [ "${BENCH_MICRO:-1}" = 1 ] && [ -x "$ROOT/build/bench-micro" ]; then
        echo
        echo "## Micro-benchmarks (build/bench-micro)"
        echo
        "$ROOT/build/bench-micro" 2>&1 || echo "(build/bench-micro exited with $?)"
    fi
    if [ -n "$REDIS_TRIPS" ]; then
        echo
        echo "## Quotas in Redis"
        echo
        echo "Quotas in Redis (redis-2 against quota-2): Redis on this machine, one subject (one hot key)," \
             "requests_per_minute and tokens_per_minute counted for every request." \
             "Redis round trips, from INFO commandstats over 3 s of wrk: $REDIS_TRIPS" \
             "(the admission, which the request waits for, and the settlements from the answers' usage," \
             "sent without waiting, those of the subject ending in one event loop turn summed into one script;" \
             "under requests_per_minute alone there is no settlement)."
    fi
} >"$RESULTS.tmp"
mv "$RESULTS.tmp" "$RESULTS"

cat "$RESULTS"
log ""
log "bench: wrote ${RESULTS#$ROOT/} in $(( $(date +%s) - START ))s"
