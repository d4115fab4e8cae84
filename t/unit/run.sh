#!/bin/sh
# Runs each cmocka test binary given; prints one total line.
pass=0; fail=0; failed=""
for t in "$@"; do
    out=$("$t" 2>&1); rc=$?
    n=$(printf '%s\n' "$out" | sed -n 's/.*\[  PASSED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    f=$(printf '%s\n' "$out" | sed -n 's/.*\[  FAILED  \] \([0-9]*\) test.*/\1/p' | tail -1)
    pass=$((pass + ${n:-0})); fail=$((fail + ${f:-0}))
    if [ $rc -ne 0 ]; then
        [ -z "$f" ] && fail=$((fail + 1))
        failed="$failed $t"
        printf '%s\n' "$out"
    fi
    printf '%-40s %s passed, %s failed\n' "$(basename "$t")" "${n:-0}" "${f:-0}"
done
echo "unit: $pass passed, $fail failed"
[ -z "$failed" ]
