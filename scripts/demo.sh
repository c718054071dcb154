#!/usr/bin/env bash
# The main job on the built-in local lab, no outside host needed: build
# tcpprobe, bring the lab up (a target host in a network namespace with
# real servers), probe it, and take the lab down again.
# Run as root: ./scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH=$PATH:/usr/local/go/bin
# Safety net: probes may only leave through loopback or lab interfaces.
export TCPPROBE_LAB_ONLY=1
go build -buildvcs=auto -o bin/tcpprobe ./cmd/tcpprobe
tp=bin/tcpprobe
trap '$tp lab down --name demo --subnet 100 >/dev/null 2>&1 || true' EXIT
$tp lab up --name demo --subnet 100
run() { echo; echo "\$ tcpprobe $*"; $tp "$@" || echo "(exit code $?)"; }
run send --opt mss=1460,sackok,ts,nop,ws=7 198.18.100.2:7
run send 198.18.100.2:1
run send 198.18.100.2:3
run send --timeout 500ms 198.18.100.2:2
run send -c 3 -i 200ms "[2001:db8:100::2]:7"
run handshake --data hello --time-wait 500ms 198.18.100.2:7
run handshake --close passive 198.18.100.2:13
run handshake --drop third-ack --observe 8s 198.18.100.2:7
run keepalive -c 2 198.18.100.2:7
run keepalive --observe --silent --max-wait 15s 198.18.100.2:7200
run handshake --write /tmp/tcpprobe-demo.pcap --send bye --time-wait 200ms 198.18.100.2:19
run analyze --stream 1 /tmp/tcpprobe-demo.pcap
run scan -p 1-100,7200 198.18.100.2
rm -f /tmp/tcpprobe-demo.pcap
