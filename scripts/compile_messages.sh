#!/usr/bin/env bash
# Compile translations when GNU gettext is there; the compiled .mo files are also
# committed, so a machine without gettext still serves French.
set -euo pipefail
python="${1:-python3}"
if command -v msgfmt >/dev/null 2>&1 && [ -d locale ]; then
  DEBUG=1 "$python" manage.py compilemessages --ignore=.venv -v 0
fi
