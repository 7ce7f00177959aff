// Recovery cost: prune at ratio 0.5 (l1, uniform) with --recover ls on 256 random calibration inputs
// at 224×224, on resnet18_bn (shared models) and on a ResNet-50-sized model built in code (skip it
// with `--no-resnet50` or RECOVERY_RESNET50=0, the ResNet-18 with RECOVERY_RESNET18=0; RECOVERY_COUNT changes the number of inputs, e.g. for a
// profile, and RECOVERY_CPU_PROF=<dir> profiles each run). Each run is a fresh child process, so its
// peak RSS is the pipeline's alone. For comparison, the same child times one plain ONNX Runtime
// forward pass of the original model over the same inputs (same batch size, same threads), session
// creation excluded. Target: recovery ≤ 5 such passes; peak RSS < 2 GB for ResNet-50. On a shared
// machine wall-clock ratios move with the load, so the CPU time (every thread) of both is reported too.
// Run: node --import tsx bench/recovery.ts [--no-resnet50]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pruneModel } from '../src/engine/prune/prune.ts';
import { seededNormal } from '../src/engine/runtime/inputs.ts';
import { createSession } from '../src/engine/runtime/session.ts';
import { defaultBatchSize, defaultRecoveryThreads } from '../src/engine/recovery/working.ts';
import { rawF32InputSet } from '../src/engine/data/arrays.ts';
import { buildResNet50 } from './analysis.ts';
import { shared, sharedModels, tempDir } from '../test/helpers/paths.ts';

/** Calibration inputs (RECOVERY_COUNT overrides, e.g. a smaller run to profile). */
const COUNT = Number(process.env.RECOVERY_COUNT) || 256;
const SAMPLE = [3, 224, 224];

/**
 * The calibration inputs: seeded N(0, 1) values written once to a raw float32 file, generated batch by
 * batch (never all in memory), and read back streamed like a user's array file. (Generating them in
 * every probe pass instead would time the random generator, not recovery.)
 */
function writeInputs(file: string): string {
  const per = SAMPLE.reduce((a, b) => a * b, 1);
  const fd = fs.openSync(file, 'w');
  try {
    for (let offset = 0; offset < COUNT; offset += 16) {
      const n = Math.min(16, COUNT - offset);
      const data = seededNormal(n * per, 1000 + offset);
      fs.writeSync(fd, new Uint8Array(data.buffer, data.byteOffset, data.byteLength));
    }
  } finally {
    fs.closeSync(fd);
  }
  return `${file}:${[COUNT, ...SAMPLE].join('x')}`;
}

interface ChildResult {
  model: string;
  forwardMs: number;
  totalMs: number;
  recoveryMs: number;
  passes: number;
  refit: number;
  maxRssMiB: number;
  provider?: string;
  /** CPU time (every thread) of the whole prune with ls, and of the plain forward pass. */
  cpuMs: number;
  forwardCpuMs: number;
}

const round = (v: number) => Math.round(v * 10) / 10;

async function child(model: string, out: string, inputs: string): Promise<void> {
  const set = rawF32InputSet(inputs);
  // One plain forward pass over the 256 inputs.
  const { session, ort } = await createSession(model, 'auto', { threads: defaultRecoveryThreads() });
  const batch = defaultBatchSize(SAMPLE.reduce((a, b) => a * b, 1));
  const fc0 = process.cpuUsage();
  const f0 = performance.now();
  for await (const b of set.batches(batch)) await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', b.data, [b.count, ...SAMPLE]) });
  const forwardMs = performance.now() - f0;
  const fc = process.cpuUsage(fc0);
  await session.release();
  const cpu0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await pruneModel(model, { version: 1, criterion: 'l1', scope: 'uniform', ratio: 0.5 }, { out, force: true, recover: 'ls', calibration: set, ep: 'auto' });
  const totalMs = performance.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const res: ChildResult = {
    model: path.basename(model),
    forwardMs: round(forwardMs),
    totalMs: round(totalMs),
    recoveryMs: r.recovery.ms,
    passes: r.recovery.passes,
    refit: r.recovery.layers.filter((l) => l.status === 'refit').length,
    maxRssMiB: round(process.resourceUsage().maxRSS / 1024),
    ...(r.recovery.provider ? { provider: r.recovery.provider } : {}),
    cpuMs: Math.round((cpu.user + cpu.system) / 1000),
    forwardCpuMs: Math.round((fc.user + fc.system) / 1000),
  };
  process.stdout.write(`${JSON.stringify(res)}\n`);
}

function runChild(model: string, out: string, inputs: string): ChildResult {
  const r = spawnSync(process.execPath, [...(process.env.RECOVERY_CPU_PROF ? ['--cpu-prof', `--cpu-prof-dir=${process.env.RECOVERY_CPU_PROF}`] : []), '--import', 'tsx', __filename, '--child', model, out, inputs], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`child failed on ${model}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
}

export async function runRecoveryBench(opts: { resnet50?: boolean } = {}): Promise<object> {
  const dir = tempDir('onnx-pruner-bench-');
  const results: ChildResult[] = [];
  try {
    const models: string[] = [];
    if (process.env.RECOVERY_RESNET18 === '0') console.log('resnet18 skipped (RECOVERY_RESNET18=0)');
    else if (sharedModels) models.push(shared('synthetic/resnet18_bn.onnx'));
    else console.log('shared models absent: resnet18 skipped');
    if (opts.resnet50 ?? process.env.RECOVERY_RESNET50 !== '0') models.push(buildResNet50(path.join(dir, 'resnet50_built.onnx'), { heInit: true }));
    const inputs = models.length ? writeInputs(path.join(dir, 'calibration.f32')) : '';
    for (const model of models) {
      const r = runChild(model, path.join(dir, `${path.basename(model, '.onnx')}.ls.onnx`), inputs);
      results.push(r);
      const passes = r.recoveryMs / r.forwardMs;
      const cpuPasses = r.cpuMs / Math.max(1, r.forwardCpuMs);
      console.log(
        `${r.model.padEnd(22)} --recover ls, ${COUNT} inputs 224×224, ratio 0.5: total ${(r.totalMs / 1000).toFixed(1)} s (recovery ${(r.recoveryMs / 1000).toFixed(1)} s, ${r.passes} probe passes, ${r.refit} layers refit); ` +
          `one forward pass of the original ${(r.forwardMs / 1000).toFixed(1)} s → recovery = ${passes.toFixed(1)} passes (target ≤ 5: ${passes <= 5 ? 'met' : 'NOT met'}); ` +
          `CPU: prune with ls ${(r.cpuMs / 1000).toFixed(1)} s, forward pass ${(r.forwardCpuMs / 1000).toFixed(1)} s → ${cpuPasses.toFixed(1)} passes; ` +
          `peak RSS ${r.maxRssMiB} MiB${/resnet50/.test(r.model) ? ` (target < 2048: ${r.maxRssMiB < 2048 ? 'met' : 'NOT met'})` : ''}; ${r.provider ?? ''}`,
      );
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { runs: results };
}

if (process.argv[1]?.endsWith(`${path.sep}recovery.ts`) && path.basename(path.dirname(process.argv[1])) === 'bench') {
  const i = process.argv.indexOf('--child');
  if (i >= 0) void child(process.argv[i + 1], process.argv[i + 2], process.argv[i + 3]);
  else void runRecoveryBench(process.argv.includes('--no-resnet50') ? { resnet50: false } : {}).then((r) => console.log(JSON.stringify(r)));
}
