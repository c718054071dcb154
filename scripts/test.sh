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

# Logs go to a fresh directory; what existed before the run (a lab the
# user has up, say) is not counted as left behind.
logs=$(mktemp -d -t tcpprobe-test.XXXXXX)
trap 'rm -rf "$logs"' EXIT
before_ns=$(ip netns list 2>/dev/null | awk '{print $1}' | sort)
before_tables=$(nft list tables 2>/dev/null | grep -i tcpprobe | sort || true)
before_procs=$(pgrep -f 'lab serve --name|tcpprobe-netstack --iface' | sort || true)

echo "== go test"
go test -count=1 -timeout 20m ./... 2>&1 | tee "$logs/test.log"

# Go 1.26's fuzz coordinator can end a -fuzztime run with a bare "context
# deadline exceeded" when a worker is slow to stop on a loaded machine
# (golang/go#75804, fixed in Go 1.27). That, with no failing input written,
# is run once more; a real finding always writes its input and fails at once.
fuzz_one() { # package, target
  local try
  for try in 1 2; do
    go test -run '^$' -fuzz "^$2\$" -fuzztime "$FUZZTIME" "$1" >"$logs/fuzz.log" 2>&1 && return 0
    if grep -q 'Failing input written' "$logs/fuzz.log" || ! grep -q 'context deadline exceeded' "$logs/fuzz.log"; then
      break
    fi
    echo "   (fuzz coordinator deadline race, golang/go#75804: once more)"
  done
  cat "$logs/fuzz.log"
  return 1
}
echo "== fuzz (${FUZZTIME:=5s} each)"
for pkg in $(go list ./...); do
  for f in $(go test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true); do
    echo "-- $pkg $f"
    fuzz_one "$pkg" "$f" || exit 1
  done
done

echo "== leftovers"
left=$(comm -13 <(echo "$before_ns") <(ip netns list 2>/dev/null | awk '{print $1}' | sort) | tr '\n' ' ')
tables=$(comm -13 <(echo "$before_tables") <(nft list tables 2>/dev/null | grep -i tcpprobe | sort || true) | tr '\n' ' ')
procs=$(comm -13 <(echo "$before_procs") <(pgrep -f 'lab serve --name|tcpprobe-netstack --iface' | sort || true) | tr '\n' ' ')
if [ -n "${left// /}${tables// /}${procs// /}" ]; then
  echo "tests left behind: $left $tables $procs" >&2
  exit 1
fi
echo "== all passed"
