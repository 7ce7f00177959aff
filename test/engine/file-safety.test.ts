// The file-safety promises, as a user meets them on the command line (real child processes):
// the input model and every file it reads are never written; no existing file is replaced
// without --force (the external-data file and the plan included); concurrent runs never replace
// each other's files and each report describes the file its run wrote; an interrupted run leaves
// no temporary file, and one killed outright has its temporary file removed by the next run;
// plans that would do nothing, or cut layers to their minimum, are not written silently.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawn, spawnSync } from 'node:child_process';
import { pruneModel } from '../../src/engine/prune/prune.ts';
import { loadModel } from '../../src/engine/onnx/model.ts';
import { saveModel } from '../../src/engine/onnx/save.ts';
import { computeCost } from '../../src/engine/graph/cost.ts';
import { Graph } from '../../src/engine/graph/graph.ts';
import { PrunerError } from '../../src/engine/errors.ts';
import { removeStaleTemps } from '../../src/engine/files.ts';
import { ModelBuilder } from '../helpers/modelBuilder.ts';
import { fmnistBn, fmnistFused, repoRoot, tempDir } from '../helpers/paths.ts';

const main = path.join(repoRoot, 'src', 'cli', 'main.ts');
const cliArgs = (args: string[]) => ['--import', 'tsx', main, ...args];

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, cliArgs(args), { cwd: repoRoot, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

/** Starts a CLI run; resolves with its exit code and output. */
function cliAsync(args: string[], onStart?: (child: ReturnType<typeof spawn>) => void): Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, cliArgs(args), { cwd: repoRoot });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('error', reject);
    child.on('close', (code, signal) => resolve({ code, signal, stdout, stderr }));
    onStart?.(child);
  });
}

const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');
const listing = (dir: string) => fs.readdirSync(dir).sort();
const isTemp = (name: string) => /tmp/i.test(name);
const meta = (file: string) => new Map(loadModel(file).proto.metadata_props.map((e) => [e.key, e.value]));
const params = (file: string) => computeCost(new Graph(loadModel(file))).params;

function oneLineError(r: { code: number; stderr: string }, pattern: RegExp): void {
  assert.equal(r.code, 1, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('… ') && !/warning:/i.test(l));
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
  assert.match(lines[0], pattern);
}

