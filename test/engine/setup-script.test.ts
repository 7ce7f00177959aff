// `npm run setup:vscode-test` installs chromium with apt: when another apt or dpkg process holds
// apt's lock it waits for it (bounded by ONNX_PRUNER_APT_LOCK_WAIT seconds) and says so, instead of
// failing at once. Tested on the script's own apt_get with a stand-in apt-get on the PATH.
import * as assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { after, describe, test } from 'node:test';
import { repoRoot, tempDir } from '../helpers/paths.ts';

const script = path.join(repoRoot, 'scripts', 'setup-vscode-test-env.sh');

describe('setup script: apt lock', { skip: process.platform === 'win32' ? 'bash script' : false }, () => {
  const dir = tempDir();
  after(() => fs.rmSync(dir, { recursive: true, force: true }));

  /** Runs the script's apt_get with an apt-get that fails `lockedCalls` times (lock held, or `failure`), then succeeds. */
  function aptGet(lockedCalls: number, env: Record<string, string> = {}, failure = 'E: Could not get lock /var/lib/dpkg/lock-frontend. It is held by process 4242 (unattended-upgr)') {
    const bin = fs.mkdtempSync(path.join(dir, 'bin-'));
    const calls = path.join(bin, 'calls');
    fs.writeFileSync(path.join(bin, 'apt-get'), `#!/usr/bin/env bash
echo "$*" >> "${calls}"
n=$(wc -l < "${calls}")
if (( n <= ${lockedCalls} )); then echo "${failure}" >&2; exit 100; fi
echo "installed"
`, { mode: 0o755 });
    // as_root runs the command as it is (the stand-in needs no root)
    const r = spawnSync('bash', ['-c', `source "${script}"; as_root() { "$@"; }; apt_get install -y chromium`], {
      encoding: 'utf8',
      env: { ...process.env, PATH: `${bin}:${process.env.PATH}`, ONNX_PRUNER_SETUP_DEFINE_ONLY: '1', ...env },
    });
    return { status: r.status, stdout: r.stdout, stderr: r.stderr, calls: fs.existsSync(calls) ? fs.readFileSync(calls, 'utf8').trim().split('\n') : [] };
  }

  test('a lock held by another apt process: waits for it, saying so and for how long at most, then installs', () => {
    const r = aptGet(1);
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.calls.length, 2, 'tried again once the lock was free');
    assert.match(r.calls[0]!, /-o DPkg::Lock::Timeout=10 install -y chromium/);
    assert.match(r.stdout, /setup: another apt process holds the lock \(held by process 4242 \(unattended-upgr\)\): waiting for it, at most 300 s/);
  });

  test('the wait is bounded: past ONNX_PRUNER_APT_LOCK_WAIT it fails, saying the lock was still held', () => {
    const r = aptGet(5, { ONNX_PRUNER_APT_LOCK_WAIT: '0' });
    assert.equal(r.status, 1);
    assert.equal(r.calls.length, 1);
    assert.match(r.stderr, /apt's lock was still held after 0 s \(ONNX_PRUNER_APT_LOCK_WAIT sets the wait\)/);
  });

  test('another failure is not waited on', () => {
    const r = aptGet(5, {}, 'E: Unable to locate package chromium');
    assert.equal(r.status, 1);
    assert.equal(r.calls.length, 1);
    assert.doesNotMatch(r.stdout + r.stderr, /waiting|still held/);
    assert.match(r.stderr, /Unable to locate package chromium/);
  });
});
