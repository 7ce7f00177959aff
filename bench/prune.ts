// Prune pipeline time and memory: load → analysis → importance → plan → surgery (+compensation) →
// write, on resnet18_bn (shared models) and on a ResNet-50-sized model built in code (bottlenecks
// 3-4-6-3, ~25.6 M parameters). Each run is a fresh child process, so its peak RSS
// (process.resourceUsage().maxRSS) is the pipeline's alone. Then validation of the pruned resnet18:
// session creation and run times from the ValidationReport.
// Run: node --import tsx bench/prune.ts
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { pruneModel } from '../src/engine/prune/prune.ts';
import { validatePruned } from '../src/engine/runtime/validate.ts';
import type { Criterion } from '../src/engine/prune/types.ts';
import { buildResNet50 } from './analysis.ts';
import { shared, sharedModels, tempDir } from '../test/helpers/paths.ts';

interface ChildResult {
  model: string;
  criterion: Criterion;
  params: { before: number; after: number };
  /** Stage times (ms) as the report gives them. */
  timings: Record<string, number>;
  /** analysis + plan + surgery + write: the pipeline without loading and without importance scoring. */
  pruneMs: number;
  /** Everything, as a CLI run pays it (in-process, after module load). */
  totalMs: number;
  /** Peak resident set of the child process, MiB. */
  maxRssMiB: number;
}

const round = (v: number) => Math.round(v * 10) / 10;

/** The child: one pipeline run, printed as JSON on the last line. */
async function child(model: string, out: string, criterion: Criterion): Promise<void> {
  const t0 = performance.now();
  const r = await pruneModel(model, { version: 1, criterion, scope: 'uniform', ratio: 0.5 }, { out, force: true });
  const totalMs = performance.now() - t0;
  const t = r.timings;
  const res: ChildResult = {
    model: path.basename(model),
    criterion,
    params: r.params,
    timings: t,
    pruneMs: round((t.analysisMs ?? 0) + (t.planMs ?? 0) + (t.surgeryMs ?? 0) + (t.saveMs ?? 0)),
    totalMs: round(totalMs),
    maxRssMiB: round(process.resourceUsage().maxRSS / 1024),
  };
  process.stdout.write(`${JSON.stringify(res)}\n`);
}

function runChild(model: string, out: string, criterion: Criterion): ChildResult {
  const r = spawnSync(process.execPath, ['--import', 'tsx', __filename, '--child', model, out, criterion], { encoding: 'utf8', maxBuffer: 1 << 24 });
  if (r.status !== 0) throw new Error(`child failed on ${model}: ${r.stderr}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as ChildResult;
}

export async function runPruneBench(): Promise<object> {
  const dir = tempDir('onnx-pruner-bench-');
  const results: ChildResult[] = [];
  let validation: object | undefined;
  try {
    const models: string[] = [];
    if (sharedModels) models.push(shared('synthetic/resnet18_bn.onnx'));
    models.push(buildResNet50(path.join(dir, 'resnet50_built.onnx')));
    for (const model of models) {
      for (const criterion of ['bn-gamma', 'l1'] as Criterion[]) {
        const out = path.join(dir, `${path.basename(model, '.onnx')}.${criterion}.pruned.onnx`);
        const r = runChild(model, out, criterion);
        results.push(r);
        const t = r.timings;
        console.log(
          `${r.model.padEnd(22)} ${criterion.padEnd(8)} params ${(r.params.before / 1e6).toFixed(2)} M → ${(r.params.after / 1e6).toFixed(2)} M  ` +
            `load ${t.loadMs} ms, analysis ${t.analysisMs} ms, importance ${t.importanceMs} ms, plan ${t.planMs} ms, surgery ${t.surgeryMs} ms, write ${t.saveMs} ms; ` +
            `analysis+plan+surgery+write ${r.pruneMs} ms; total ${r.totalMs} ms; peak RSS ${r.maxRssMiB} MiB`,
        );
      }
    }
    if (sharedModels) {
      const pruned = path.join(dir, 'resnet18_bn.l1.pruned.onnx');
      const v = await validatePruned(shared('synthetic/resnet18_bn.onnx'), pruned, { ep: 'cpu', runs: 10, warmup: 2 });
      validation = {
        model: 'resnet18_bn (l1, uniform 0.5)',
        provider: v.provider,
        sessionMs: { original: v.original.sessionMs, pruned: v.pruned.sessionMs },
        latencyMedianMs: { original: v.original.latency.medianMs, pruned: v.pruned.latency.medianMs },
        runs: v.original.latency.runs,
      };
      console.log(`validation resnet18_bn: session creation ${v.original.sessionMs} ms / ${v.pruned.sessionMs} ms (original / pruned), median run ${v.original.latency.medianMs} ms / ${v.pruned.latency.medianMs} ms`);
    } else console.log('shared models absent: resnet18 and validation skipped');
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { runs: results, validation };
}

// Direct run: `node --import tsx bench/prune.ts` (or the child mode used above).
if (process.argv[1]?.endsWith(`${path.sep}prune.ts`) && path.basename(path.dirname(process.argv[1])) === 'bench') {
  const i = process.argv.indexOf('--child');
  if (i >= 0) void child(process.argv[i + 1], process.argv[i + 2], process.argv[i + 3] as Criterion);
  else void runPruneBench().then((r) => console.log(JSON.stringify(r)));
}
