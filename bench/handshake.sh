#!/usr/bin/env bash
# Handshake benchmarks (issue 3), side by side in one run:
#  1. command start to SYN on the wire: the pcap's first timestamp minus
#     the time just before exec, over 20 runs, against the lab echo port;
#  2. connections per second on loopback: tcpprobe handshake -c N (a full
#     handshake and RST per connection) and tcpprobe send -c N (SYN only),
#     beside hping3 -S and nping --tcp probing the same port.
# Run as root from the repository: bench/handshake.sh [N]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH=$PATH:/usr/local/go/bin TCPPROBE_LAB_ONLY=1
N=${1:-1000}
command -v hping3 >/dev/null || apt-get install -y -qq hping3 >/dev/null
command -v nping >/dev/null || apt-get install -y -qq nmap >/dev/null
go build -o bin/tcpprobe ./cmd/tcpprobe
tp=bin/tcpprobe
tmp=$(mktemp -d)
cleanup() {
  $tp lab down --name bench --subnet 201 >/dev/null 2>&1 || true
  [ -n "${nginx_pid:-}" ] && kill "$nginx_pid" 2>/dev/null || true
  rm -rf "$tmp"
}
trap cleanup EXIT
$tp lab up --name bench --subnet 201 >/dev/null

echo "== start to SYN on the wire (ms), 20 runs"
for i in $(seq 20); do
  t0=$(date +%s.%N)
  $tp handshake --close rst --write "$tmp/s.pcap" 198.18.201.2:7 >/dev/null
  t1=$(tshark -r "$tmp/s.pcap" -T fields -e frame.time_epoch -c 1 2>/dev/null)
  echo "$t0 $t1" | awk '{printf "%.2f\n", ($2-$1)*1000}'
done | sort -n | awk '{a[NR]=$1} END {printf "min %.2f  median %.2f  max %.2f ms\n", a[1], a[int((NR+1)/2)], a[NR]}'

echo "== $N probes on loopback"
port=18080
# An event-driven server (nginx), so the peer keeps up: a forking one
# (socat fork) drops SYNs once its accept queue overflows.
cat > "$tmp/nginx.conf" <<NGINX
daemon off; master_process off; pid $tmp/nginx.pid; error_log stderr;
events { worker_connections 4096; }
http { access_log off; client_body_temp_path $tmp; proxy_temp_path $tmp; fastcgi_temp_path $tmp; uwsgi_temp_path $tmp; scgi_temp_path $tmp;
  server { listen 127.0.0.1:$port backlog=4096; return 200 "ok\n"; } }
NGINX
nginx -p "$tmp" -c "$tmp/nginx.conf" 2>/dev/null &
nginx_pid=$!
sleep 0.5
rate() { # label, command...
  local label=$1; shift
  local s e
  s=$(date +%s.%N); "$@" >/dev/null 2>&1 || true; e=$(date +%s.%N)
  awk -v s="$s" -v e="$e" -v n="$N" -v l="$label" 'BEGIN {t=e-s; printf "%-40s %8.2f s  %9.0f /s\n", l, t, n/t}'
}
rate "tcpprobe handshake (full open + RST)" $tp handshake -c "$N" --time-wait 0s --close rst 127.0.0.1:$port
rate "tcpprobe send (SYN only, one port)" $tp send -c "$N" -i 0 -t 50ms 127.0.0.1:$port
rate "hping3 -S (SYN only)" hping3 -S -q -c "$N" -i u100 -p $port 127.0.0.1
rate "nping --tcp (SYN only)" nping --tcp -q -c "$N" --rate 100000 -p $port 127.0.0.1
