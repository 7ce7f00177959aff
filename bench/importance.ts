// Importance time: the four criteria (BN γ, L1, L2, FPGM) and the statistics, plus plan resolution
// and preview, on resnet18_bn (shared models) and on a ResNet-50-sized model built in code.
// Run: node --import tsx bench/importance.ts
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { analyzeDependencies } from '../src/engine/analysis/groups.ts';
import { computeImportance } from '../src/engine/analysis/importance.ts';
import { importanceStats } from '../src/engine/analysis/stats.ts';
import { Graph } from '../src/engine/graph/graph.ts';
import { computeCost } from '../src/engine/graph/cost.ts';
import { loadModel } from '../src/engine/onnx/model.ts';
import { resolvePlan } from '../src/engine/prune/plan.ts';
import { preparePreview, previewPlan } from '../src/engine/prune/preview.ts';
import { buildResNet50 } from './analysis.ts';
import { shared, sharedModels, tempDir } from '../test/helpers/paths.ts';

interface ImportanceTiming {
  model: string;
  layers: number;
  groups: number;
  /** analyzeDependencies (the other engineer's part; for the total). */
  groupsMs: number;
  /** computeImportance: the four criteria per layer and per group (FPGM: ONNX Runtime GEMM for large layers). */
  importanceMs: number;
  /** CPU time of this process during the median computeImportance run (user + system, all threads): robust to a busy machine. */
  importanceCpuMs: number;
  /** the same with FPGM in JavaScript only. */
  importanceJsMs: number;
  statsMs: number;
  /** groups + importance + statistics. */
  fullAnalysisMs: number;
  /** preparePreview (shape inference + cost model), once per model. */
  previewPrepareMs: number;
  /** resolvePlan + previewPlan, what a slider move costs. */
  resolveAndPreviewMs: number;
  /** The first computeImportance in the process (JIT and ONNX Runtime session warm-up). */
  coldImportanceMs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (v: number) => Math.round(v * 100) / 100;

async function timeModel(label: string, file: string, runs = 3): Promise<ImportanceTiming> {
  const graph = new Graph(loadModel(file));
  let t = performance.now();
  const deps = analyzeDependencies(graph);
  const groupsMs = performance.now() - t;
  t = performance.now();
  let imp = await computeImportance(graph, deps);
  const coldImportanceMs = performance.now() - t;
  const impMs: number[] = [];
  const jsMs: number[] = [];
  const statsMs: number[] = [];
  const cpuMs: number[] = [];
  for (let i = 0; i < runs; i++) {
    t = performance.now();
    const cpu = process.cpuUsage();
    imp = await computeImportance(graph, deps);
    impMs.push(performance.now() - t);
    const used = process.cpuUsage(cpu);
    cpuMs.push((used.user + used.system) / 1000);
    t = performance.now();
    importanceStats(imp);
    statsMs.push(performance.now() - t);
  }
  t = performance.now();
  await computeImportance(graph, deps, { fpgmBackend: 'js' });
  jsMs.push(performance.now() - t);
  t = performance.now();
  preparePreview(graph, deps, computeCost(graph));
  const previewPrepareMs = performance.now() - t;
  const rp: number[] = [];
  for (let i = 0; i < 20; i++) {
    t = performance.now();
    previewPlan(graph, deps, resolvePlan({ version: 1, criterion: 'bn-gamma', scope: 'global', ratio: 0.3 + i / 50 }, deps, imp));
    rp.push(performance.now() - t);
  }
  const importanceMs = median(impMs);
  const sMs = median(statsMs);
  return {
    model: label,
    layers: imp.layers.size,
    groups: deps.groups.length,
    groupsMs: round(groupsMs),
    importanceMs: round(importanceMs),
    importanceCpuMs: round(median(cpuMs)),
    importanceJsMs: round(jsMs[0]),
    statsMs: round(sMs),
    fullAnalysisMs: round(groupsMs + importanceMs + sMs),
    previewPrepareMs: round(previewPrepareMs),
    resolveAndPreviewMs: round(median(rp)),
    coldImportanceMs: round(coldImportanceMs),
  };
}

export async function runImportanceBench(): Promise<object> {
  const out: Record<string, unknown> = { loadAverage: os.loadavg().map(round) };
  if (sharedModels && fs.existsSync(shared('synthetic/resnet18_bn.onnx'))) out.resnet18 = await timeModel('synthetic/resnet18_bn.onnx', shared('synthetic/resnet18_bn.onnx'));
  else out.resnet18 = 'skipped: shared models folder (../shared/models) not present';
  const dir = tempDir('onnx-pruner-bench-');
  try {
    const file = buildResNet50(path.join(dir, 'resnet50.onnx'));
    out.resnet50 = await timeModel('ResNet-50-sized (built in code)', file);
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  out.loadAverageAfter = os.loadavg().map(round);
  for (const v of Object.values(out)) if (typeof v === 'object' && !Array.isArray(v)) console.log(JSON.stringify(v));
  return out;
}

if (process.argv[1]?.endsWith('importance.ts')) {
  runImportanceBench().then((r) => process.stdout.write(`${JSON.stringify(r, null, 2)}\n`));
}
