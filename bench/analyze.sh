#!/usr/bin/env bash
# Analyze benchmark (issue 5), side by side in one run on one capture of
# real Linux traffic made in the lab (bench/gen: 20000 short connections and
# lossy bulk transfers over a 300-byte MTU veth, at least 2 million packets):
#   tcpprobe analyze --json, tshark -q -z conv,tcp, tshark with TCP analysis
#   fields, tcptrace -n. Packets per second and peak RSS for each.
# Run as root: bench/analyze.sh [PACKETS]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH=$PATH:/usr/local/go/bin
PACKETS=${1:-2000000}
F=/var/tmp/tcpprobe-bench.pcap
command -v tcptrace >/dev/null || apt-get install -y -qq tcptrace >/dev/null
go build -o bin/tcpprobe ./cmd/tcpprobe
[ -f "$F" ] || go run ./bench/gen -out "$F" -packets "$PACKETS"
n=$(bin/tcpprobe analyze "$F" | awk '/ frames \(/ {print $1}')
echo "capture: $F, $n packets, $(du -h "$F" | cut -f1)"
cat "$F" > /dev/null # warm the page cache for everyone alike
run() { # label, command...
  local label=$1; shift
  /usr/bin/time -f "%e %M %P" -o /tmp/bench.time "$@" >/dev/null 2>/tmp/bench.err || { echo "$label: failed: $(head -c 300 /tmp/bench.err)"; return; }
  read -r secs rss cpu < /tmp/bench.time
  awk -v l="$label" -v s="$secs" -v r="$rss" -v c="$cpu" -v n="$n" \
    'BEGIN { printf "%-44s %8.2f s %12.0f pkt/s %8.0f MB RSS  CPU %s\n", l, s, n/s, r/1024, c }'
}
run "tcpprobe analyze --json (2 workers)" bin/tcpprobe analyze --json "$F"
run "tcpprobe analyze --json (1 worker)" bin/tcpprobe analyze --json --workers 1 "$F"
run "tcptrace -n" tcptrace -n "$F"
run "tshark -q -z conv,tcp" tshark -n -r "$F" -q -z conv,tcp
run "tshark -T fields tcp.analysis.flags" tshark -n -r "$F" -T fields -e frame.number -e tcp.analysis.flags -e tcp.analysis.retransmission -e tcp.analysis.duplicate_ack
