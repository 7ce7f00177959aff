// `onnx-pruner prune` as a user runs it (a child process: exit codes, one-line errors, files on
// disk), and the pipeline's promises: output naming, never overwriting the input, nothing left
// behind by a bad plan, an unwritable folder or a cancelled run.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { CancelledError, PrunerError } from '../../src/engine/errors.ts';
import { applyPlanFile, pruneModel } from '../../src/engine/prune/prune.ts';
import { chooseOutputPath, defaultOutputPath } from '../../src/engine/prune/output-path.ts';
import { loadModel } from '../../src/engine/onnx/model.ts';
import { saveModel } from '../../src/engine/onnx/save.ts';
import { fmnistBn, repoRoot, shared, skipWithoutShared, tempDir } from '../helpers/paths.ts';

function cli(args: string[]): { code: number; stdout: string; stderr: string } {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), ...args], { cwd: repoRoot, encoding: 'utf8' });
  return { code: r.status ?? -1, stdout: r.stdout, stderr: r.stderr };
}

const sha = (f: string) => crypto.createHash('sha256').update(fs.readFileSync(f)).digest('hex');

/** A temp folder holding a copy of the Fashion-MNIST model as m.onnx. */
function workDir(): { dir: string; model: string } {
  const dir = tempDir();
  const model = path.join(dir, 'm.onnx');
  fs.copyFileSync(fmnistBn, model);
  return { dir, model };
}

function assertOneLineError(r: { code: number; stderr: string; stdout: string }, pattern: RegExp): void {
  assert.equal(r.code, 1, `exit code (stderr: ${r.stderr})`);
  const lines = r.stderr.trim().split('\n').filter((l) => !l.startsWith('… '));
  assert.equal(lines.length, 1, `one line: ${r.stderr}`);
  assert.match(lines[0], /^onnx-pruner: /);
  assert.match(lines[0], pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /, 'no stack trace');
}

