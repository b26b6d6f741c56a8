#!/usr/bin/env bash
# WeasyPrint (PDF tickets) needs Pango and HarfBuzz from the system. Install them when
# missing: with apt-get as root, otherwise print the exact command and stop.
# With --test, also the suite's own tools: poppler-utils (pdftoppm turns a ticket PDF
# into the page image whose QR code the tests scan).
set -euo pipefail
packages="libpango-1.0-0 libpangoft2-1.0-0 libharfbuzz0b libharfbuzz-subset0 fonts-dejavu-core"
# HarfBuzz's subsetter too: without it WeasyPrint falls back to fontTools, which spent
# ~90 % of a 1-ticket PDF's CPU subsetting the fonts (bench/README.md, Tickets).
missing=""
if ! { ldconfig -p 2>/dev/null | grep -q 'libpango-1.0.so' \
   && ldconfig -p 2>/dev/null | grep -q 'libpangoft2-1.0.so' \
   && ldconfig -p 2>/dev/null | grep -q 'libharfbuzz-subset.so'; }; then
  missing="$packages"
fi
if [ "${1:-}" = "--test" ] && ! command -v pdftoppm >/dev/null 2>&1; then
  missing="$missing poppler-utils"
fi
if [ -z "$missing" ]; then
  exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
  echo "Missing system packages: $missing" >&2
  echo "WeasyPrint needs Pango (libpango-1.0, libpangoft2-1.0) and HarfBuzz (with hb-subset);" >&2
  echo "the tests need pdftoppm (poppler). Install them with your system's package manager." >&2
  exit 1
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "System packages are missing. Install them with:" >&2
  echo "  sudo apt-get update && sudo apt-get install -y$missing" >&2
  exit 1
fi
echo "Installing system packages:$missing"
apt-get update -qq
DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $missing