function withDir(fn: (dir: string) => Promise<void> | void): () => Promise<void> {
  return async () => {
    const dir = tempDir();
    try {
      await fn(dir);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  };
}

/** The Fashion-MNIST model saved with external data: `<dir>/<name>` + `<dir>/<dataName>`. */
async function externalModel(dir: string, name: string, dataName?: string): Promise<{ model: string; data: string }> {
  const model = path.join(dir, name);
  const r = await saveModel(loadModel(fmnistBn), model, { externalData: true, externalDataName: dataName });
  return { model, data: r.externalDataPath! };
}

describe('file safety: the external-data file (sidecar)', () => {
  test('an existing <out>.data is never overwritten without --force, and never when the input reads it', withDir(async (dir) => {
    // The input a.onnx keeps its weights in m2.onnx.data: --out m2.onnx would write m2.onnx.data.
    const { model, data } = await externalModel(dir, 'a.onnx', 'm2.onnx.data');
    const before = { model: sha(model), data: sha(data) };
    const plan = ['--criterion', 'l1', '--ratio', '0.3'];
    oneLineError(cli(['prune', model, ...plan, '--out', path.join(dir, 'm2.onnx')]), /m2\.onnx\.data.*(reads|read from)/);
    oneLineError(cli(['prune', model, ...plan, '--out', path.join(dir, 'm2.onnx'), '--force']), /m2\.onnx\.data.*(reads|read from)/);
    // The output named as the input's data file, with --force.
    oneLineError(cli(['prune', model, ...plan, '--out', data, '--force']), /m2\.onnx\.data.*(reads|read from)/);
    assert.deepEqual({ model: sha(model), data: sha(data) }, before, 'the input and its data are unchanged');
    assert.deepEqual(listing(dir), ['a.onnx', 'm2.onnx.data']);
    // An unrelated x.onnx.data: refused without --force, replaced with it.
    fs.writeFileSync(path.join(dir, 'x.onnx.data'), 'precious');
    oneLineError(cli(['prune', model, ...plan, '--out', path.join(dir, 'x.onnx')]), /x\.onnx\.data already exists/);
    assert.equal(fs.readFileSync(path.join(dir, 'x.onnx.data'), 'utf8'), 'precious');
    const forced = cli(['prune', model, ...plan, '--out', path.join(dir, 'x.onnx'), '--force', '--json']);
    assert.equal(forced.code, 0, forced.stderr);
    assert.equal(JSON.parse(forced.stdout).externalData, path.join(dir, 'x.onnx.data'));
    assert.ok(params(path.join(dir, 'x.onnx')) > 0, 'the forced output loads with its data');
    assert.deepEqual({ model: sha(model), data: sha(data) }, before);
    assert.ok(loadModel(model).externalFiles!.length === 1, 'the original still loads');
  }));

  test('an automatically chosen name whose .data exists takes the next name (the model and its data are one pair)', withDir(async (dir) => {
    const { model } = await externalModel(dir, 'e.onnx');
    fs.writeFileSync(path.join(dir, 'e.pruned.onnx.data'), 'someone else\'s');
    const r = cli(['prune', model, '--criterion', 'l1', '--ratio', '0.3', '--json']);
    assert.equal(r.code, 0, r.stderr);
    const rep = JSON.parse(r.stdout);
    assert.equal(rep.output, path.join(dir, 'e.pruned-2.onnx'));
    assert.equal(rep.externalData, path.join(dir, 'e.pruned-2.onnx.data'));
    assert.equal(fs.readFileSync(path.join(dir, 'e.pruned.onnx.data'), 'utf8'), 'someone else\'s');
    assert.equal(params(rep.output), rep.params.after);
  }));
});

describe('file safety: --save-plan', () => {
  test('never over the input model or its data, over an existing file only with --force, atomically', withDir(async (dir) => {
    const { model, data } = await externalModel(dir, 'm.onnx');
    const before = { model: sha(model), data: sha(data) };
    const plan = ['--criterion', 'l1', '--ratio', '0.3'];
    oneLineError(cli(['prune', model, ...plan, '--dry-run', '--save-plan', model]), /m\.onnx.*(reads|input)/);
    oneLineError(cli(['prune', model, ...plan, '--dry-run', '--save-plan', model, '--force']), /m\.onnx.*(reads|input)/);
    oneLineError(cli(['prune', model, ...plan, '--dry-run', '--save-plan', data, '--force']), /m\.onnx\.data.*reads/);
    oneLineError(cli(['prune', model, ...plan, '--save-plan', model, '--force']), /m\.onnx.*reads/);
    assert.deepEqual({ model: sha(model), data: sha(data) }, before, 'the model and its data are unchanged');
    assert.deepEqual(listing(dir), ['m.onnx', 'm.onnx.data'], 'nothing written: the plan is checked before the model is written');
    const existing = path.join(dir, 'p.json');
    fs.writeFileSync(existing, 'keep me');
    oneLineError(cli(['prune', model, ...plan, '--dry-run', '--save-plan', existing]), /p\.json already exists/);
    assert.equal(fs.readFileSync(existing, 'utf8'), 'keep me');
    const ok = cli(['prune', model, ...plan, '--dry-run', '--save-plan', existing, '--force']);
    assert.equal(ok.code, 0, ok.stderr);
    assert.equal(JSON.parse(fs.readFileSync(existing, 'utf8')).criterion, 'l1');
    // Not over the model this very run writes, even with --force.
    oneLineError(cli(['prune', model, ...plan, '--out', path.join(dir, 'o.onnx'), '--save-plan', path.join(dir, 'o.onnx'), '--force']), /o\.onnx/);
    assert.deepEqual(listing(dir), ['m.onnx', 'm.onnx.data', 'p.json']);
  }));
});

describe('file safety: concurrent runs', () => {
  test('three runs with automatic names: three files, each report describes its own file', withDir(async (dir) => {
    const model = path.join(dir, 'm.onnx');
    fs.copyFileSync(fmnistBn, model);
    const runs = [['l1', '0.3'], ['l2', '0.5'], ['fpgm', '0.7']];
    const results = await Promise.all(runs.map(([c, r]) => cliAsync(['prune', model, '--criterion', c, '--ratio', r, '--json'])));
    const outputs = new Set<string>();
    results.forEach((res, i) => {
      assert.equal(res.code, 0, res.stderr);
      const rep = JSON.parse(res.stdout);
      outputs.add(rep.output);
      const m = meta(rep.output);
      assert.equal(m.get('onnx_pruner.criterion'), runs[i][0], `${rep.output} holds the model of run ${i}`);
      assert.equal(m.get('onnx_pruner.ratio'), runs[i][1]);
      assert.equal(params(rep.output), rep.params.after);
    });
    assert.equal(outputs.size, 3, `three different files: ${[...outputs].join(', ')}`);
    assert.deepEqual(listing(dir), ['m.onnx', 'm.pruned-2.onnx', 'm.pruned-3.onnx', 'm.pruned.onnx']);
  }));

  test('three runs with the same explicit --out and no --force: one succeeds, the others fail, the file is the winner\'s', withDir(async (dir) => {
    const model = path.join(dir, 'm.onnx');
    fs.copyFileSync(fmnistBn, model);
    const out = path.join(dir, 'same.onnx');
    const runs = [['l1', '0.3'], ['l2', '0.5'], ['fpgm', '0.7']];
    const results = await Promise.all(runs.map(([c, r]) => cliAsync(['prune', model, '--criterion', c, '--ratio', r, '--out', out, '--json'])));
    const winners = results.map((r, i) => [r, i] as const).filter(([r]) => r.code === 0);
    assert.equal(winners.length, 1, results.map((r) => `${r.code}: ${r.stderr.trim()}`).join('\n'));
    for (const r of results) if (r.code !== 0) assert.match(r.stderr, /same\.onnx already exists/);
    const [win, i] = winners[0];
    assert.equal(JSON.parse(win.stdout).output, out);
    assert.equal(meta(out).get('onnx_pruner.criterion'), runs[i][0]);
    assert.deepEqual(listing(dir), ['m.onnx', 'same.onnx']);
  }));

  test('a file appearing while the model is written is never replaced (next name, or a clear failure with --out)', withDir(async (dir) => {
    const model = path.join(dir, 'm.onnx');
    fs.copyFileSync(fmnistBn, model);
    const plan = { version: 1 as const, criterion: 'l1' as const, scope: 'uniform' as const, ratio: 0.3 };
    const intrude = (file: string) => (stage: string) => {
      if (stage === 'writing') fs.writeFileSync(file, 'appeared meanwhile');
    };
    const auto = await pruneModel(model, plan, { onProgress: intrude(path.join(dir, 'm.pruned.onnx')) });
    assert.equal(auto.output, path.join(dir, 'm.pruned-2.onnx'));
    assert.equal(fs.readFileSync(path.join(dir, 'm.pruned.onnx'), 'utf8'), 'appeared meanwhile');
    assert.equal(params(auto.output), auto.params.after);
    const out = path.join(dir, 'x.onnx');
    await assert.rejects(pruneModel(model, plan, { out, onProgress: intrude(out) }), (e: unknown) => e instanceof PrunerError && /x\.onnx already exists/.test(e.message));
    assert.equal(fs.readFileSync(out, 'utf8'), 'appeared meanwhile');
    assert.deepEqual(listing(dir), ['m.onnx', 'm.pruned-2.onnx', 'm.pruned.onnx', 'x.onnx'], 'no temporary file left');
  }));
});

describe('file safety: publishing', () => {
  test('the final step never replaces a file, for the model nor its data; the pair moves to the next name together', withDir(async (dir) => {
    const src = loadModel(fmnistBn);
    const names = (n: number) => path.join(dir, n === 1 ? 'p.onnx' : `p-${n}.onnx`);
    // p.onnx exists: the data is published, the .onnx is not, the data is taken back, the pair moves on.
    fs.writeFileSync(names(1), 'first');
    // p-2.onnx.data exists: the pair cannot take p-2 either.
    fs.writeFileSync(`${names(2)}.data`, 'second');
    const r = await saveModel(src, names(1), { externalData: true, nextName: (n) => names(n) });
    assert.equal(r.path, names(3));
    assert.equal(r.externalDataPath, `${names(3)}.data`);
    assert.equal(fs.readFileSync(names(1), 'utf8'), 'first');
    assert.equal(fs.readFileSync(`${names(2)}.data`, 'utf8'), 'second');
    assert.deepEqual(listing(dir), ['p-2.onnx.data', 'p-3.onnx', 'p-3.onnx.data', 'p.onnx'], 'p.onnx.data was taken back; no temporary file');
    assert.equal(computeCost(new Graph(loadModel(r.path))).params, computeCost(new Graph(src)).params, 'the .onnx names its own data file');
    // Without a next name: a clear failure, nothing left.
    await assert.rejects(saveModel(src, names(1), { externalData: true }), (e: unknown) => e instanceof PrunerError && /p\.onnx already exists/.test(e.message));
    assert.deepEqual(listing(dir), ['p-2.onnx.data', 'p-3.onnx', 'p-3.onnx.data', 'p.onnx']);
    // With replace (--force): replaced, atomically.
    const forced = await saveModel(src, names(1), { externalData: true, replace: true });
    assert.equal(forced.path, names(1));
    assert.ok(loadModel(names(1)).externalFiles!.length === 1);
  }));

  test('stale temporary files: a dead owner\'s, or older than the age limit, are removed; others stay', withDir((dir) => {
    const dead = spawnSync(process.execPath, ['-e', 'process.stdout.write(String(process.pid))'], { encoding: 'utf8' }).stdout.trim();
    const f = (pid: string | number, name = 'x.onnx') => path.join(dir, `.${name}.onnx-pruner-${pid}-0123456789ab.tmp`);
    const files = { dead: f(dead), live: f(process.pid), old: f(process.pid, 'y.onnx'), other: path.join(dir, '.x.onnx.tmp') };
    for (const file of Object.values(files)) fs.writeFileSync(file, 'x');
    const old = new Date(Date.now() - 25 * 3600 * 1000);
    fs.utimesSync(files.old, old, old);
    assert.deepEqual(removeStaleTemps(dir).sort(), [path.basename(files.dead), path.basename(files.old)].sort());
    assert.deepEqual(listing(dir), [path.basename(files.live), '.x.onnx.tmp'].sort());
  }));
});

/** A model with ~40 MB of weights, so that writing it takes a while. */
function bigModel(dir: string): string {
  const b = new ModelBuilder({ seed: 3 });
  const x = b.input('x', [1, 64, 8, 8]);
  let y = b.relu(b.bn(b.conv(x, 64, 1024, { k: 3, pad: 1, name: 'c1' }), 1024));
  y = b.relu(b.bn(b.conv(y, 1024, 1024, { k: 3, pad: 1, name: 'c2' }), 1024));
  b.output(b.conv(y, 1024, 8, { k: 1, name: 'head' }));
  return b.save(path.join(dir, 'big.onnx'));
}

describe('file safety: temporary files', () => {
  for (const [sig, code] of [['SIGINT', 130], ['SIGTERM', 143]] as const) {
    test(`${sig} while writing: exit ${code}, no temporary or partial file left`, withDir(async (dir) => {
      const model = bigModel(dir);
      let sent = false;
      const r = await cliAsync(['prune', model, '--criterion', 'l1', '--ratio', '0.1'], (child) => {
        // Signal the moment a temporary file appears in the folder.
        const timer = setInterval(() => {
          if (!sent && fs.readdirSync(dir).some(isTemp)) {
            sent = true;
            child.kill(sig);
          }
        }, 2);
        child.on('close', () => clearInterval(timer));
      });
      assert.ok(sent, 'a temporary file was seen');
      assert.deepEqual(fs.readdirSync(dir).filter(isTemp), [], 'no temporary file left');
      if (r.code === 0) assert.ok(params(path.join(dir, 'big.pruned.onnx')) > 0, 'finished before the signal: the file is whole');
      else {
        assert.equal(r.code, code, `${r.code} ${r.signal} ${r.stderr}`);
        assert.deepEqual(listing(dir), ['big.onnx']);
      }
    }));
  }

  test('a run killed outright (SIGKILL) leaves a temporary file; the next run in that folder removes it', withDir(async (dir) => {
    const model = bigModel(dir);
    let killed = false;
    await cliAsync(['prune', model, '--criterion', 'l1', '--ratio', '0.1'], (child) => {
      const timer = setInterval(() => {
        if (!killed && fs.readdirSync(dir).some(isTemp)) {
          killed = true;
          child.kill('SIGKILL');
        }
      }, 2);
      child.on('close', () => clearInterval(timer));
    });
    assert.ok(killed);
    const stale = fs.readdirSync(dir).filter(isTemp);
    assert.equal(stale.length, 1, `the killed run's temporary file: ${listing(dir).join(', ')}`);
    assert.match(stale[0], /^\.big\.pruned\.onnx\.onnx-pruner-\d+-[0-9a-f]+\.tmp$/, 'named as this tool\'s');
    // A live process's temporary file (this test's own pid) is left alone.
    const live = path.join(dir, `.other.onnx.onnx-pruner-${process.pid}-abcdef.tmp`);
    fs.writeFileSync(live, 'in progress');
    const r = cli(['prune', model, '--criterion', 'l1', '--ratio', '0.1', '--out', path.join(dir, 'next.onnx')]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(listing(dir), [path.basename(live), 'big.onnx', 'next.onnx'].sort());
  }));
});

describe('silent no-ops and extremes are refused or said', () => {
  test('bn-gamma on a model without BN, and any plan removing nothing: refused with advice, exit 1, nothing written', withDir((dir) => {
    const fused = path.join(dir, 'f.onnx');
    fs.copyFileSync(fmnistFused, fused);
    oneLineError(cli(['prune', fused, '--criterion', 'bn-gamma', '--ratio', '0.5']), /no BatchNormalization.*--criterion l1.*re-export with BN kept/);
    oneLineError(cli(['prune', fused, '--criterion', 'bn-gamma', '--ratio', '0.5', '--dry-run']), /no BatchNormalization/);
    oneLineError(cli(['prune', fused, '--criterion', 'l1', '--ratio', '0']), /removes no channel/);
    oneLineError(cli(['prune', fused, '--criterion', 'l1', '--ratio', '0.5', '--min-channels', '1000']), /removes no channel.*minChannels 1000 is at least the width/);
    assert.deepEqual(listing(dir), ['f.onnx']);
  }));

  test('a plan cutting layers to their minimum needs --force and warns loudly', withDir((dir) => {
    const model = path.join(dir, 'm.onnx');
    fs.copyFileSync(fmnistBn, model);
    for (const amount of [['--threshold', '1e30'], ['--ratio', '0.999']]) {
      oneLineError(cli(['prune', model, '--criterion', 'l1', ...amount]), /down to the least they can keep.*--force/);
      assert.deepEqual(listing(dir), ['m.onnx']);
    }
    const r = cli(['prune', model, '--criterion', 'l1', '--ratio', '0.999', '--force']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stderr, /WARNING: .*down to the least they can keep/);
    assert.ok(fs.existsSync(path.join(dir, 'm.pruned.onnx')));
  }));

  test('--min-channels larger than a layer is said; a plan file with NaN is one line naming the field; --out without .onnx warns', withDir((dir) => {
    const model = path.join(dir, 'm.onnx');
    fs.copyFileSync(fmnistBn, model);
    const r = cli(['prune', model, '--criterion', 'l1', '--ratio', '0.5', '--min-channels', '40', '--dry-run']);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /warning: minChannels 40 is at least the width of \d+ of \d+ prunable layer groups \(\/stem/);
    const planFile = path.join(dir, 'nan.json');
    fs.writeFileSync(planFile, '{\n  "version": 1,\n  "criterion": "l1",\n  "ratio": NaN\n}\n');
    oneLineError(cli(['prune', model, '--plan', planFile]), /nan\.json: field "ratio" is NaN/);
    const w = cli(['prune', model, '--criterion', 'l1', '--ratio', '0.5', '--out', path.join(dir, 'small.bin')]);
    assert.equal(w.code, 0, w.stderr);
    assert.match(w.stderr, /warning: --out .*small\.bin does not end in \.onnx/);
  }));
});