describe('onnx-pruner prune (CLI)', () => {
  test('the dry-run preview has the file\'s parameters; the default keeps the nodes, --exact-borders adds the border Adds', () => {
    const { dir, model } = workDir();
    try {
      const args = ['prune', model, '--criterion', 'bn-gamma', '--ratio', '0.5', '--json'];
      const dry = cli([...args, '--dry-run']);
      assert.equal(dry.code, 0, dry.stderr);
      const pv = JSON.parse(dry.stdout).preview;
      const r = cli(args);
      assert.equal(r.code, 0, r.stderr);
      const rep = JSON.parse(r.stdout);
      assert.equal(rep.params.after, pv.params.after);
      assert.equal(rep.macs.after, pv.macs.after);
      assert.ok(rep.compensation.layers.length > 0, 'something was compensated');
      const ops = (f: string) => loadModel(f).proto.graph!.node.map((n) => n.op_type);
      assert.deepEqual(ops(rep.output), ops(model));
      const ex = cli([...args, '--exact-borders']);
      assert.equal(ex.code, 0, ex.stderr);
      const exRep = JSON.parse(ex.stdout);
      const bordered = exRep.compensation.layers.filter((l: { borderCorrection?: boolean }) => l.borderCorrection).length;
      assert.ok(bordered > 0, 'a padded consumer got a border correction');
      assert.equal(ops(exRep.output).length, ops(model).length + bordered);
      assert.ok(exRep.compensation.layers.every((l: { exact: boolean }) => l.exact) || exRep.compensation.layers.some((l: { reason?: string }) => /γ/.test(l.reason ?? '')));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('writes <name>.pruned.onnx, then a numbered name; --force overwrites the pruned file, never the input', () => {
    const { dir, model } = workDir();
    try {
      const before = sha(model);
      const r1 = cli(['prune', model, '--criterion', 'l1', '--ratio', '0.5', '--json']);
      assert.equal(r1.code, 0, r1.stderr);
      const rep = JSON.parse(r1.stdout);
      assert.equal(rep.output, path.join(dir, 'm.pruned.onnx'));
      for (const k of ['input', 'output', 'plan', 'criterion', 'params', 'macs', 'size', 'layers', 'compensation', 'warnings']) assert.ok(k in rep, `report key ${k}`);
      assert.ok(rep.params.after < rep.params.before && rep.macs.after < rep.macs.before);
      assert.ok(rep.layers.every((l: { keptChannels: number[]; channelsAfter: number }) => l.keptChannels.length === l.channelsAfter));
      const meta = new Map(loadModel(rep.output).proto.metadata_props.map((e) => [e.key, e.value]));
      assert.equal(meta.get('onnx_pruner.source'), 'm.onnx');
      assert.equal(meta.get('onnx_pruner.ratio'), '0.5');
      const r2 = cli(['prune', model, '--criterion', 'l1', '--ratio', '0.3']);
      assert.equal(r2.code, 0, r2.stderr);
      assert.match(r2.stdout, /m\.pruned-2\.onnx/);
      assert.match(r2.stdout, /parameters .* → /);
      assert.ok(fs.existsSync(path.join(dir, 'm.pruned-2.onnx')));
      const r3 = cli(['prune', model, '--criterion', 'l2', '--ratio', '0.3', '--force']);
      assert.equal(r3.code, 0, r3.stderr);
      assert.ok(!fs.existsSync(path.join(dir, 'm.pruned-3.onnx')));
      assertOneLineError(cli(['prune', model, '--criterion', 'l1', '--ratio', '0.5', '--out', model, '--force']), /overwrite the input/);
      assertOneLineError(cli(['prune', model, '--criterion', 'l1', '--ratio', '0.5', '--out', path.join(dir, 'm.pruned.onnx')]), /already exists/);
      assert.equal(sha(model), before, 'the input is unchanged');
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('bad input: one line on stderr, exit 1, nothing written', () => {
    const { dir, model } = workDir();
    try {
      const plan = (o: object) => {
        const f = path.join(dir, `plan-${crypto.randomBytes(3).toString('hex')}.json`);
        fs.writeFileSync(f, JSON.stringify({ version: 1, criterion: 'l1', scope: 'uniform', ratio: 0.5, ...o }));
        return f;
      };
      const files = () => fs.readdirSync(dir).filter((f) => !f.startsWith('plan-')).sort();
      const cases: [string[], RegExp][] = [
        [['--criterion', 'magic', '--ratio', '0.5'], /unknown criterion "magic"/],
        [['--criterion', 'l1', '--ratio', '1.5'], /ratio 1\.5 is outside \[0, 1\)/],
        [['--criterion', 'l1', '--ratio', '-0.1'], /ratio -0\.1 is outside/],
        [['--criterion', 'l1', '--ratio', 'half'], /--ratio expects a number/],
        [['--criterion', 'l1'], /--ratio or --threshold is required/],
        [['--plan', plan({ overrides: { '/no/such/Conv': { keep: [0] } } })], /no\/such\/Conv/],
        [['--plan', plan({ overrides: { '/stem/stem.0/Conv': { keep: [] } } })], /stem\.0\/Conv/],
        [['--plan', path.join(dir, 'missing.json')], /missing\.json/],
        [['--criterion', 'l1', '--ratio', '0.5', '--out', path.join(dir, 'no', 'such', 'folder', 'x.onnx')], /no\/such\/folder.*does not exist/],
      ];
      for (const [args, pattern] of cases) {
        const r = cli(['prune', model, ...args]);
        assertOneLineError(r, pattern);
      }
      assert.deepEqual(files(), ['m.onnx'], 'nothing written');
      assertOneLineError(cli(['prune', path.join(dir, 'absent.onnx'), '--criterion', 'l1', '--ratio', '0.5']), /absent\.onnx/);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('--dry-run writes the plan only; --plan applies it to the same widths', () => {
    const { dir, model } = workDir();
    try {
      const planFile = path.join(dir, 'p.json');
      const r = cli(['prune', model, '--criterion', 'bn-gamma', '--ratio', '0.4', '--global', '--round-to', '2', '--dry-run', '--save-plan', planFile]);
      assert.equal(r.code, 0, r.stderr);
      assert.match(r.stdout, /Dry run/);
      assert.deepEqual(fs.readdirSync(dir).sort(), ['m.onnx', 'p.json']);
      const plan = JSON.parse(fs.readFileSync(planFile, 'utf8'));
      assert.deepEqual([plan.criterion, plan.scope, plan.ratio, plan.roundTo, plan.model], ['bn-gamma', 'global', 0.4, 2, 'm.onnx']);
      const r2 = cli(['prune', model, '--plan', planFile, '--json']);
      assert.equal(r2.code, 0, r2.stderr);
      const rep = JSON.parse(r2.stdout);
      assert.ok(rep.layers.length > 0 && rep.layers.every((l: { channelsAfter: number }) => l.channelsAfter % 2 === 0));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});

describe('prune pipeline: output path, failures and cancellation', () => {
  test('output path rules', () => {
    const { dir, model } = workDir();
    try {
      assert.equal(defaultOutputPath(model), path.join(dir, 'm.pruned.onnx'));
      assert.equal(defaultOutputPath(model, '${name}-small.onnx'), path.join(dir, 'm-small.onnx'));
      fs.writeFileSync(path.join(dir, 'm.pruned.onnx'), '');
      fs.writeFileSync(path.join(dir, 'm.pruned-2.onnx'), '');
      assert.equal(chooseOutputPath(model), path.join(dir, 'm.pruned-3.onnx'));
      assert.equal(chooseOutputPath(model, { force: true }), path.join(dir, 'm.pruned.onnx'));
      assert.equal(chooseOutputPath(model, { out: dir }), path.join(dir, 'm.pruned-3.onnx'), 'a folder as --out takes the default (numbered) name');
      fs.symlinkSync(model, path.join(dir, 'alias.onnx'));
      assert.throws(() => chooseOutputPath(model, { out: path.join(dir, 'alias.onnx'), force: true }), /overwrite the input/);
      assert.throws(() => chooseOutputPath(model, { outputName: '${name}.onnx' }), PrunerError);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('an unwritable output folder is named and nothing is written', { skip: process.getuid?.() === 0 ? 'running as root: folder permissions are not enforced' : false }, async () => {
    const { dir, model } = workDir();
    const ro = path.join(dir, 'ro');
    fs.mkdirSync(ro);
    fs.chmodSync(ro, 0o555);
    try {
      await assert.rejects(pruneModel(model, { version: 1, criterion: 'l1', scope: 'uniform', ratio: 0.5 }, { out: path.join(ro, 'x.onnx') }), (e: unknown) => e instanceof PrunerError && e.message.includes(ro) && /not writable/.test(e.message));
      assert.deepEqual(fs.readdirSync(ro), []);
    } finally {
      fs.chmodSync(ro, 0o755);
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a folder the system refuses (even to root) fails with a PrunerError naming it, nothing written', async () => {
    const { dir, model } = workDir();
    try {
      await assert.rejects(pruneModel(model, { version: 1, criterion: 'l1', scope: 'uniform', ratio: 0.5 }, { out: '/proc/onnx-pruner-test.onnx' }), (e: unknown) => e instanceof PrunerError && e.message.includes('/proc'));
      assert.deepEqual(fs.readdirSync(dir), ['m.onnx']);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  for (const stage of ['analysing', 'scoring', 'pruning', 'writing', 'validating']) {
    test(`cancelled while ${stage}: CancelledError and no file left`, async () => {
      const { dir, model } = workDir();
      try {
        const ac = new AbortController();
        const p = pruneModel(model, { version: 1, criterion: 'l1', scope: 'uniform', ratio: 0.5 }, { validate: true, ep: 'cpu', signal: ac.signal, onProgress: (s) => s === stage && ac.abort() });
        await assert.rejects(p, CancelledError);
        assert.deepEqual(fs.readdirSync(dir), ['m.onnx']);
      } finally {
        fs.rmSync(dir, { recursive: true, force: true });
      }
    });
  }

  test('a large write cancelled mid-way leaves no partial or temporary file', { skip: skipWithoutShared }, async () => {
    const dir = tempDir();
    try {
      for (const delayMs of [0, 5, 20, 60]) {
        const ac = new AbortController();
        const p = pruneModel(shared('synthetic/resnet18_bn.onnx'), { version: 1, criterion: 'l1', scope: 'uniform', ratio: 0.1 }, {
          out: path.join(dir, 'r.onnx'),
          signal: ac.signal,
          onProgress: (s) => s === 'writing' && setTimeout(() => ac.abort(), delayMs),
        });
        try {
          await p;
          fs.rmSync(path.join(dir, 'r.onnx')); // finished before the abort: fine, but then the file is whole
        } catch (e) {
          assert.ok(e instanceof CancelledError, String(e));
        }
        assert.deepEqual(fs.readdirSync(dir), [], `after an abort ${delayMs} ms into the write`);
      }
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('a model with external data is pruned into a model with external data, and runs', async () => {
    const { dir, model } = workDir();
    try {
      const ext = path.join(dir, 'ext.onnx');
      await saveModel(loadModel(model), ext, { externalData: true });
      assert.ok(fs.existsSync(`${ext}.data`));
      const r = await pruneModel(ext, { version: 1, criterion: 'bn-gamma', scope: 'global', threshold: 0.01 }, { validate: true, ep: 'cpu' });
      assert.equal(r.output, path.join(dir, 'ext.pruned.onnx'));
      assert.equal(r.externalData, path.join(dir, 'ext.pruned.onnx.data'));
      assert.ok(fs.statSync(r.output).size < 20000, 'weights are outside the .onnx file');
      const out = r.validation!.outputs[0];
      assert.ok(out.comparable && out.top1Agreement === 1, JSON.stringify(out));
      assert.ok(r.size.after < r.size.before);
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });

  test('applyPlanFile reads a plan document and names the file when it is bad', async () => {
    const { dir, model } = workDir();
    try {
      const good = path.join(dir, 'good.json');
      fs.writeFileSync(good, JSON.stringify({ version: 1, criterion: 'l2', scope: 'uniform', ratio: 0.25 }));
      const r = await applyPlanFile(model, good);
      assert.equal(r.plan.criterion, 'l2');
      assert.ok(fs.existsSync(r.output));
      const bad = path.join(dir, 'bad.json');
      fs.writeFileSync(bad, '{"version": 1, "criterion": ');
      await assert.rejects(applyPlanFile(model, bad), (e: unknown) => e instanceof PrunerError && e.message.includes('bad.json'));
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
  });
});
