#!/usr/bin/env bash
# The whole test suite: format, vet, unit and privileged lab tests (real
# raw sockets, libpcap, network namespaces), every fuzz target briefly, and
# a check that nothing was left behind. Run as root: ./scripts/test.sh
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/setup.sh
export PATH=$PATH:/usr/local/go/bin
# Safety net: probes may only leave through loopback or lab interfaces.
export TCPPROBE_LAB_ONLY=1

echo "== gofmt"
unformatted=$(gofmt -l $(git ls-files '*.go' 2>/dev/null || find . -name '*.go'))
if [ -n "$unformatted" ]; then
  echo "gofmt would change: $unformatted" >&2
  exit 1
fi
echo "== go vet"
go vet ./...

before_ns=$(ip netns list 2>/dev/null | awk '{print $1}' | sort)
before_tables=$(nft list tables 2>/dev/null | grep -i tcpprobe | sort || true)

echo "== go test"
go test -count=1 -timeout 20m ./... 2>&1 | tee /tmp/tcpprobe-test.log

echo "== fuzz (${FUZZTIME:=5s} each)"
for pkg in $(go list ./...); do
  for f in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "-- $pkg $f"
    go test -run '^$' -fuzz "^$f\$" -fuzztime "$FUZZTIME" "$pkg" >/tmp/tcpprobe-fuzz.log 2>&1 || {
      cat /tmp/tcpprobe-fuzz.log; exit 1; }
  done
done

echo "== leftovers"
left=$(comm -13 <(echo "$before_ns") <(ip netns list 2>/dev/null | awk '{print $1}' | sort) | tr '\n' ' ')
tables=$(comm -13 <(echo "$before_tables") <(nft list tables 2>/dev/null | grep -i tcpprobe | sort || true) | tr '\n' ' ')
procs=$(pgrep -af 'lab serve --name' | grep -v pgrep || true)
if [ -n "${left// /}${tables// /}$procs" ]; then
  echo "tests left behind: $left $tables $procs" >&2
  exit 1
fi
echo "== all passed"
