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

/** Whether Node `v` ([major, minor, patch]) satisfies an npm `engines` range (the forms package-lock holds: >=, >, <=, <, ^, ~, x, *, ||, spaces). */
function satisfies(v: readonly number[], range: string): boolean {
  const cmp = (a: readonly number[], b: readonly number[]) => a[0]! - b[0]! || a[1]! - b[1]! || a[2]! - b[2]!;
  const parse = (s: string) => {
    const p = s.replace(/^v/, '').split('.');
    return { v: [0, 1, 2].map((i) => (p[i] === undefined || /^[x*]$/i.test(p[i]!) ? 0 : Number(p[i]))), given: p.filter((x) => !/^[x*]$/i.test(x)).length };
  };
  const one = (c: string): boolean => {
    const m = /^(>=|<=|>|<|\^|~|=)?\s*(.*)$/.exec(c.trim())!;
    if (m[2] === '*' || m[2] === '') return true;
    const { v: w, given } = parse(m[2]!);
    const next = (n: number) => (n === 0 ? [w[0]! + 1, 0, 0] : n === 1 ? [w[0]!, w[1]! + 1, 0] : [w[0]!, w[1]!, w[2]! + 1]);
    switch (m[1]) {
      case '>=': return cmp(v, w) >= 0;
      case '>': return cmp(v, w) > 0;
      case '<=': return cmp(v, w) <= 0;
      case '<': return cmp(v, w) < 0;
      case '^': return cmp(v, w) >= 0 && cmp(v, next(w[0]! > 0 || given === 1 ? 0 : w[1]! > 0 || given === 2 ? 1 : 2)) < 0;
      case '~': return cmp(v, w) >= 0 && cmp(v, next(given === 1 ? 0 : 1)) < 0;
      default: return cmp(v, w) >= 0 && cmp(v, next(given - 1)) < 0;
    }
  };
  return range.split('||').some((alt) => alt.trim().replace(/(>=|<=|>|<|\^|~|=)\s+/g, '$1').split(/\s+/).every(one));
}

describe('the Node version the README states', () => {
  test('every package npm ci installs supports the minimum Node of package.json, and the README states it', () => {
    const pkg = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { engines: { node: string } };
    const min = /^>=\s*(\d+)\.(\d+)(?:\.(\d+))?$/.exec(pkg.engines.node);
    assert.ok(min, `engines.node is a minimum: ${pkg.engines.node}`);
    const v = [Number(min[1]), Number(min[2]), Number(min[3] ?? 0)];
    // the checker itself
    assert.equal(satisfies([20, 19, 0], '^20.19.0 || ^22.13.0 || >=24'), true);
    assert.equal(satisfies([20, 18, 0], '^20.19.0 || ^22.13.0 || >=24'), false);
    assert.equal(satisfies([20, 19, 0], '20 || >=22'), true);
    assert.equal(satisfies([20, 19, 0], '>=22.0.0'), false);
    assert.equal(satisfies([20, 19, 0], '>=16 || 14 >=14.17'), true);
    assert.equal(satisfies([20, 19, 0], '>=0.6.11 <=0.7.0 || >=0.7.3'), true);
    const lock = JSON.parse(fs.readFileSync(path.join(repoRoot, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: { node?: string } | string[] }> };
    const bad = Object.entries(lock.packages)
      .filter(([, p]) => p.engines && !Array.isArray(p.engines) && p.engines.node && !satisfies(v, p.engines.node))
      .map(([k, p]) => `${k.replace(/^.*node_modules\//, '')} (${(p.engines as { node: string }).node})`);
    assert.deepEqual(bad, [], `packages that need more than Node ${v.join('.')}`);
    const readme = fs.readFileSync(path.join(repoRoot, 'README.md'), 'utf8');
    assert.match(readme, new RegExp(`Requirements: Node\\.js ${min[1]}\\.${min[2]} or newer`));
  });
});
