#!/usr/bin/env bash
# Re-fetch the QR decoder the door page falls back on where the browser has no
# BarcodeDetector (static/js/checkin.js). It comes from the npm registry, pinned by
# version and checked against the tarball's SHA-256; the page never loads a CDN.
#
#   scripts/vendor_jsqr.sh            # writes static/vendor/jsqr-1.4.0/
#
# Needs npm (any version) and network access to registry.npmjs.org.
set -euo pipefail

VERSION="1.4.0"
SHA256="b5299b37917a1fe7a8cab9dd5cc6b8accf82663add80abe5bf7761a921cc6602"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
TARGET="$ROOT/static/vendor/jsqr-$VERSION"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT

(cd "$work" && npm pack --silent "jsqr@$VERSION" >/dev/null)
tarball="$work/jsqr-$VERSION.tgz"
echo "$SHA256  $tarball" | sha256sum --check --quiet
tar -xzf "$tarball" -C "$work" package/dist/jsQR.js package/LICENSE

mkdir -p "$TARGET"
cp "$work/package/dist/jsQR.js" "$TARGET/jsQR.js"
cp "$work/package/LICENSE" "$TARGET/LICENSE"
cat >"$TARGET/README.md" <<NOTE
jsQR $VERSION (Apache-2.0, see LICENSE), \`dist/jsQR.js\` from the npm tarball
jsqr-$VERSION.tgz (sha256 $SHA256). Fetched by scripts/vendor_jsqr.sh; do not edit.
NOTE
echo "jsQR $VERSION -> ${TARGET#"$ROOT"/}"
