#!/usr/bin/env bash
# Runs nginx's own test suite (nginx-tests) against Debian's nginx with the
# aigov module, to see what switching the module on changes for nginx's
# features. For developers; not part of `make test`: the suite is not a
# Debian package and is not copied into this repository. Get it with
#
#   git clone https://github.com/nginx/nginx-tests
#   git -C nginx-tests checkout fa3d3c6    # 2023-05, matches nginx 1.22
#
# then
#
#   tools/nginx-tests.sh SUITE_DIR [MODE] [TEST.t ...]
#   make nginx-tests NGINX_TESTS=SUITE_DIR [NGINX_TESTS_MODE=on] [NGINX_TESTS_FILES="dav*.t"]
#
# MODE: plain (the module not loaded), loaded (loaded, aigov off) or on
# (`aigov on;` at http level, so in every server; the default). Without
# TEST.t files a set that exercises what aigov touches runs: request
# bodies, error pages, proxying, DAV, HTTP/2 bodies. Compare a mode's
# summary with `plain`: differences are what the module changes.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
suite=${1:?usage: tools/nginx-tests.sh SUITE_DIR [plain|loaded|on] [TEST.t ...]}
mode=${2:-on}
shift $(( $# >= 2 ? 2 : 1 ))

[ -f "$suite/lib/Test/Nginx.pm" ] || { echo "nginx-tests: $suite is not an nginx-tests checkout (no lib/Test/Nginx.pm)" >&2; exit 2; }
so=$root/build/nginx/ngx_http_aigov_module.so
[ -f "$so" ] || { echo "nginx-tests: $so not built (make build)" >&2; exit 2; }

case $mode in
plain)  globals= ; http= ;;
loaded) globals="load_module $so;" ; http= ;;
on)     globals="load_module $so;" ; http="aigov on;" ;;
*)      echo "nginx-tests: MODE is plain, loaded or on, not '$mode'" >&2; exit 2 ;;
esac

# The suite loads every module Debian's nginx was configured with as
# dynamic; Debian ships them as packages
mods="libnginx-mod-http-geoip libnginx-mod-http-image-filter libnginx-mod-http-perl
      libnginx-mod-http-xslt-filter libnginx-mod-mail libnginx-mod-stream
      libnginx-mod-stream-geoip"
missing=$(for p in $mods; do dpkg -s "$p" >/dev/null 2>&1 || echo "$p"; done)
if [ -n "$missing" ]; then
    echo "nginx-tests: installing" $missing
    apt-get install -y -qq $missing >/dev/null
fi

# as root, workers run as nobody and cannot enter the suite's 0700 temp dirs
[ "$(id -u)" = 0 ] && globals="user root; $globals"

cd "$suite"
if [ $# -eq 0 ]; then
    set -- body*.t http_error_page*.t proxy.t proxy_request_buffering*.t \
           dav*.t h2_request_body*.t client_body*.t
fi
files=()
for f in "$@"; do [ -f "$f" ] && files+=("$f"); done
[ ${#files[@]} -gt 0 ] || { echo "nginx-tests: no such test file in $suite: $*" >&2; exit 2; }

echo "nginx-tests: mode $mode, ${#files[@]} files, nginx $(/usr/sbin/nginx -v 2>&1 | sed 's/.*\///')"
# Debian builds the optional modules as dynamic ones: the suite loads them
# from here
TEST_NGINX_BINARY=/usr/sbin/nginx TEST_NGINX_MODULES=/usr/lib/nginx/modules \
TEST_NGINX_GLOBALS=$globals \
TEST_NGINX_GLOBALS_HTTP=$http exec prove -j2 "${files[@]}"
