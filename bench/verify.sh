#!/usr/bin/env bash
# `aigov audit verify` against the floor of its work on this machine: a
# signed log of made-up records (aigov audit _generate), in the page cache,
# verified on one thread and on two, beside SHA-256 of the same bytes on one
# core and on two (openssl dgst, the same library verify uses) and the sum
# of the per-line floors that bench-micro measures (leaf hash, JSON check,
# tree node). Prints a Markdown section on stdout.
#
# BENCH_VERIFY_RECORDS (default 500000, about 375 MB), BENCH_VERIFY_REPEAT
# (best of, default 3), BENCH_VERIFY_GZ=0 to leave out the gzip file.

set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
AIGOV=$ROOT/build/aigov
MICRO=$ROOT/build/bench-micro
DIR=$ROOT/build/bench/verify
RECORDS=${BENCH_VERIFY_RECORDS:-500000}
REPEAT=${BENCH_VERIFY_REPEAT:-3}

log() { printf '%s\n' "$*" >&2; }

[ -x "$AIGOV" ] || { log "bench/verify.sh: build/aigov missing (make build)"; exit 1; }
mkdir -p "$DIR"
cd "$DIR"
# make bench starts from an empty build/bench; a run of this script alone
# keeps the log for the next one
if [ ! -s key ] || [ ! -s log ] || [ "$(cat records 2>/dev/null)" != "$RECORDS" ]; then
    rm -f key key.pub log log.gz half.a half.b records
    "$AIGOV" keygen --out key >/dev/null
    log "bench/verify.sh: writing a log of $RECORDS records"
    "$AIGOV" audit _generate --key key --records "$RECORDS" --checkpoint-every 1000 log >/dev/null
    echo "$RECORDS" >records
fi
if [ "${BENCH_VERIFY_GZ:-1}" = 1 ] && [ ! -s log.gz ]; then
    gzip -1 -c log >log.gz
fi
if [ ! -s half.a ]; then
    split -n l/2 log half.
    mv half.aa half.a
    mv half.ab half.b
fi
bytes=$(stat -c %s log)
lines=$(wc -l <log)
cat log log.gz half.a half.b >/dev/null 2>&1 || true     # into the page cache

# best wall-clock seconds of REPEAT runs of "$@"
best() {
    local b="" t0 t1 s
    for _ in $(seq 1 "$REPEAT"); do
        t0=$(date +%s.%N)
        "$@" >/dev/null 2>&1 || { echo "failed"; return; }
        t1=$(date +%s.%N)
        s=$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')
        b=$(awk -v s="$s" -v b="$b" 'BEGIN { print (b == "" || s < b) ? s : b }')
    done
    awk -v b="$b" 'BEGIN { printf "%.3f", b }'
}
sha_two() { openssl dgst -sha256 half.a & openssl dgst -sha256 half.b; wait; }
verify() { "$AIGOV" audit verify --key key.pub --threads "$1" "$2"; }

sha1=$(best openssl dgst -sha256 log)
sha2=$(best sha_two)
v1=$(best verify 1 log)
v2=$(best verify 2 log)
vz=""
[ ! -s log.gz ] || vz=$(best verify 2 log.gz)

# per-line floors (ns) from bench-micro's verify section
leaf="" json="" node=""
if [ -x "$MICRO" ]; then
    eval "$(MICRO_ONLY=verify MICRO_SECONDS=${MICRO_SECONDS:-0.3} "$MICRO" 2>/dev/null | awk -F'|' '
        /verify: leaf hash/  { gsub(/ /, "", $4); print "leaf=" $4 }
        /verify: JSON check/ { gsub(/ /, "", $4); print "json=" $4 }
        /verify: tree node/  { gsub(/ /, "", $4); print "node=" $4 }')"
fi

calc() { awk "BEGIN { printf \"$1\", $2 }"; }
mbs() { [ "$1" = failed ] && echo "-" || calc %.0f "$bytes / $1 / 1000000"; }
ratio() { [ "$1" = failed ] && echo "-" || calc %.2f "$1 / $sha2"; }
row() { echo "| $1 | $2 | $(mbs "$2") | $(ratio "$2") |"; }

echo "## Audit log verification (bench/verify.sh)"
echo
echo "A signed log of $RECORDS made-up admission records and their checkpoints (one every 1,000)," \
     "$((bytes / 1000000)) MB, $lines lines, in the page cache; each figure the best of $REPEAT runs." \
     "x floor is the time against SHA-256 of the same bytes on two cores, measured in this run."
echo
echo "| | seconds | MB/s | x floor |"
echo "| --- | ---: | ---: | ---: |"
row "SHA-256 of the file, one core (openssl dgst)" "$sha1"
row "SHA-256 of the file, two cores (two halves side by side): the floor" "$sha2"
if [ -n "$leaf" ] && [ -n "$json" ] && [ -n "$node" ]; then
    work=$(calc %.3f "$lines * ($leaf + $json + $node) / 1000000000")
    row "the work itself: leaf hash $leaf + JSON check $json + tree node $node ns per line (bench-micro), on one core" \
        "$work"
    row "the same spread over two cores" "$(calc %.3f "$work / 2")"
fi
row "aigov audit verify --threads 1" "$v1"
row "aigov audit verify (two threads, the default here)" "$v2"
[ -z "$vz" ] || row "aigov audit verify, the same log gzip -1 (logrotate's compress)" "$vz"
