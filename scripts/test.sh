#!/usr/bin/env bash
# The project's test command (`npm test`). Assumes npm dependencies are installed (`npm ci`);
# installs chromium / code-server for the VS Code stages when missing and possible
# (scripts/setup-vscode-test-env.sh). Stages:
#   lint, typecheck, schema and wasm checks (generated files current), build   (each counts as one check)
#   engine tests        node:test   test/engine/*.test.ts
#   extension host      mocha       test/vscode/suite/*.test.ts (VS Code desktop or code-server)
#   webview             node:test   test/webview/*.test.ts (the model view against a fake host, in chromium)
#   UI                  node:test   test/ui/*.test.ts (code-server + Playwright + chromium)
# A stage that cannot run on this machine is skipped with the reason. Ends with one line
# `summary: N passed, M failed, K skipped` and exits non-zero if anything failed.
#
# Environment: ONNX_PRUNER_SKIP_SETUP=1 skips the install step; ONNX_PRUNER_TEST_ELECTRON=0|1
# (see test/vscode/run-extension-tests.ts); TEST_STAGES="lint engine ui ..." runs only those.
set -uo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT="$PWD"
LOGS="$ROOT/.test-artifacts/stage-logs"
mkdir -p "$LOGS"

PASSED=0 FAILED=0 SKIPPED=0
TIMINGS=()
STAGES="${TEST_STAGES:-lint typecheck schema wasm build engine vscode webview ui}"
wants() { [[ " $STAGES " == *" $1 "* ]]; }

header() { printf '\n==== %s ====\n' "$1"; STAGE_START=$(date +%s); }
timing() { TIMINGS+=("$(printf '%-16s %4ss  %s' "$1" "$(( $(date +%s) - STAGE_START ))" "$2")"); }

# A check that counts as one test: passes when the command exits 0.
check() {
  local name=$1; shift
  wants "$name" || return 0
  header "$name: $*"
  if "$@"; then PASSED=$((PASSED + 1)); timing "$name" ok
  else FAILED=$((FAILED + 1)); timing "$name" FAILED; echo "!! $name failed"; fi
}

# Sums node:test's closing counts (spec reporter `ℹ pass N`, TAP `# pass N`) from a log.
count_node_test() {
  local log=$1 rc=$2 p f s c
  p=$(grep -aE '^(ℹ|#) pass [0-9]+' "$log" | awk '{s+=$3} END{print s+0}')
  f=$(grep -aE '^(ℹ|#) fail [0-9]+' "$log" | awk '{s+=$3} END{print s+0}')
  c=$(grep -aE '^(ℹ|#) cancelled [0-9]+' "$log" | awk '{s+=$3} END{print s+0}')
  s=$(grep -aE '^(ℹ|#) (skipped|todo) [0-9]+' "$log" | awk '{s+=$3} END{print s+0}')
  f=$((f + c))
  # A runner that died without counts, or failed with none counted, is one failure.
  if [[ $rc != 0 && $f == 0 ]]; then f=1; fi
  PASSED=$((PASSED + p)); FAILED=$((FAILED + f)); SKIPPED=$((SKIPPED + s))
  STAGE_RESULT="$p passed, $f failed, $s skipped"
}

