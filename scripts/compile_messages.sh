#!/usr/bin/env bash
# Compile translations when GNU gettext is there; the compiled .mo files are also
# committed, so a machine without gettext still serves French.
set -euo pipefail
python="${1:-python3}"
if command -v msgfmt >/dev/null 2>&1 && [ -d locale ]; then
  # compilemessages reads settings but never connects: any well-formed URL will do.
  DEBUG=1 DATABASE_URL="${DATABASE_URL:-postgres://unused@127.0.0.1/unused}" \
    "$python" manage.py compilemessages --ignore=.venv -v 0
fi
