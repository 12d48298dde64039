#!/bin/sh
# Vendors CodeMirror 5 (MIT) into static/vendor/codemirror-$VERSION/ from its npm package, like htmx: the files are
# committed, nothing is fetched at run time. Re-run after changing VERSION; check the sums it prints into the commit.
set -eu
VERSION=5.65.21
DEST="$(cd "$(dirname "$0")/.." && pwd)/static/vendor/codemirror-$VERSION"
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
(cd "$WORK" && npm pack --silent "codemirror@$VERSION" >/dev/null && tar xzf "codemirror-$VERSION.tgz")
mkdir -p "$DEST"
for f in lib/codemirror.js lib/codemirror.css mode/python/python.js addon/edit/matchbrackets.js LICENSE; do
  cp "$WORK/package/$f" "$DEST/$(basename "$f")"
done
cd "$DEST" && sha256sum ./*
