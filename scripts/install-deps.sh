#!/usr/bin/env bash
# install-deps.sh: installs every Debian package kvidx needs to build, run, test,
# benchmark and fuzz. Idempotent: packages already installed are skipped, and
# apt is not touched at all when nothing is missing. Run as root (or with sudo)
# on Debian 12. This is the ONE place where the project's dependencies are named.
set -euo pipefail

PACKAGES=(
  # build
  build-essential cmake pkg-config git clang libclang-rt-14-dev clang-format
  # libraries linked by libkvidx and its tools
  libzmq3-dev libmsgpack-dev libssl-dev libxxhash-dev libjansson-dev
  libpcre2-dev libutf8proc-dev libhiredis-dev libmicrohttpd-dev
  libcurl4-openssl-dev
  # services and test oracles
  redis-server python3 python3-msgpack python3-zmq python3-cbor2 python3-xxhash
  python3-yaml
  nodejs npm curl ca-certificates
  # benchmarks
  wrk
)

missing=()
for p in "${PACKAGES[@]}"; do
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed"; then
    missing+=("$p")
  fi
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "install-deps: all ${#PACKAGES[@]} packages already installed"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
# node and npm may already be present from another source (e.g. a preinstalled
# Node.js); do not fight it.
if command -v node >/dev/null 2>&1 && command -v npm >/dev/null 2>&1; then
  filtered=()
  for p in "${missing[@]}"; do
    case "$p" in nodejs|npm) ;; *) filtered+=("$p") ;; esac
  done
  missing=("${filtered[@]}")
  [ ${#missing[@]} -eq 0 ] && { echo "install-deps: nothing missing"; exit 0; }
fi
echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}"
# The packaged redis-server starts a system instance on port 6379; tests start
# their own servers on free ports, so the system one is left as the package
# configured it.
echo "install-deps: done"
