#!/usr/bin/env bash
# WeasyPrint (PDF tickets) needs Pango and HarfBuzz from the system. Install them when
# missing: with apt-get as root, otherwise print the exact command and stop.
set -euo pipefail
packages="libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-dejavu-core"
# HarfBuzz's subsetter too: without it WeasyPrint falls back to fontTools, which spent
# ~90 % of a 1-ticket PDF's CPU subsetting the fonts (bench/README.md, Tickets).
if ldconfig -p 2>/dev/null | grep -q 'libpango-1.0.so' \
   && ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so' \
   && ldconfig -p 2>/dev/null | grep -q 'libharfbuzz-subset.so'; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "WeasyPrint needs Pango (libpango-1.0, libpangoft2-1.0) and HarfBuzz (with hb-subset)." >&2
  echo "Install them with your system's package manager, then run make again." >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "WeasyPrint's system libraries are missing. Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y $packages" >&2
  exit 1
fi
echo "Installing WeasyPrint's system libraries: $packages"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $packages
