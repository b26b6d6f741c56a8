#!/usr/bin/env bash
# The browser tests drive Debian's Chromium at /usr/bin/chromium through Playwright
# (never a browser downloaded by `playwright install`). Install it when missing: with
# apt-get as root, otherwise print the exact command and stop.
set -euo pipefail
browser=/usr/bin/chromium
if [ -x "$browser" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "The browser tests need Chromium at $browser." >&2
  echo "Install it with your system's package manager, then run make again." >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "The browser tests need Chromium at $browser. Install it with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y chromium" >&2
  exit 1
fi
echo "Installing Chromium for the browser tests"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium
if [ ! -x "$browser" ]; then
  echo "apt-get installed chromium but $browser is still missing." >&2
  exit 1
fi
