#!/usr/bin/env bash
# Installs what tcpprobe needs to build, run its lab and run its tests on a
# fresh Debian machine: libpcap (capture), nftables (lab firewall rules),
# tshark (independent decoder in tests), iproute2 (namespaces, veth),
# ethtool (lab checksum offload off), socat and nginx (third-party peers),
# procps. Go itself must be on PATH (/usr/local/go/bin is tried).
set -euo pipefail
packages=(libpcap-dev nftables tshark iproute2 ethtool socat nginx-light procps gcc)
missing=()
for p in "${packages[@]}"; do
  dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  if [ "$(id -u)" -ne 0 ]; then
    echo "setup: need root to install: ${missing[*]}" >&2
    exit 4
  fi
  echo "setup: installing ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if ! command -v go >/dev/null 2>&1; then
  if [ -x /usr/local/go/bin/go ]; then
    export PATH=$PATH:/usr/local/go/bin
  else
    echo "setup: go is not installed (https://go.dev/dl)" >&2
    exit 4
  fi
fi
