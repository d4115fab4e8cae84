#!/bin/sh
# Builds build/bench-micro, the library micro-benchmarks (bench/micro.c),
# against build/libaigov.a. Run `make build` first: the benchmark also
# loads build/plugins/*.so at run time.
set -eu
cd "$(dirname "$0")/.."
[ -f build/libaigov.a ] || { echo "build-micro: build/libaigov.a is missing; run make build" >&2; exit 1; }
${CC:-cc} -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Ilib -Iplugins -I/usr/include/hs \
    bench/micro.c build/libaigov.a \
    -ljwt -lyaml -ljansson -lssl -lcrypto -lpcre2-8 -lhs -ldl -lm -lpthread \
    -o build/bench-micro
echo "built build/bench-micro"
