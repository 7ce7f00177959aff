#!/usr/bin/env bash
# Prepares what the VS Code tests need, idempotently and quickly when already in place:
#   - Debian's chromium (and the build headers code-server's native modules need) through apt,
#     when missing and apt can be used (root, or sudo without a password);
#   - code-server (a real VS Code server with a Node extension host) installed from the npm
#     registry into .cache/code-server/ of the repository, not as a dependency of the extension.
#
# code-server's @vscode/ripgrep postinstall downloads a binary from outside the npm registry;
# its download cache is seeded with Debian's `rg` first so the install works offline.
#
# Exit status: 0 when both chromium and code-server are usable, 1 otherwise (the test command
# then skips the stages that need them, saying why). `--quiet` prints only problems.
set -uo pipefail

CODE_SERVER_VERSION="${ONNX_PRUNER_CODE_SERVER_VERSION:-4.100.3}"
# The @vscode/ripgrep version code-server 4.100.3 depends on, and the binary name it fetches.
RIPGREP_PKG_VERSION="1.15.11"
RIPGREP_ASSET="ripgrep-v13.0.0-10-x86_64-unknown-linux-musl.tar.gz"

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
CACHE="$ROOT/.cache/code-server"
BIN="$CACHE/node_modules/.bin/code-server"
QUIET=0
[[ "${1:-}" == "--quiet" ]] && QUIET=1

say() { [[ $QUIET == 1 ]] || echo "setup: $*"; }
warn() { echo "setup: $*" >&2; }

as_root() {
  if [[ $(id -u) == 0 ]]; then "$@"
  elif command -v sudo >/dev/null && sudo -n true 2>/dev/null; then sudo -n "$@"
  else return 1
  fi
}

# Another apt or dpkg process (unattended-upgrades, a package manager) may hold apt's lock: wait
# for it, at most ONNX_PRUNER_APT_LOCK_WAIT seconds (default 300), saying so, instead of failing.
APT_LOCK_WAIT="${ONNX_PRUNER_APT_LOCK_WAIT:-300}"
apt_get() {
  local waited=0 out
  for (( ; ; )); do
    out=$(as_root env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=10 "$@" 2>&1) && return 0
    if grep -qiE 'could not get lock|unable to acquire|is held by process' <<<"$out" && (( waited < APT_LOCK_WAIT )); then
      (( waited == 0 )) && say "another apt process holds the lock ($(grep -oiE 'held by process [0-9]+( \([^)]*\))?' <<<"$out" | head -1 || echo 'apt/dpkg')): waiting for it, at most ${APT_LOCK_WAIT} s"
      sleep 10
      (( waited += 20 ))
      continue
    fi
    (( waited >= APT_LOCK_WAIT )) && warn "apt's lock was still held after ${APT_LOCK_WAIT} s (ONNX_PRUNER_APT_LOCK_WAIT sets the wait)"
    [[ $QUIET == 1 ]] || tail -3 <<<"$out" >&2
    return 1
  done
}

apt_updated=0
apt_install() {
  command -v apt-get >/dev/null || { warn "apt-get not available: cannot install $*"; return 1; }
  as_root true || { warn "cannot install $* with apt: not root, and sudo needs a password"; return 1; }
  if [[ $apt_updated == 0 ]]; then
    apt_get update -qq || { warn "apt-get update failed"; return 1; }
    apt_updated=1
  fi
  say "apt-get install $*"
  apt_get install -y -qq --no-install-recommends "$@"
}

# Sourced with ONNX_PRUNER_SETUP_DEFINE_ONLY=1 (the tests of apt_get): the functions above, nothing run.
[[ "${ONNX_PRUNER_SETUP_DEFINE_ONLY:-}" == 1 ]] && return 0

status=0

# ---- chromium --------------------------------------------------------------------------------
if [[ -n "${ONNX_PRUNER_CHROMIUM:-}" && -x "${ONNX_PRUNER_CHROMIUM}" ]]; then
  say "chromium: $ONNX_PRUNER_CHROMIUM"
elif command -v chromium >/dev/null; then
  say "chromium: $(command -v chromium)"
else
  apt_install chromium || true
  if command -v chromium >/dev/null; then say "chromium installed"; else warn "chromium unavailable"; status=1; fi
fi

# ---- code-server -----------------------------------------------------------------------------
installed_version() {
  node -e 'try{console.log(require(process.argv[1]).version)}catch{}' "$CACHE/node_modules/code-server/package.json" 2>/dev/null
}

if [[ -x "$BIN" && "$(installed_version)" == "$CODE_SERVER_VERSION" && -f "$CACHE/.complete" ]]; then
  say "code-server $CODE_SERVER_VERSION: $BIN"
else
  # Build dependencies of code-server's native modules (kerberos, native-keymap, keytar, ...),
  # and Debian's ripgrep to seed @vscode/ripgrep's download cache.
  missing=()
  command -v rg >/dev/null || missing+=(ripgrep)
  command -v pkg-config >/dev/null || missing+=(pkg-config)
  for h in /usr/include/krb5.h /usr/include/X11/extensions/XKBfile.h /usr/include/libsecret-1/libsecret/secret.h /usr/include/X11/Xlib.h; do
    [[ -e $h ]] || { missing+=(libkrb5-dev libxkbfile-dev libsecret-1-dev libx11-dev); break; }
  done
  if ((${#missing[@]})); then apt_install "${missing[@]}" || warn "could not install ${missing[*]}"; fi

  if ! command -v rg >/dev/null; then
    warn "ripgrep (rg) unavailable: cannot seed @vscode/ripgrep's cache, code-server install not attempted"
    status=1
  else
    say "installing code-server $CODE_SERVER_VERSION into $CACHE (a few minutes)"
    start=$(date +%s)
    rm -rf "$CACHE"
    mkdir -p "$CACHE/tmp"
    seed="$CACHE/tmp/vscode-ripgrep-cache-$RIPGREP_PKG_VERSION"
    mkdir -p "$seed"
    cp "$(command -v rg)" "$CACHE/tmp/rg"
    tar -czf "$seed/$RIPGREP_ASSET" -C "$CACHE/tmp" rg
    echo '{"name":"onnx-pruner-code-server-cache","private":true}' > "$CACHE/package.json"
    log="$CACHE/install.log"
    if (cd "$CACHE" && TMPDIR="$CACHE/tmp" npm_config_unsafe_perm=true npm_config_yes=true \
          npm_config_fund=false npm_config_audit=false npm_config_update_notifier=false \
          npm install --no-save --no-package-lock "code-server@$CODE_SERVER_VERSION" >"$log" 2>&1) \
       && [[ -x "$BIN" ]] && "$BIN" --version >/dev/null 2>&1; then
      touch "$CACHE/.complete"
      say "code-server installed in $(( $(date +%s) - start )) s"
    else
      warn "code-server install failed; last lines of $log:"
      tail -n 20 "$log" >&2
      status=1
    fi
    rm -rf "$CACHE/tmp"
  fi
fi

exit $status
