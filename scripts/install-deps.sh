#!/usr/bin/env bash
# Installs what the build and the tests need on Debian 12: the C libraries and tools
# from Debian, Node.js 20 or newer, and the test tooling from npm (pinned by
# package-lock.json). Quiet unless something fails; then it prints what the installer
# said and the fix. Checks versions instead of trusting whatever is on PATH.
set -euo pipefail
cd "$(dirname "$0")/.."

NODE_MAJOR_MIN=20
pkgs=(build-essential cmake pkg-config clang clang-format libclang-rt-14-dev
      libcurl4-openssl-dev libssl-dev libnghttp2-dev libjansson-dev
      libsnappy-dev libzstd-dev libcmocka-dev valgrind ca-certificates
      nodejs npm podman crun runc debootstrap)

SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: run as root or install sudo" >&2; exit 1; }
  SUDO=sudo
fi
log=$(mktemp "${TMPDIR:-/tmp}/install-deps.XXXXXX")
trap 'rm -f "$log"' EXIT

# quietly CMD...: runs CMD with its output kept in the log, shown only if it fails.
quietly() {
  if ! "$@" >"$log" 2>&1; then
    echo "install-deps: '$*' failed:" >&2
    tail -40 "$log" >&2
    exit 1
  fi
}

node_major() { node -p 'process.versions.node.split(".")[0]' 2>/dev/null || echo 0; }

# nodejs and npm may come from elsewhere (nodesource, nvm): take them when new enough.
if command -v node >/dev/null && command -v npm >/dev/null && [ "$(node_major)" -ge "$NODE_MAJOR_MIN" ]; then
  tmp=(); for p in "${pkgs[@]}"; do [[ $p == nodejs || $p == npm ]] || tmp+=("$p"); done
  pkgs=("${tmp[@]}")
fi
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  echo "== install-deps: apt-get install ${missing[*]}"
  quietly $SUDO apt-get update
  quietly $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}"
fi

# Debian 12 ships Node 18, on which @azure/storage-blob fails (no global crypto) and
# node:test lacks --test-timeout. The npm registry's `node` package brings a newer one.
if [ "$(node_major)" -lt "$NODE_MAJOR_MIN" ]; then
  echo "== install-deps: Node $(node --version 2>/dev/null || echo none) is too old; npm install -g node@$NODE_MAJOR_MIN"
  (cd / && quietly $SUDO npm install -g --no-audit --no-fund "node@$NODE_MAJOR_MIN")
  hash -r
fi
if [ "$(node_major)" -lt "$NODE_MAJOR_MIN" ]; then
  echo "install-deps: node $(node --version 2>/dev/null || echo 'not found') at $(command -v node || echo '-') is older" \
    "than $NODE_MAJOR_MIN. Fix: sudo npm install -g node@$NODE_MAJOR_MIN (puts it in /usr/local/bin, which must come" \
    "before /usr/bin on PATH), or install Node $NODE_MAJOR_MIN+ from https://nodejs.org" >&2
  exit 1
fi

# Versions the build relies on, checked rather than assumed.
cmake_ver=$(cmake --version | sed -n '1s/[^0-9]*\([0-9][0-9.]*\).*/\1/p')
if [ "$(printf '%s\n3.18\n' "$cmake_ver" | sort -V | head -1)" != 3.18 ]; then
  echo "install-deps: cmake $cmake_ver is older than 3.18 (Debian 12 has 3.25)" >&2
  exit 1
fi
if ! ls /usr/lib/llvm-*/lib/clang/*/lib/linux/libclang_rt.ubsan_standalone-*.a >/dev/null 2>&1; then
  echo "install-deps: clang's sanitizer runtimes are missing (fuzz targets cannot link)." \
    "Fix: sudo apt-get install libclang-rt-14-dev" >&2
  exit 1
fi

# engine-strict in .npmrc makes a too-old Node an error in npm ci, not a warning.
if [ -f package-lock.json ]; then
  if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
    echo "== install-deps: npm ci (node $(node --version), npm $(npm --version))"
    quietly npm ci --no-audit --no-fund
  fi
fi
