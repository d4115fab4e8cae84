#!/usr/bin/env bash
# Runs the README's two commands the way a new user meets them: a minimal
# Debian bookworm (debootstrap --variant=minbase, then only git, make, curl
# and ca-certificates, as a container image has), a fresh clone of this
# repository's HEAD, `make test`, then `make run` and the README's curl.
#
#   tools/fresh-debian.sh [DIR]      (as root; DIR defaults to /var/tmp/aigov-fresh)
#
# The mirror, the CA certificates and the npm configuration are the host's,
# copied in so that the chroot reaches the same registries. Everything the
# project needs beyond that must come from `make deps`: a missing package
# shows up here, not on the developers' machines. The chroot is kept (a
# second run reuses it; `rm -rf DIR` for a clean one); mounts are undone
# on exit.
set -euo pipefail

root=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:-/var/tmp/aigov-fresh}
log=$dir.log

[ "$(id -u)" = 0 ] || { echo "fresh-debian: run as root (debootstrap, chroot)" >&2; exit 2; }

if ! command -v debootstrap >/dev/null; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq debootstrap >/dev/null
fi

# the host's Debian mirror: the first URIs of a deb822 source, else of sources.list
mirror=$(sed -n 's/^URIs: *\([^ ]*\).*/\1/p' /etc/apt/sources.list.d/*.sources 2>/dev/null \
         | grep -v security | head -1)
[ -n "$mirror" ] || mirror=$(awk '$1 == "deb" { print $2; exit }' /etc/apt/sources.list)
[ -n "$mirror" ] || { echo "fresh-debian: no Debian mirror found in the host's apt sources" >&2; exit 2; }

mounts=()
cleanup() {
    for ((i = ${#mounts[@]} - 1; i >= 0; i--)); do umount -l "${mounts[i]}" 2>/dev/null || true; done
}
trap cleanup EXIT
bind() { mkdir -p "$dir$2"; mount "${@:3}" --bind "$1" "$dir$2"; mounts+=("$dir$2"); }

if [ ! -x "$dir/usr/bin/apt-get" ]; then
    echo "fresh-debian: debootstrap minbase bookworm into $dir"
    debootstrap --variant=minbase bookworm "$dir" "$mirror" >"$log" 2>&1 \
        || { tail -20 "$log"; exit 1; }
fi

# what a container would be given: name resolution, the host's apt and npm
# settings and CA certificates (the registries may sit behind a proxy CA)
cp /etc/resolv.conf "$dir/etc/resolv.conf"
cp -a /etc/apt/sources.list.d/. "$dir/etc/apt/sources.list.d/" 2>/dev/null || true
rm -f "$dir"/etc/apt/sources.list.d/*disabled* "$dir/etc/apt/sources.list.d/nodesource.sources"
cp -a /etc/apt/apt.conf.d/. "$dir/etc/apt/apt.conf.d/" 2>/dev/null || true
[ -f /etc/npmrc ] && cp /etc/npmrc "$dir/etc/npmrc"
[ -f /root/.npmrc ] && cp /root/.npmrc "$dir/root/.npmrc"
mkdir -p "$dir/usr/local/share/ca-certificates"
cp -a /usr/local/share/ca-certificates/. "$dir/usr/local/share/ca-certificates/" 2>/dev/null || true
# npm's cafile may point anywhere on the host: bring that file along
for rc in /etc/npmrc /root/.npmrc; do
    ca=$(sed -n 's/^cafile *= *//p' "$rc" 2>/dev/null || true)
    if [ -n "$ca" ] && [ -f "$ca" ]; then mkdir -p "$dir$(dirname "$ca")"; cp "$ca" "$dir$ca"; fi
done

mkdir -p "$dir/proc"; mount -t proc proc "$dir/proc"; mounts+=("$dir/proc")
bind /sys /sys
bind /dev /dev
bind /dev/pts /dev/pts
bind "$root" /src -o ro

run() { chroot "$dir" /usr/bin/env -i HOME=/root PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 bash -c "$1"; }

echo "fresh-debian: git, make, curl, ca-certificates"
run 'apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq git make curl ca-certificates >/dev/null && update-ca-certificates >/dev/null'

echo "fresh-debian: clone, make test"
run 'rm -rf /root/aigov && git clone -q /src /root/aigov'
status=0
run 'cd /root/aigov && make test' || status=$?
echo "fresh-debian: make test exited $status"

echo "fresh-debian: make run, then the README's curl"
run 'cd /root/aigov && { make run >/root/run.log 2>&1 & } ; for i in $(seq 1 120); do grep -q "curl " /root/run.log 2>/dev/null && break; sleep 1; done; cat /root/run.log | tail -15'
token=$(run "sed -n 's/.*Bearer \([A-Za-z0-9._-]*\).*/\1/p' /root/run.log | head -1")
answer=$(run "curl -s http://127.0.0.1:8080/v1/chat/completions -H 'Authorization: Bearer $token' -H 'Content-Type: application/json' -d '{\"model\":\"gpt-4o-mini\",\"messages\":[{\"role\":\"user\",\"content\":\"Mail me at alice@example.com\"}]}'") || true
echo "fresh-debian: the README's curl answered: $answer"
run 'cd /root/aigov && make stop' || true
case $answer in
*'[REDACTED:EMAIL]'*) run_ok=0 ;;
*) run_ok=1 ;;
esac
echo "fresh-debian: make test $([ $status = 0 ] && echo passed || echo FAILED), make run $([ $run_ok = 0 ] && echo answered || echo FAILED)"
[ $status = 0 ] && [ $run_ok = 0 ]