run_node_tests() {
  local name=$1; shift
  local files=("$@")
  local log="$LOGS/$name.log"
  if ((${#files[@]} == 0)); then
    echo "no test files: nothing to run"; timing "$name" "no tests"; return
  fi
  # UI tests each start a code-server and a browser: one file at a time on small machines.
  local conc=()
  [[ $name == ui ]] && conc=(--test-concurrency=1)
  timeout --kill-after=30 "${STAGE_LIMIT:-1800}" node --import tsx --test --test-reporter=spec "${conc[@]}" "${files[@]}" 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  count_node_test "$log" "$rc"
  timing "$name" "$STAGE_RESULT"
}

shopt -s nullglob globstar
SUITE_START=$(date +%s)

# Temporary files of this run (test workspaces, code-server run folders) live in one folder,
# removed at the end together with any code-server process group a crashed test left behind.
RUN_TMP=$(mktemp -d "${TMPDIR:-/tmp}/onnx-pruner-test-run.XXXXXX")
export TMPDIR="$RUN_TMP"
cleanup() {
  local f
  for f in "$RUN_TMP"/onnx-pruner-*/pgid; do
    kill -KILL -- "-$(cat "$f")" 2>/dev/null && echo "cleanup: killed leftover process group $(cat "$f")"
  done
  rm -rf "$RUN_TMP"
}
trap cleanup EXIT

# ---- static checks and build -----------------------------------------------------------------
check lint npx eslint .
check typecheck npx tsc -p . --noEmit
check schema npm run --silent gen:schema -- --check
check wasm npm run --silent gen:wasm -- --check
BUILD_OK=1
if wants build; then
  header "build: npm run build + node scripts/build-tests.mjs"
  if npm run --silent build && node scripts/build-tests.mjs; then PASSED=$((PASSED + 1)); timing build ok
  else FAILED=$((FAILED + 1)); BUILD_OK=0; timing build FAILED; echo "!! build failed"; fi
fi

# ---- engine tests ----------------------------------------------------------------------------
if wants engine; then
  header "engine tests: test/engine/*.test.ts"
  run_node_tests engine test/engine/**/*.test.ts
fi

# ---- VS Code environment ---------------------------------------------------------------------
VSCODE_SKIP=""
if wants vscode || wants webview || wants ui; then
  if [[ $BUILD_OK == 0 ]]; then
    VSCODE_SKIP="the build failed"
  elif [[ "${ONNX_PRUNER_SKIP_SETUP:-}" != 1 ]]; then
    header "VS Code test environment: scripts/setup-vscode-test-env.sh"
    bash scripts/setup-vscode-test-env.sh || echo "setup incomplete: stages that need it will say why they skip"
    timing setup done
  fi
fi

# ---- extension-host mocha suite --------------------------------------------------------------
if wants vscode; then
  header "extension-host tests: test/vscode/suite/*.test.ts"
  if [[ -n $VSCODE_SKIP ]]; then
    echo "skipped: $VSCODE_SKIP"; SKIPPED=$((SKIPPED + 1)); timing vscode "skipped ($VSCODE_SKIP)"
  else
    log="$LOGS/vscode.log"
    timeout --kill-after=30 1200 node --import tsx test/vscode/run-extension-tests.ts 2>&1 | tee "$log"
    rc=${PIPESTATUS[0]}
    line=$(grep -aE '^extension-host \([^)]*\): [0-9]+ passed, [0-9]+ failed, [0-9]+ skipped$' "$log" | tail -1)
    if [[ $rc == 3 ]]; then
      SKIPPED=$((SKIPPED + 1)); timing vscode "skipped"
    elif [[ -n $line ]]; then
      read -r p f s < <(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) skipped/\1 \2 \3/' <<<"$line")
      if [[ $rc != 0 && $f == 0 ]]; then f=1; fi
      PASSED=$((PASSED + p)); FAILED=$((FAILED + f)); SKIPPED=$((SKIPPED + s))
      timing vscode "$p passed, $f failed, $s skipped"
    else
      FAILED=$((FAILED + 1)); timing vscode "FAILED (no result line, exit $rc)"
    fi
  fi
fi

# ---- webview tests (the model view in chromium, fed by the preview harness's fake host) -------
if wants webview; then
  header "webview tests: test/webview/*.test.ts (chromium)"
  # Each test file skips itself, with the reason, when chromium is missing.
  run_node_tests webview test/webview/**/*.test.ts
fi

# ---- UI tests --------------------------------------------------------------------------------
if wants ui; then
  header "UI tests: test/ui/*.test.ts (code-server + chromium)"
  files=(test/ui/**/*.test.ts)
  if [[ -n $VSCODE_SKIP ]]; then
    echo "skipped: $VSCODE_SKIP"; SKIPPED=$((SKIPPED + ${#files[@]})); timing ui "skipped ($VSCODE_SKIP)"
  else
    # Each test skips itself, with the reason, when code-server or chromium is missing.
    run_node_tests ui "${files[@]}"
  fi
fi

printf '\n==== stage timings ====\n'
printf '%s\n' "${TIMINGS[@]}"
printf 'total            %4ss\n\n' "$(( $(date +%s) - SUITE_START ))"
echo "summary: $PASSED passed, $FAILED failed, $SKIPPED skipped"
[[ $FAILED == 0 ]]
