#!/bin/bash
# Builds the libFuzzer targets: every fuzz/fuzz_NAME.c (or those given as
# arguments, by file or by NAME) into build/fuzz/fuzz_NAME, with clang,
# libFuzzer, ASan and UBSan (any undefined behaviour aborts, so the fuzzer
# counts it as a crash).
#
# Each target names the lib/ or plugins/ sources it needs on a line of its
# own in its header:
#     // build: lib/request.c lib/sse.c
# (shell patterns such as plugins/pii/pii_*.c are expanded from the
# repository root). A target without that line is an error. A binary newer
# than its sources and every header is not rebuilt.
#
# Environment: FUZZ_CC (default clang), FUZZ_CFLAGS (added at the end).
set -euo pipefail

cd "$(dirname "$0")/.."

CC=${FUZZ_CC:-clang}
OUT=build/fuzz
CFLAGS=(-std=c11 -D_GNU_SOURCE -g -O1 -Wall -Wextra -Werror
        -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=all
        -fno-omit-frame-pointer -Ilib -Iplugins -I/usr/include/hs)
LIBS=(-ljansson -lyaml -lssl -lcrypto -lpcre2-8 -lhs -ljwt -lz -lm -ldl)

if ! command -v "$CC" >/dev/null; then
    echo "fuzz/build.sh: $CC not found (apt-get install clang)" >&2
    exit 2
fi

targets=()
if [ $# -eq 0 ]; then
    targets=(fuzz/fuzz_*.c)
else
    for a in "$@"; do
        case $a in
            */*) targets+=("$a") ;;
            fuzz_*) targets+=("fuzz/$a.c") ;;
            *) targets+=("fuzz/fuzz_$a.c") ;;
        esac
    done
fi

mkdir -p "$OUT"
failed=0
for src in "${targets[@]}"; do
    if [ ! -f "$src" ]; then
        echo "fuzz/build.sh: $src: no such fuzz target" >&2
        failed=1
        continue
    fi
    name=$(basename "$src" .c)
    line=$(grep -m1 '^// build:' "$src" || true)
    if [ -z "$line" ]; then
        echo "fuzz/build.sh: $src: no '// build: <sources>' line in its header" >&2
        failed=1
        continue
    fi
    sources=()
    for pat in ${line#// build:}; do
        # a pattern that matches nothing stays as written and fails below
        matched=( $pat )
        for f in "${matched[@]}"; do
            if [ ! -f "$f" ]; then
                echo "fuzz/build.sh: $src: '// build:' names $f, which does not exist" >&2
                failed=1
                continue 3
            fi
            sources+=("$f")
        done
    done
    bin="$OUT/$name"
    if [ -x "$bin" ]; then
        stale=$(find lib plugins fuzz -name '*.h' -newer "$bin" -print -quit)
        for f in "$src" "${sources[@]}"; do
            [ "$f" -nt "$bin" ] && stale=$f
        done
        if [ -z "$stale" ]; then
            echo "fuzz: $bin is up to date"
            continue
        fi
    fi
    echo "fuzz: $CC $src ${sources[*]} -> $bin"
    # shellcheck disable=SC2086
    if ! "$CC" "${CFLAGS[@]}" ${FUZZ_CFLAGS:-} "$src" "${sources[@]}" "${LIBS[@]}" -o "$bin"; then
        echo "fuzz/build.sh: $name did not build" >&2
        rm -f "$bin"
        failed=1
    fi
done
exit $failed
