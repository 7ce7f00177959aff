#!/usr/bin/env bash
# Packages the extension as one VSIX per platform that onnxruntime-node ships binaries for, each
# carrying only its own platform's ONNX Runtime.
#
#   npm run package                 all targets
#   npm run package -- linux-x64    only these targets
#
# Everything except onnxruntime-node is bundled by esbuild (--production: minified, no maps), so
# vsce runs with --no-dependencies in a staging folder per target, where onnxruntime-node (its
# dist/ and bin/napi-v6/<platform>/<arch>/ only) and its runtime dependency onnxruntime-common
# are copied to dist/node_modules/, next to the bundles that require them. (adm-zip and
# global-agent, its other dependencies, serve only its install script, which a VSIX never runs.)
# Output: .cache/vsix/onnx-pruner-<target>-<version>.vsix (VSIX_OUT overrides the folder). Offline.
set -euo pipefail
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
cd "$ROOT"

ALL=(linux-x64 linux-arm64 darwin-arm64 win32-x64 win32-arm64)
if [ $# -gt 0 ]; then TARGETS=("$@"); else TARGETS=("${ALL[@]}"); fi
OUT="${VSIX_OUT:-$ROOT/.cache/vsix}"
STAGE_ROOT="$ROOT/.cache/vsix-stage"
VERSION="$(node -p "require('./package.json').version")"
ORT="$ROOT/node_modules/onnxruntime-node"
ORT_COMMON="$ROOT/node_modules/onnxruntime-common"
VSCE="$ROOT/node_modules/.bin/vsce"

for f in README.md LICENSE .vscodeignore; do
  [ -f "$f" ] || { echo "package: $f is missing" >&2; exit 1; }
done
[ -x "$VSCE" ] || { echo "package: @vscode/vsce is not installed (npm install)" >&2; exit 1; }

# The production build goes to a folder of its own (the repository's dist/ stays the development
# build the tests and F5 use): esbuild.config.mjs writes to ./dist and reads ./src and ./node_modules.
echo "package: production build"
BUILD="$STAGE_ROOT/build"
rm -rf "$BUILD"
mkdir -p "$BUILD"
ln -s "$ROOT/src" "$BUILD/src"
ln -s "$ROOT/node_modules" "$BUILD/node_modules"
(cd "$BUILD" && { node "$ROOT/esbuild.config.mjs" --production >/dev/null 2>&1 || node "$ROOT/esbuild.config.mjs" --production; })
mkdir -p "$OUT"

for t in "${TARGETS[@]}"; do
  plat="${t%-*}"; arch="${t#*-}"
  bin="$ORT/bin/napi-v6/$plat/$arch"
  [ -d "$bin" ] || { echo "package: no onnxruntime-node binaries for $t ($bin)" >&2; exit 1; }
  stage="$STAGE_ROOT/$t"
  rm -rf "$stage"
  mkdir -p "$stage/dist/node_modules/onnxruntime-node/bin/napi-v6/$plat" "$stage/dist/node_modules/onnxruntime-common" "$stage/media"
  cp package.json README.md LICENSE .vscodeignore "$stage/"
  for f in extension.js worker.js webview.js codicon.css codicon.ttf; do cp "$BUILD/dist/$f" "$stage/dist/"; done
  # Only the images the README shows.
  grep -oE '\(media/[^) ]+\.(png|jpg|gif|svg)' README.md | cut -c2- | sort -u | while read -r img; do
    mkdir -p "$stage/$(dirname "$img")" && cp "$img" "$stage/$img"
  done
  cp "$ORT/package.json" "$stage/dist/node_modules/onnxruntime-node/"
  cp -r "$ORT/dist" "$stage/dist/node_modules/onnxruntime-node/"
  cp -r "$bin" "$stage/dist/node_modules/onnxruntime-node/bin/napi-v6/$plat/"
  cp "$ORT_COMMON/package.json" "$stage/dist/node_modules/onnxruntime-common/"
  mkdir -p "$stage/dist/node_modules/onnxruntime-common/dist"
  cp -r "$ORT_COMMON/dist/cjs" "$stage/dist/node_modules/onnxruntime-common/dist/"
  find "$stage/dist/node_modules" \( -name '*.map' -o -name '*.d.ts' \) -delete
  vsix="$OUT/onnx-pruner-$t-$VERSION.vsix"
  (cd "$stage" && "$VSCE" package --target "$t" --no-dependencies --allow-missing-repository \
      --no-rewrite-relative-links -o "$vsix" >/dev/null)
  printf 'package: %-13s %6.1f MB  %s\n' "$t" "$(du -k "$vsix" | awk '{print $1/1024}')" "${vsix#"$ROOT"/}"
done
