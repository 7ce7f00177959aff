#!/usr/bin/env bash
# `npm start`: builds the extension and opens the sample model in VS Code with the extension
# loaded from source. With a desktop `code` on PATH it uses that; otherwise it serves VS Code
# through code-server (installed into .cache/code-server/ on first use) and prints the URL to
# open in a browser, running until Ctrl-C.
#   PORT=8080 npm start      fixed port (default 8080, or the next free one)
#   HOST=0.0.0.0 npm start   listen beyond loopback (no password: only on a trusted network)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
MODEL="$ROOT/samples/fmnist/fmnist_bncnn_sparse_bn.onnx"

npm run --silent build

if command -v code >/dev/null && [[ -z "${ONNX_PRUNER_USE_CODE_SERVER:-}" ]] && code --version >/dev/null 2>&1; then
  echo "Opening $MODEL in VS Code with the extension loaded from $ROOT"
  exec code --extensionDevelopmentPath="$ROOT" "$ROOT/samples/fmnist" "$MODEL"
fi

# code-server only: chromium is not needed to serve the workbench.
BIN="$ROOT/.cache/code-server/node_modules/.bin/code-server"
if [[ ! -x $BIN || ! -f "$ROOT/.cache/code-server/.complete" ]]; then
  ONNX_PRUNER_CHROMIUM=/bin/true bash scripts/setup-vscode-test-env.sh || true
fi
[[ -x $BIN ]] || { echo "code-server could not be installed (see .cache/code-server/install.log)" >&2; exit 1; }

HOST="${HOST:-127.0.0.1}"
PORT="${PORT:-8080}"
while (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; do PORT=$((PORT + 1)); done

# code-server keeps its own state beside the build, not in the user's home.
STATE="$ROOT/.cache/code-server-state"
mkdir -p "$STATE/data/User" "$STATE/ext" "$STATE/config" "$STATE/xdg-data" "$STATE/xdg-cache" "$STATE/tmp"
[[ -f "$STATE/data/User/settings.json" ]] || cat > "$STATE/data/User/settings.json" <<'JSON'
{
  "workbench.startupEditor": "none",
  "security.workspace.trust.enabled": false,
  "update.mode": "none",
  "telemetry.telemetryLevel": "off",
  "extensions.autoCheckUpdates": false
}
JSON
printf 'bind-addr: %s:%s\nauth: none\ncert: false\n' "$HOST" "$PORT" > "$STATE/config.yaml"

WORKSPACE="$ROOT/samples/fmnist"
enc() { node -e 'process.stdout.write(encodeURIComponent(process.argv[1]))' "$1"; }
PAYLOAD="[[\"extensionDevelopmentPath\",\"vscode-remote://$HOST:$PORT$ROOT\"],[\"openFile\",\"vscode-remote://$HOST:$PORT$MODEL\"]]"
URL="http://$HOST:$PORT/?folder=$(enc "$WORKSPACE")&payload=$(enc "$PAYLOAD")"

XDG_CONFIG_HOME="$STATE/config" XDG_DATA_HOME="$STATE/xdg-data" XDG_CACHE_HOME="$STATE/xdg-cache" TMPDIR="$STATE/tmp" \
  setsid "$BIN" --config "$STATE/config.yaml" --bind-addr "$HOST:$PORT" --auth none \
  --user-data-dir "$STATE/data" --extensions-dir "$STATE/ext" \
  --disable-telemetry --disable-update-check --disable-workspace-trust \
  --disable-getting-started-override >"$STATE/code-server.log" 2>&1 &
PGID=$!
trap 'kill -- -$PGID 2>/dev/null; exit 0' INT TERM
trap 'kill -- -$PGID 2>/dev/null' EXIT

for _ in $(seq 1 120); do
  curl -fsS "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break
  kill -0 $PGID 2>/dev/null || { cat "$STATE/code-server.log" >&2; exit 1; }
  sleep 0.5
done

cat <<MSG

ONNX Pruner is running in code-server. Open this URL in a browser:

  $URL

The sample model $(basename "$MODEL") opens with the extension loaded from source
(rebuild with \`npm run build\` and reload the window to pick up changes).
Log: $STATE/code-server.log. Press Ctrl-C to stop.
MSG
wait $PGID
