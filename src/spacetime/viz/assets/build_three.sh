#!/usr/bin/env bash
# Rebuild three.bundle.min.js from the npm registry (needs node + npm; not run by the tests).
#   bash src/spacetime/viz/assets/build_three.sh
# Pinned: three 0.187.0 (MIT, three-LICENSE.txt), esbuild 0.28.2. The bundle is three.js's own
# code, tree-shaken to the exports of three-entry.js and minified; its licence header is kept.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
cp "$here/three-entry.js" "$work/entry.js"
cd "$work"
npm init -y >/dev/null
npm install --silent --no-audit --no-fund three@0.187.0 esbuild@0.28.2
npx esbuild entry.js --bundle --format=iife --global-name=THREE --minify \
  --legal-comments=eof --outfile="$here/three.bundle.min.js"
cp node_modules/three/LICENSE "$here/three-LICENSE.txt"
