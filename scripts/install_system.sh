#!/usr/bin/env bash
# Debian packages the tests and the screenshot scripts need: Chromium, which the dashboard tests drive headless.
set -euo pipefail
command -v chromium >/dev/null && exit 0
if ! command -v apt-get >/dev/null; then
  echo "Chromium is needed for the dashboard tests: install it with your system's package manager" >&2
  exit 1
fi
SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends chromium
