// Validation cost in ONNX Runtime (CPU): session creation vs runs, 1 vs 2 intra-op threads, no spinning.
// Run: node --import tsx bench/runtime.ts   (uses ../shared/models/synthetic/resnet18_bn.onnx when present)
import * as fs from 'node:fs';
import * as os from 'node:os';
import { createSession, loadOrt } from '../src/engine/runtime/session.ts';
import { modelInputSpecs, randomInputs } from '../src/engine/runtime/inputs.ts';
import { measureLatency, validatePruned } from '../src/engine/runtime/validate.ts';
import { fmnistBn, fmnistFused, sharedModels, shared } from '../test/helpers/paths.ts';

interface ThreadResult {
  threads: number;
  /** Session creation, each of `repeats` fresh sessions. */
  sessionMs: { median: number; min: number; max: number };
  runMedianMs: number;
  runP90Ms: number;
  runs: number;
}

function summary(xs: number[]): { median: number; min: number; max: number } {
  const s = [...xs].sort((a, b) => a - b);
  const r = (v: number) => Math.round(v * 10) / 10;
  return { median: r(s[Math.floor(s.length / 2)]), min: r(s[0]), max: r(s[s.length - 1]) };
}

async function benchModel(model: string, threads: number, repeats: number, runs: number): Promise<ThreadResult> {
  const feeds = randomInputs(modelInputSpecs(model));
  const created: number[] = [];
  let last: ThreadResult | undefined;
  for (let i = 0; i < repeats; i++) {
    const t0 = performance.now();
    const s = await createSession(model, 'cpu', { threads });
    created.push(performance.now() - t0);
    if (i === repeats - 1) {
      const lat = await measureLatency(s.session, feeds, s.ort, { runs, warmup: 3 });
      last = { threads, sessionMs: summary(created), runMedianMs: lat.medianMs, runP90Ms: lat.p90Ms, runs };
    }
    await s.session.release();
  }
  return last!;
}

/** Times one full `validatePruned` and splits it into session creation, timed runs and the rest. */
async function benchValidate(original: string, pruned: string, threads: number, runs: number): Promise<object> {
  const t0 = performance.now();
  const r = await validatePruned(original, pruned, { ep: 'cpu', threads, runs, warmup: 2 });
  const total = performance.now() - t0;
  const sessions = r.original.sessionMs + r.pruned.sessionMs;
  const timed = (r.original.latency.meanMs + r.pruned.latency.meanMs) * runs;
  return {
    threads,
    runs,
    totalMs: Math.round(total),
    sessionCreationMs: Math.round(sessions),
    timedRunsMs: Math.round(timed),
    otherMs: Math.round(total - sessions - timed), // model decoding, first run + warm-up, comparison, sizes
  };
}

export async function runRuntimeBench(): Promise<object> {
  await loadOrt();
  const host = { cpus: os.cpus().length, node: process.version };
  const fmnist = {
    model: 'samples/fmnist: BN model (sessions, runs at batch 1); validate BN vs fused',
    threads1: await benchModel(fmnistBn, 1, 3, 50),
    validate: await benchValidate(fmnistBn, fmnistFused, 1, 10),
  };
  const resnetPath = sharedModels ? shared('synthetic/resnet18_bn.onnx') : undefined;
  if (!resnetPath || !fs.existsSync(resnetPath)) {
    return { host, fmnist, resnet18: 'skipped: shared models folder (../shared/models) not present' };
  }
  const resnet18 = {
    model: 'synthetic/resnet18_bn.onnx, 1x3x224x224, CPU, no spinning',
    perThreads: [await benchModel(resnetPath, 1, 3, 20), await benchModel(resnetPath, 2, 3, 20)],
    validate: [await benchValidate(resnetPath, resnetPath, 1, 10), await benchValidate(resnetPath, resnetPath, 2, 10)],
  };
  return { host, fmnist, resnet18 };
}

if (process.argv[1]?.endsWith('runtime.ts')) {
  runRuntimeBench().then((r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`));
}
