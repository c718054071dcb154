#!/usr/bin/env bash
# The main job on the built-in local lab, no outside host needed: build
# tcpprobe, bring the lab up (a target host in a network namespace with
# real servers), probe it, and take the lab down again.
# Run as root: sudo ./scripts/demo.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH=$PATH:/usr/local/go/bin
# Safety net: probes may only leave through loopback or lab interfaces.
export TCPPROBE_LAB_ONLY=1
go build -o bin/tcpprobe ./cmd/tcpprobe
tp=bin/tcpprobe
trap '$tp lab down --name demo --subnet 100 >/dev/null 2>&1 || true' EXIT
$tp lab up --name demo --subnet 100
run() { echo; echo "\$ tcpprobe $*"; $tp "$@" || echo "(exit code $?)"; }
run send --opt mss=1460,sackok,ts,nop,ws=7 198.18.100.2:7
run send 198.18.100.2:1
run send 198.18.100.2:3
run send --timeout 500ms 198.18.100.2:2
run send -c 3 -i 200ms "[2001:db8:100::2]:7"
if $tp --help | grep -q '^  handshake'; then
  run handshake 198.18.100.2:7 --data 'hello'
  run handshake 198.18.100.2:13 --close passive
fi
