// Inspect benchmark: the engine part of `onnx-pruner inspect` (load + graph index + shape inference
// + cost + summary) on ResNet-18 (shared models): median of several runs in this process, and one
// cold run in a fresh child process with its peak RSS. Target: ≤ 0.3 s.
//
//   node --import tsx bench/inspect.ts          (or `npm run bench -- inspect`)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Graph } from '../src/engine/graph/graph.ts';
import { inferShapes } from '../src/engine/graph/shapes.ts';
import { computeCost } from '../src/engine/graph/cost.ts';
import { summarizeModel } from '../src/engine/graph/summary.ts';
import { loadModel } from '../src/engine/onnx/model.ts';

const TARGET_MS = 300;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Phases {
  loadMs: number;
  graphMs: number;
  shapesMs: number;
  costMs: number;
  summaryMs: number;
  totalMs: number;
}

/** One full inspect with the time of each phase (the summary re-runs shapes and cost, as the CLI does). */
function inspectOnce(file: string): Phases & { params: number; macs: number } {
  const t0 = performance.now();
  const m = loadModel(file);
  const t1 = performance.now();
  const g = new Graph(m);
  const t2 = performance.now();
  const shapes = inferShapes(g);
  const t3 = performance.now();
  computeCost(g, { shapes });
  const t4 = performance.now();
  const s = summarizeModel(m, g);
  const t5 = performance.now();
  // the CLI path is load + graph + summary (summary includes shapes and cost)
  return {
    loadMs: t1 - t0, graphMs: t2 - t1, shapesMs: t3 - t2, costMs: t4 - t3, summaryMs: t5 - t4,
    totalMs: t2 - t0 + (t5 - t4), params: s.params, macs: s.macs,
  };
}

function child(file: string): void {
  const r = inspectOnce(file);
  process.stdout.write(`${JSON.stringify({ ...r, peakRssMiB: process.resourceUsage().maxRSS / 1024 })}\n`);
}

function sharedModel(rel: string): string | undefined {
  const dir = process.env.ONNX_PRUNER_SHARED_MODELS ?? path.resolve(__dirname, '..', '..', 'shared', 'models');
  const p = path.join(dir, rel);
  return fs.existsSync(p) ? p : undefined;
}

export async function runInspectBench(): Promise<object> {
  const file = sharedModel('synthetic/resnet18_bn.onnx');
  if (!file) {
    console.log('resnet18_bn: shared models folder not present, skipped');
    return { skipped: 'shared models folder not present' };
  }
  // cold: a fresh process, nothing cached but the OS file cache
  const c = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'inspect.ts'), '--child', file], { encoding: 'utf8' });
  if (c.status !== 0) throw new Error(`child failed: ${c.stderr || c.error?.message}`);
  const cold = JSON.parse(c.stdout.trim().split('\n').pop()!) as Phases & { peakRssMiB: number };

  const runs: Phases[] = [];
  for (let i = 0; i < 9; i++) runs.push(inspectOnce(file));
  const warm = Object.fromEntries(
    (['loadMs', 'graphMs', 'shapesMs', 'costMs', 'summaryMs', 'totalMs'] as const).map((k) => [k, round(median(runs.map((r) => r[k])))]),
  ) as unknown as Phases;

  console.log('resnet18_bn (shared): load + graph + shapes + cost + summary');
  console.log(`  in-process median of ${runs.length}: ${warm.totalMs} ms  (load ${warm.loadMs}, graph ${warm.graphMs}, shapes ${warm.shapesMs}, cost ${warm.costMs}, summary ${warm.summaryMs})`);
  console.log(`  cold, fresh process:   ${round(cold.totalMs)} ms, peak RSS ${round(cold.peakRssMiB)} MiB`);
  const pass = warm.totalMs <= TARGET_MS && cold.totalMs <= TARGET_MS;
  console.log(`  target ≤ ${TARGET_MS} ms: ${pass ? 'ok' : 'MISSED'}`);
  return {
    model: 'synthetic/resnet18_bn.onnx',
    warm,
    cold: { totalMs: round(cold.totalMs), loadMs: round(cold.loadMs), peakRssMiB: round(cold.peakRssMiB) },
    targetMs: TARGET_MS,
    pass,
  };
}

function round(x: number): number {
  return Math.round(x * 10) / 10;
}

if (process.argv.includes('--child')) {
  child(process.argv[process.argv.indexOf('--child') + 1]);
} else if (/bench[\\/]inspect\.ts$/.test(process.argv[1] ?? '')) {
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, Node ${process.version}`);
  runInspectBench().then(
    (r) => console.log(JSON.stringify({ inspect: r })),
    (e) => {
      console.error((e as Error).stack ?? e);
      process.exit(1);
    },
  );
}
