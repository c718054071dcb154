#!/usr/bin/env bash
# Scan benchmark (issue 6), side by side in one run: a full 65535-port SYN
# scan of one lab host over veth by tcpprobe, masscan, nmap and zmap, with
# wall time, probes per second, CPU and how many of the 5 open ports each
# found. Run as root: bench/scan.sh [RATE]
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH=$PATH:/usr/local/go/bin TCPPROBE_LAB_ONLY=1
RATE=${1:-100000}
for p in masscan nmap zmap; do
  command -v $p >/dev/null || apt-get install -y -qq $p >/dev/null 2>&1 || echo "($p not installable)"
done
go build -o bin/tcpprobe ./cmd/tcpprobe
bin/tcpprobe lab up --name bscan --subnet 203 >/dev/null
trap 'bin/tcpprobe lab down --name bscan --subnet 203 >/dev/null 2>&1 || true' EXIT
T=198.18.203.2
IF=tpbscan
GW_MAC=$(ip netns exec tplab-bscan cat /sys/class/net/eth0/address)
run() { # label, probes, open-port counter command, command...
  local label=$1 probes=$2 count=$3; shift 3
  /usr/bin/time -f "%e %U %S" -o /tmp/scan.time "$@" >/tmp/scan.out 2>/tmp/scan.err || true
  read -r secs u s < /tmp/scan.time
  local found
  found=$(eval "$count" < /tmp/scan.out || echo "?")
  awk -v l="$label" -v t="$secs" -v u="$u" -v s="$s" -v f="$found" -v n="$probes" \
    'BEGIN { printf "%-34s %7.2f s %10.0f probes/s  CPU %5.2f s  open found %s\n", l, t, n/t, u+s, f }'
}
echo "full 65535-port SYN scan of $T (5 open: 7 9 13 19 7200), rate $RATE"
run "tcpprobe scan" 65535 "grep -c '\"state\":\"open\"'" \
  bin/tcpprobe scan --json -p - --rate "$RATE" --retries 0 --wait 500ms $T
run "tcpprobe scan (--rate 1000000)" 65535 "grep -c '\"state\":\"open\"'" \
  bin/tcpprobe scan --json -p - --rate 1000000 --retries 0 --wait 200ms $T
if command -v masscan >/dev/null; then
  run "masscan" 65535 "grep -c 'open tcp'" \
    masscan -p1-65535 --rate "$RATE" --wait 1 -e $IF --router-mac "$GW_MAC" $T -oL /dev/stdout
fi
if command -v nmap >/dev/null; then
  # nmap is fastest, and accurate, well below its --min-rate ceiling.
  for r in 20000 "$RATE"; do
    run "nmap -sS -p- -T5 --min-rate $r" 65535 "grep -o '/open/' | wc -l" \
      nmap -n -Pn -sS -p- -T5 --min-rate "$r" -e $IF -oG - $T
  done
fi
# The kernel's share: 65535 SYNs handed to sendmmsg as fast as it takes
# them, nothing captured (over veth the target answers inside the call).
go build -o bin/floor ./bench/floor
for _ in 1 2 3; do
  echo "kernel floor, sendmmsg only, no capture: $(bin/floor -target $T)"
done
if command -v zmap >/dev/null; then
  run "zmap (one port per run: 7)" 1 "grep -c ." \
    zmap -p 7 -r "$RATE" -i $IF -G "$GW_MAC" -b /dev/null --cooldown-time 1 $T/32 -o -
  echo "  (zmap scans one port per run; its full-range time would be 65535 such runs)"
fi
