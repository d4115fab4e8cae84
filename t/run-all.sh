#!/bin/sh
# `make test`: unit tests under ASan/UBSan, then the integration tests.
cd "$(dirname "$0")/.." || exit 2
start=$(date +%s)
t/unit/run.sh "$@"; unit=$?
# the fuzz targets still build, and replay their seed corpora cleanly
{ fuzz/build.sh >/dev/null && FUZZ_SECONDS=0 fuzz/run.sh; } || unit=1
prove -j2 -I t/lib t/*.t; integ=$?
echo "make test: $(( $(date +%s) - start ))s"
[ $unit -eq 0 ] && [ $integ -eq 0 ]
