#!/usr/bin/env bash
# Installs what is missing, and nothing else: npm packages, and nats-server from apt.
# Serialised by a lock: the Quickstart starts `make run`, `make tail` and `make send` in
# three terminals at once, and concurrent `npm ci` runs delete each other's node_modules.
set -euo pipefail
cd "$(dirname "$0")/.."

if command -v flock >/dev/null 2>&1 && [ -z "${ENGAGE_GATEWAY_SETUP_LOCKED:-}" ]; then
  exec 9>".setup.lock"
  if ! flock -n 9; then
    echo "setup: another set-up is running; waiting for it"
    flock 9
  fi
  export ENGAGE_GATEWAY_SETUP_LOCKED=1
fi

if ! command -v nats-server >/dev/null 2>&1 && [ ! -x /usr/sbin/nats-server ]; then
  echo "setup: installing nats-server (apt)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq nats-server >/dev/null
  # The Debian package enables a system service; the gateway runs its own server.
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now nats-server >/dev/null 2>&1 || true; fi
fi

# Chromium drives the console's browser tests (through npm playwright-core, which downloads no browser).
if [ ! -x /usr/bin/chromium ]; then
  echo "setup: installing chromium (apt)"
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq || true
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

# Reinstall when package-lock.json is newer than the installed tree.
if [ ! -d node_modules ] || [ package-lock.json -nt node_modules/.package-lock.json ]; then
  echo "setup: installing npm packages"
  npm ci --no-audit --no-fund --loglevel=error
fi

# With "build", also compile, unless dist/ is newer than every source (tsc takes about
# 9 s, and `make tail` or `make send` should not pay it each time). Under the same lock,
# so two terminals never compile into dist/ at once.
if [ "${1:-}" = "build" ]; then
  stamp=dist/.build-stamp
  if [ -f "$stamp" ] && [ -z "$(find src package-lock.json tsconfig.json tsconfig.build.json -newer "$stamp" -print -quit 2>/dev/null)" ]; then
    exit 0
  fi
  echo "setup: compiling (npm run build)"
  touch "$stamp.next" 2>/dev/null || { mkdir -p dist && touch "$stamp.next"; }
  npm run build --silent
  # The stamp takes the time the build started: a source saved during the build is newer.
  mv "$stamp.next" "$stamp"
fi
