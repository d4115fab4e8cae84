#!/bin/bash
# Runs every fuzz target built by fuzz/build.sh (or those given as
# arguments, by NAME or fuzz_NAME) for FUZZ_SECONDS seconds each (default
# 20), one after the other, and fails if any of them crashes, leaks, hangs
# or runs out of memory.
#
# build/fuzz/fuzz_NAME starts from the seeds in fuzz/corpus/NAME (created
# when absent). The inputs it discovers go to build/fuzz/corpus/NAME, not
# into the repository; a crashing input is saved as
# build/fuzz/crashes/NAME-crash-<sha1> (likewise leak-, timeout-, oom-) and
# is replayed with: build/fuzz/fuzz_NAME FILE
#
# Environment: FUZZ_SECONDS (default 20), FUZZ_ARGS (more libFuzzer flags).
set -uo pipefail

cd "$(dirname "$0")/.."

SECONDS_EACH=${FUZZ_SECONDS:-20}
case $SECONDS_EACH in
    ''|*[!0-9]*) echo "fuzz/run.sh: FUZZ_SECONDS must be a whole number of seconds" >&2; exit 2 ;;
esac
OUT=build/fuzz

names=()
if [ $# -eq 0 ]; then
    for src in fuzz/fuzz_*.c; do
        n=$(basename "$src" .c)
        names+=("${n#fuzz_}")
    done
else
    for a in "$@"; do
        a=$(basename "$a" .c)
        names+=("${a#fuzz_}")
    done
fi

pass=0
fail=0
failed=()
mkdir -p "$OUT/crashes"
for n in "${names[@]}"; do
    bin="$OUT/fuzz_$n"
    if [ ! -x "$bin" ]; then
        echo "fuzz/run.sh: $bin is not built (run fuzz/build.sh)" >&2
        fail=$((fail + 1))
        failed+=("$n")
        continue
    fi
    mkdir -p "fuzz/corpus/$n" "$OUT/corpus/$n"
    log="$OUT/$n.log"
    # The first corpus folder receives new inputs; the seeds stay as they are.
    # FUZZ_SECONDS=0: only replay the corpus (make test does, so that the
    # targets keep building and the seeds keep passing)
    if [ "$SECONDS_EACH" = 0 ]; then limit=-runs=0; else limit=-max_total_time="$SECONDS_EACH"; fi
    # shellcheck disable=SC2086
    "$bin" "$limit" -timeout=10 -rss_limit_mb=2048 \
        -artifact_prefix="$OUT/crashes/$n-" -print_final_stats=1 ${FUZZ_ARGS:-} \
        "$OUT/corpus/$n" "fuzz/corpus/$n" >"$log" 2>&1
    rc=$?
    runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
    if [ $rc -eq 0 ]; then
        pass=$((pass + 1))
        if [ "$SECONDS_EACH" = 0 ]; then
            printf 'fuzz_%-14s ok      corpus replayed (%s inputs)\n' "$n" "${runs:-?}"
        else
            printf 'fuzz_%-14s ok      %s runs in %ss\n' "$n" "${runs:-?}" "$SECONDS_EACH"
        fi
    else
        fail=$((fail + 1))
        failed+=("$n")
        printf 'fuzz_%-14s FAILED  (exit %d, log %s)\n' "$n" "$rc" "$log"
        grep -E 'ERROR: |SUMMARY: |runtime error|Test unit written to' "$log" | head -20 | sed 's/^/    /'
    fi
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
