#!/usr/bin/env bash
# The lab's two TCP stacks side by side, measured by tcpprobe itself from
# the wire: the Linux kernel of the target namespace and gVisor's netstack
# (tcpprobe-netstack), each in its own lab with the same timers. Prints the
# README's "Linux vs gVisor netstack" table. Run as root: ./bench/stacks.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH=$PATH:/usr/local/go/bin TCPPROBE_LAB_ONLY=1
go build -o bin/tcpprobe ./cmd/tcpprobe
go build -o bin/tcpprobe-netstack ./cmd/tcpprobe-netstack
tp=bin/tcpprobe
trap '$tp lab down --name stlx --subnet 210 >/dev/null 2>&1 || true; $tp lab down --name stgv --subnet 211 >/dev/null 2>&1 || true' EXIT
$tp lab up --name stlx --subnet 210 --stack linux >/dev/null
$tp lab up --name stgv --subnet 211 --stack gvisor >/dev/null

# measure SUBNET: one JSON object of figures for the lab on 198.18.SUBNET.2
measure() {
  local t=198.18.$1.2
  {
    $tp handshake --json "$t:7" || true
    $tp handshake --json --drop third-ack --observe 8s "$t:7" || true
    $tp handshake --json --drop final-ack --observe 3s --time-wait 100ms "$t:7" || true
    $tp handshake --json --close passive "$t:13" || true
    $tp keepalive --json -c 2 -i 600ms "$t:7" || true
    $tp keepalive --json --observe --answers 2 --max-wait 20s "$t:7200" || true
    $tp keepalive --json --observe --silent --max-wait 10s "$t:7200" || true
    $tp send --json "$t:1" || true
    $tp handshake --json --close passive --probe-time-wait 90s "$t:13" || true
    $tp handshake --json "$t:11" || true
    # The ISN clock: two connections on one 4-tuple, a second apart.
    echo "{\"t\": $(date +%s.%N)}"; $tp handshake --json --sport 40321 --close rst "$t:7" || true
    sleep 1
    echo "{\"t\": $(date +%s.%N)}"; $tp handshake --json --sport 40321 --close rst "$t:7" || true
  } | python3 -c '
import json, re, sys
dec, s, objs = json.JSONDecoder(), sys.stdin.read(), []
i = 0
while i < len(s):
    if s[i].isspace():
        i += 1
        continue
    o, i = dec.raw_decode(s, i)
    objs.append(o)
hs, third, final, passive, kaprobe, kaans, kasil, closed, tw, full, t1, isn1, t2, isn2 = objs[:14]
# The timestamp clock of the peer: TSval ticks per second over its keepalive
# probes (RFC 7323 5.4 asks for 1 ms to 1 s per tick).
ts = [(r["time_ms"], int(re.search(r"TS val (\d+)", " ".join(r["segment"].get("options", []))).group(1)))
      for r in kasil["ladder"] if r["dir"] == "in" and "TS val" in " ".join(r["segment"].get("options", []))]
hz = round((ts[-1][1] - ts[0][1]) / ((ts[-1][0] - ts[0][0]) / 1000)) if len(ts) > 1 and ts[-1][0] > ts[0][0] else None
rep = closed.get("reply") or {}
fails = sorted({v["id"] for o in objs[:7] for v in o.get("rules", []) if v.get("result") == "fail"})
syn = [r for r in hs["ladder"] if "SYN" in r["segment"]["flags"] and "ACK" in r["segment"]["flags"]][0]["segment"]
x, f = third.get("synack_retransmissions") or {}, (final.get("close") or {}).get("fin_retransmissions") or {}
ka = kaprobe.get("probes") or [{}]
print(json.dumps({
  "synack": "win %d, %s" % (syn["window"], re.sub(r"TS val \d+ ecr \d+", "TS", " ".join(syn.get("options", [])))),
  "synack_rtx": "%s, intervals %s ms, RST after: %s" % (x.get("count"), [round(v) for v in x.get("intervals_ms", [])], x.get("rst_after")),
  "fin_rtx": "%s from LAST_ACK, intervals %s ms" % (f.get("count"), [round(v) for v in f.get("intervals_ms", [])]),
  "passive": "%s, peer ends %s" % (passive.get("close_form"), passive.get("peer_state")),
  "ka_answer": "answered %s, ack = SND.NXT %s" % (all(p.get("answered") for p in ka), all(p.get("ack_ok") for p in ka)),
  "ka_answering": "idle %.0f ms, next after %.0f ms" % (kaans.get("idle_ms", 0), kaans.get("interval_ms", 0)),
  "ka_silent": "idle %.0f ms, interval %.0f ms, %s probes of %s B, then %s" % (kasil.get("idle_ms", 0), kasil.get("interval_ms", 0), kasil.get("count"),
      (kasil.get("peer_probes") or [{}])[0].get("bytes"), "RST" if kasil.get("rst_after") else ("silent close" if kasil.get("silent_give_up") else "still up")),
  "ts_clock": "%s ticks/s" % hz,
  "closed": "%s seq=%s win=%s" % (rep.get("flags"), rep.get("seq"), rep.get("window")),
  "fails": ", ".join(fails) or "none",
  "time_wait": (lambda p: "ended %.0f-%.0f ms after our FIN was acknowledged (%s probes)" % (p.get("last_held_ms", 0), p.get("ended_ms", 0), p.get("probe")) if p.get("ended") else "still held after %s probes" % p.get("probes"))(tw.get("peer_time_wait") or {}),
  "isn_clock": "%.3g ticks/s" % (((isn2.get("peer_isn", 0) - isn1.get("peer_isn", 0)) % 2**32) / (t2["t"] - t1["t"])),
  "full_queue": "%s: %s SYN retransmissions unanswered" % (full.get("outcome"), full.get("syn_retransmissions")) if full.get("outcome") == "filtered" else str(full.get("outcome")),
}))
'
}
lx=$(measure 210)
gv=$(measure 211)
python3 - "$lx" "$gv" <<'PY'
import json, sys
lx, gv = json.loads(sys.argv[1]), json.loads(sys.argv[2])
rows = [
  ("SYN-ACK (window, options)", "synack", "RFC 9293 3.7.1, RFC 7323 2.2, 3.2"),
  ("SYN-ACK retransmissions, third ACK lost", "synack_rtx", "RFC 9293 3.8.1, RFC 6298 5"),
  ("FIN retransmissions, final ACK lost", "fin_rtx", "RFC 9293 3.6, 3.8.1"),
  ("server closes first", "passive", "RFC 9293 3.6"),
  ("answer to our keepalive probe", "ka_answer", "RFC 9293 3.8.4, 3.10.7.4"),
  ("its keepalive, probes answered", "ka_answering", "RFC 1122 4.2.3.6"),
  ("its keepalive, probes unanswered", "ka_silent", "RFC 1122 4.2.3.6, RFC 9293 3.10.8"),
  ("timestamp clock", "ts_clock", "RFC 7323 5.4"),
  ("ISN clock (one 4-tuple, a second apart)", "isn_clock", "RFC 9293 3.4.1, RFC 6528"),
  ("SYN to a closed port", "closed", "RFC 9293 3.10.7.1"),
  ("TIME_WAIT length (it closed first)", "time_wait", "RFC 9293 3.6 (2 MSL), 3.10.7.4"),
  ("SYN to a full accept queue (lab port 11)", "full_queue", "RFC 9293 3.10.7.2 (none: a resource limit)"),
  ("rules failed", "fails", "tcpprobe's rulebook"),
]
print("| behaviour | Linux %s | gVisor netstack | rule |" % open("/proc/sys/kernel/osrelease").read().strip())
print("|---|---|---|---|")
for name, k, ref in rows:
    print("| %s | %s | %s | %s |" % (name, lx[k], gv[k], ref))
PY
