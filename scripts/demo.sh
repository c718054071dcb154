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
# The lab's second TCP stack (gVisor's netstack), found beside tcpprobe.
go build -buildvcs=auto -o bin/tcpprobe-netstack ./cmd/tcpprobe-netstack
tp=bin/tcpprobe
demo_pcap=$(mktemp -t tcpprobe-demo.XXXXXX.pcap)
trap '$tp lab down --name demo --subnet 100 >/dev/null 2>&1 || true; $tp lab down --name demogv --subnet 101 >/dev/null 2>&1 || true; rm -f "$demo_pcap"' EXIT
echo "# the lab: a target host in a network namespace, with real servers"
$tp lab up --name demo --subnet 100
# run WHAT ARGS...: one line saying what the step shows, then the command.
run() { local what=$1; shift; echo; echo "# $what"; echo "\$ tcpprobe $*"; $tp "$@" || echo "(exit code $?)"; }
run "an open port answers a hand-made SYN with SYN-ACK and its options" send --opt mss=1460,sackok,ts,nop,ws=7 198.18.100.2:7
run "a closed port answers with RST,ACK (exit 0: a TCP answer)" send 198.18.100.2:1
run "a rejected port answers with ICMP port unreachable (exit 3)" send 198.18.100.2:3
run "a dropped port does not answer (exit 3)" send --timeout 500ms 198.18.100.2:2
run "three probes over IPv6, with ping-style statistics" send -c 3 -i 200ms "[2001:db8:100::2]:7"
run "a whole connection by hand, judged rule by rule" handshake --data hello --time-wait 500ms 198.18.100.2:7
run "the server closes first: a passive close through CLOSE_WAIT and LAST_ACK" handshake --close passive 198.18.100.2:13
run "why two segments are not enough: the SYN-ACK retransmissions when our third ACK is lost" handshake --drop third-ack --observe 8s 198.18.100.2:7
run "keepalive probes (seq = SND.NXT-1) and their ACKs" keepalive -c 2 198.18.100.2:7
run "the target's own keepalive while we stay silent like a crashed client" keepalive --observe --silent --max-wait 15s 198.18.100.2:7200
run "a half-close recorded to pcap" handshake --write "$demo_pcap" --send bye --time-wait 200ms 198.18.100.2:19
run "the same capture read back and judged by the same rulebook" analyze --stream 1 "$demo_pcap"
run "a port scan with nmap's states and reasons" scan -p 1-100,7200 198.18.100.2
run "RFC 9293's SEGMENT ARRIVES grid, one row: what ESTABLISHED answers to each kind of segment" conform --states ESTABLISHED 198.18.100.2:7
run "a packetdrill script: < lines sent, > lines checked, its syscalls made in the target" script testdata/scripts/sack.pkt 198.18.100.2:8080
echo
echo "# a second TCP stack: the same lab served by gVisor's netstack instead of Linux"
$tp lab up --name demogv --subnet 101 --stack gvisor >/dev/null
run "the same connection against netstack: other options, other windows, the same rules" handshake --data hello --time-wait 500ms 198.18.101.2:7
run "netstack's keepalive gives up silently: our next segment meets a RST" keepalive --observe --silent --max-wait 8s 198.18.101.2:7200
