#!/bin/sh
# `make test`: unit tests under ASan/UBSan, then the integration tests.
cd "$(dirname "$0")/.." || exit 2
start=$(date +%s)
t/unit/run.sh "$@"; unit=$?
prove -j2 -I t/lib t/*.t; integ=$?
echo "make test: $(( $(date +%s) - start ))s"
[ $unit -eq 0 ] && [ $integ -eq 0 ]
