#!/usr/bin/env bash
# Analyze benchmark (issue 5), side by side in one run on one capture of
# real Linux traffic made in the lab (bench/gen: 20000 short connections and
# lossy bulk transfers over a 300-byte MTU veth, at least 2 million packets):
#   tcpprobe analyze --json (also on the capture as pcapng), tshark -q -z conv,tcp, tshark with TCP analysis
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
# The host is shared and noisy: the fast tools run ROUNDS times,
# interleaved, and each reports its median (and best) time; the tshark runs
# take minutes and run once.
ROUNDS=${ROUNDS:-5}
once() { # label, command...: appends "secs rssKB cpu" to /tmp/bench.<label>
  local label=$1; shift
  /usr/bin/time -f "%e %M %P" -o /tmp/bench.time "$@" >/dev/null 2>/tmp/bench.err || { echo "$label: failed: $(head -c 300 /tmp/bench.err)"; return; }
  cat /tmp/bench.time >> "/tmp/bench.${label// /_}"
}
show() { # label
  local f="/tmp/bench.${1// /_}"
  [ -s "$f" ] || return 0
  sort -n "$f" | awk -v l="$1" -v n="$n" '{ s[NR]=$1; r[NR]=$2; c[NR]=$3 }
    END { m=int((NR+1)/2); printf "%-44s %6.2f s (best %.2f, %d runs) %10.0f pkt/s %6.0f MB RSS  CPU %s\n", l, s[m], s[1], NR, n/s[m], r[m]/1024, c[m] }'
}
# The same packets as pcapng (what dumpcap and Wireshark write).
[ -f "$F.pcapng" ] || editcap -F pcapng "$F" "$F.pcapng"
fast=("tcpprobe analyze --json (2 workers)" "tcpprobe analyze --json (1 worker)" "tcpprobe analyze --json (pcapng)" "tcptrace -n")
for l in "${fast[@]}"; do rm -f "/tmp/bench.${l// /_}"; done
for _ in $(seq "$ROUNDS"); do
  once "${fast[0]}" bin/tcpprobe analyze --json "$F"
  once "${fast[1]}" bin/tcpprobe analyze --json --workers 1 "$F"
  once "${fast[2]}" bin/tcpprobe analyze --json "$F.pcapng"
  once "${fast[3]}" tcptrace -n "$F"
done
for l in "${fast[@]}"; do show "$l"; done
for l in "tshark -q -z conv,tcp" "tshark -T fields tcp.analysis.flags"; do rm -f "/tmp/bench.${l// /_}"; done
once "tshark -q -z conv,tcp" tshark -n -r "$F" -q -z conv,tcp
show "tshark -q -z conv,tcp"
once "tshark -T fields tcp.analysis.flags" tshark -n -r "$F" -T fields -e frame.number -e tcp.analysis.flags -e tcp.analysis.retransmission -e tcp.analysis.duplicate_ack
show "tshark -T fields tcp.analysis.flags"
