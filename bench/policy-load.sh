#!/usr/bin/env bash
# How long large policies take to load, in `aigov policy check` and in
# `nginx -t`, and their peak memory: generated policies of 9,000 to 72,000
# rules (distinct names, groups and models; 72,000 fit the 8 MiB file
# bound), one rule with 50,000 and 100,000 claims, and a case file of
# 99,990 cases. Loading must grow linearly: twice the rules, about twice
# the time.
#
#   bench/policy-load.sh            writes bench/policy-load.md
#
# Settings: POLICY_LOAD_RESULTS (default bench/policy-load.md), NGINX
# (default /usr/sbin/nginx), AIGOV_MODULE. Work files go to build/policy-load/.
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
RUN=$ROOT/build/policy-load
OUT=${POLICY_LOAD_RESULTS:-$ROOT/bench/policy-load.md}
NGINX=${NGINX:-/usr/sbin/nginx}
MODULE=${AIGOV_MODULE:-$ROOT/build/nginx/ngx_http_aigov_module.so}
AIGOV=$ROOT/build/aigov

rm -rf "$RUN"
mkdir -p "$RUN/tmp"

rules() {   # N: rules of ~90 bytes, distinct names, groups and models
    perl -e 'my $n = shift; print "version: 1\ndefault: deny\nrules:\n";
             print "- name: r$_\n  when: {groups: [g$_], models: [m$_, \"f$_-*\"]}\n  decision: allow\n"
                 for 0 .. $n - 1;' "$1"
}
claims() {  # N: one rule with N claims
    perl -e 'my $n = shift; print "version: 1\ndefault: deny\nrules:\n- name: a\n  decision: allow\n  when:\n    claims:\n";
             print "      c$_: v\n" for 1 .. $n;' "$1"
}

for n in 9000 18000 36000 72000; do rules $n >"$RUN/rules-$n.yaml"; done
for n in 50000 100000; do claims $n >"$RUN/claims-$n.yaml"; done
printf 'version: 1\ndefault: deny\n' >"$RUN/empty.yaml"
perl -e 'print "- name: c$_\n  claims: {}\n  request: {model: m}\n  expect: deny\n" for 1 .. 99990' \
    >"$RUN/many.cases.yaml"

conf() {
    cat >"$RUN/nginx.conf" <<EOF
load_module $MODULE;
pid $RUN/nginx.pid;
error_log $RUN/error.log notice;
events { worker_connections 64; }
http {
    access_log off;
    client_body_temp_path $RUN/tmp/body;
    proxy_temp_path $RUN/tmp/proxy;
    fastcgi_temp_path $RUN/tmp/fastcgi;
    uwsgi_temp_path $RUN/tmp/uwsgi;
    scgi_temp_path $RUN/tmp/scgi;
    server {
        listen 127.0.0.1:1;
        location /v1/ {
            aigov on;
            aigov_policy $1;
            aigov_jwt_key $ROOT/policies/keys/dev-jwks.json;
            proxy_pass http://127.0.0.1:2;
        }
    }
}
EOF
}

measure() {  # prints "CPU seconds (wall) | MiB" of the command
    local t
    /usr/bin/time -o "$RUN/time" -f '%e %U %S %M' "$@" >/dev/null 2>&1 || true
    t=$(tail -1 "$RUN/time")
    awk -v t="$t" 'BEGIN { split(t, a, " ");
                           printf "%.2f s (%.2f s) | %.0f MiB", a[2] + a[3], a[1], a[4] / 1024 }'
}

{
    echo "# Policy load times"
    echo
    echo "Written by bench/policy-load.sh on $(date -u +%Y-%m-%d); $(nproc) CPUs;"
    echo "CPU time (user + system; wall time in brackets, which a busy machine"
    echo "stretches) and peak memory (RSS) of one run each."
    echo
    echo "| policy | bytes | aigov policy check | | nginx -t | |"
    echo "| --- | ---: | ---: | ---: | ---: | ---: |"
    for f in rules-9000 rules-18000 rules-36000 rules-72000 claims-50000 claims-100000; do
        conf "$RUN/$f.yaml"
        printf '| %s | %s | %s | %s |\n' "$f" "$(stat -c %s "$RUN/$f.yaml")" \
            "$(measure "$AIGOV" policy check "$RUN/$f.yaml")" \
            "$(measure "$NGINX" -t -q -c "$RUN/nginx.conf" -p "$RUN/")"
    done
    printf '| 99,990 test cases (policy test) | %s | %s | | |\n' \
        "$(stat -c %s "$RUN/many.cases.yaml")" \
        "$(measure "$AIGOV" policy test "$RUN/empty.yaml" --cases "$RUN/many.cases.yaml")"
} >"$OUT"
cat "$OUT"
