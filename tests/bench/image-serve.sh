#!/usr/bin/env bash
# Benchmark (figures only, never a pass/fail on time): the same 1 GiB image downloaded over
# loopback from `labforge serve` and from nginx, by 1 and by 16 concurrent curl clients.
# Prints the throughput of each, the ratio appliance/nginx, and labforge's peak RSS (VmHWM).
#
#   tests/bench/image-serve.sh [SIZE_MIB]      (default 1024)
#   LABFORGE=path   the labforge binary (default build/bin/labforge: an optimised build, not
#                   the sanitizer one, or the figures say little)
#   NGINX=path      nginx (default: nginx on PATH or /usr/sbin/nginx; Debian: nginx-light)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
size_mib=${1:-1024}
labforge=${LABFORGE:-$top/build/bin/labforge}
nginx=${NGINX:-$(command -v nginx || echo /usr/sbin/nginx)}
say() { echo "image-serve: $*"; }

[ -x "$labforge" ] || { say "$labforge is not built; run 'make all'"; exit 2; }
[ -x "$nginx" ] || { say "nginx not found; install it (apt-get install nginx-light)"; exit 2; }
command -v curl >/dev/null || { say "curl not found"; exit 2; }

tmp=$(mktemp -d /tmp/lf-bench-serve-XXXXXX)
chmod 755 "$tmp"
labforge_pid= nginx_pid=
cleanup() {
	[ -n "$labforge_pid" ] && kill -TERM "$labforge_pid" 2>/dev/null && wait "$labforge_pid" || true
	[ -n "$nginx_pid" ] && kill -QUIT "$nginx_pid" 2>/dev/null && wait "$nginx_pid" || true
	rm -rf "$tmp"
}
trap cleanup EXIT

free_port() { # a loopback TCP port nobody listens on
	local p
	while :; do
		p=$((20000 + RANDOM % 40000))
		(exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null || { echo "$p"; return; }
	done
}
wait_http() { # URL PID
	for _ in $(seq 100); do
		curl -s -o /dev/null -m 1 "$1" && return 0
		kill -0 "$2" 2>/dev/null || return 1
		sleep 0.1
	done
	return 1
}

mkdir -p "$tmp/images" "$tmp/state"
say "writing a ${size_mib} MiB image of random bytes"
head -c $((size_mib * 1024 * 1024)) /dev/urandom >"$tmp/images/bench.img"
bytes=$(stat -c %s "$tmp/images/bench.img")

lf_port=$(free_port)
cat >"$tmp/lab.xml" <<EOF
<lab name="bench">
  <appliance interface="lo" address="127.0.0.1/8" http-port="$lf_port"/>
  <network><management subnet="127.0.0.0/8"/></network>
  <node name="n1" role="kvm" mac="52:54:00:00:00:01"/>
</lab>
EOF
"$labforge" serve --manifest "$tmp/lab.xml" --state-dir "$tmp/state" --images "$tmp/images" \
	--listen 127.0.0.1 --no-dhcp 2>"$tmp/labforge.log" &
labforge_pid=$!
wait_http "http://127.0.0.1:$lf_port/images/none" "$labforge_pid" ||
	{ say "labforge serve did not start:"; cat "$tmp/labforge.log"; exit 1; }

ng_port=$(free_port)
mkdir -p "$tmp/nginx"
user_line=
[ "$(id -u)" = 0 ] && user_line="user root;"
cat >"$tmp/nginx/nginx.conf" <<EOF
$user_line
worker_processes auto;
daemon off;
pid $tmp/nginx/nginx.pid;
error_log $tmp/nginx/error.log;
events { worker_connections 256; }
http {
  access_log off;
  sendfile on;
  tcp_nopush on;
  client_body_temp_path $tmp/nginx/body;
  proxy_temp_path $tmp/nginx/proxy;
  fastcgi_temp_path $tmp/nginx/fastcgi;
  uwsgi_temp_path $tmp/nginx/uwsgi;
  scgi_temp_path $tmp/nginx/scgi;
  server {
    listen 127.0.0.1:$ng_port;
    location /images/ { alias $tmp/images/; }
  }
}
EOF
"$nginx" -p "$tmp/nginx" -c "$tmp/nginx/nginx.conf" -e "$tmp/nginx/error.log" &
nginx_pid=$!
wait_http "http://127.0.0.1:$ng_port/images/none" "$nginx_pid" ||
	{ say "nginx did not start:"; cat "$tmp/nginx/error.log"; exit 1; }

# Warm the page cache so both servers read the image from memory.
cat "$tmp/images/bench.img" >/dev/null

# run URL CLIENTS -> MiB/s over the whole transfer (all clients' bytes / wall time); every
# download must be complete.
run() {
	local url=$1 n=$2 start end i fail=0
	start=$(date +%s.%N)
	for i in $(seq "$n"); do
		curl -s -o /dev/null -w '%{size_download}\n' "$url" >"$tmp/size.$i" &
	done
	wait
	end=$(date +%s.%N)
	for i in $(seq "$n"); do
		[ "$(cat "$tmp/size.$i")" = "$bytes" ] || fail=1
	done
	[ $fail = 0 ] || { say "a download from $url was incomplete"; exit 1; }
	awk -v b="$bytes" -v n="$n" -v s="$start" -v e="$end" \
		'BEGIN { printf "%.0f", b * n / (e - s) / 1048576 }'
}

printf '%-8s %14s %14s %8s\n' clients "labforge MiB/s" "nginx MiB/s" ratio
for n in 1 16; do
	lf=$(run "http://127.0.0.1:$lf_port/images/bench.img" "$n")
	ng=$(run "http://127.0.0.1:$ng_port/images/bench.img" "$n")
	printf '%-8s %14s %14s %8s\n' "$n" "$lf" "$ng" "$(awk -v a="$lf" -v b="$ng" 'BEGIN { printf "%.2f", a / b }')"
done
say "labforge serve peak RSS: $(awk '/^VmHWM/ { print $2, $3 }' "/proc/$labforge_pid/status")"
say "image: ${size_mib} MiB; machine: $(nproc) CPUs; loopback, page cache warm"
