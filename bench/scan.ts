// Sensitivity scan cost: resnet18_bn (shared models) and, with `--resnet50` (or SCAN_RESNET50=1),
// a ResNet-50-sized model built in code; 64 seeded random inputs at 224×224, the 9 default ratios,
// criterion l1, recovery `none` (and `--recover MODE` / SCAN_RECOVER=MODE for another). For
// comparison, one plain ONNX Runtime forward pass of the original model over the same 64 inputs
// (same batch, same threads, session creation excluded; after a warm-up pass, the median of
// three): "scan = N full passes" (target ≤ 20 for ResNet-18). Then the cache hit: the same scan
// again on a freshly loaded model (the file hashed, the cache read). The scan with the cut (only the graph after a group runs, on cached
// activations) and, with `--no-cut-too`, without it, to see what the cut saves. Under load the ratio
// of CPU times (scan / forward pass, every thread counted) is steadier than the wall-clock one.
// Run: node --import tsx bench/scan.ts [--resnet50] [--recover MODE] [--no-cut-too]
import * as fs from 'node:fs';
import * as path from 'node:path';
import { AnalysedModel } from '../src/engine/analysed-model.ts';
import { arrayInputSet } from '../src/engine/data/types.ts';
import { seededNormal } from '../src/engine/runtime/inputs.ts';
import { createSession } from '../src/engine/runtime/session.ts';
import { defaultBatchSize, defaultRecoveryThreads } from '../src/engine/recovery/working.ts';
import { scanSensitivity, type ScanResult } from '../src/engine/target/scan.ts';
import type { RecoverMode } from '../src/engine/recovery/types.ts';
import { buildResNet50 } from './analysis.ts';
import { shared, sharedModels, tempDir } from '../test/helpers/paths.ts';

const COUNT = 64;
const SAMPLE = [3, 224, 224];
const round = (v: number) => Math.round(v * 10) / 10;

/** CPU time of the process (every thread, ONNX Runtime's included), ms. */
const cpuMs = () => {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
};

/** One pass of the original over the 64 inputs: a warm-up pass, then the median of three (wall and CPU). */
async function forwardMs(model: string, data: Float32Array): Promise<{ wall: number; cpu: number }> {
  const { session, ort } = await createSession(model, 'auto', { threads: defaultRecoveryThreads() });
  const per = SAMPLE.reduce((a, b) => a * b, 1);
  const batch = Math.min(COUNT, defaultBatchSize(per));
  const pass = async () => {
    const t = performance.now();
    const c = cpuMs();
    for (let o = 0; o < COUNT; o += batch) {
      const n = Math.min(batch, COUNT - o);
      await session.run({ [session.inputNames[0]]: new ort.Tensor('float32', data.subarray(o * per, (o + n) * per), [n, ...SAMPLE]) });
    }
    return { wall: performance.now() - t, cpu: cpuMs() - c };
  };
  try {
    await pass();
    const runs = [await pass(), await pass(), await pass()];
    const median = (k: 'wall' | 'cpu') => runs.map((r) => r[k]).sort((a, b) => a - b)[1];
    return { wall: median('wall'), cpu: median('cpu') };
  } finally {
    await session.release();
  }
}

interface ScanRun {
  model: string;
  recover: RecoverMode;
  cut: boolean;
  forwardMs: number;
  scanMs: number;
  passes: number;
  /** The scan's CPU time over the forward pass's (under load, steadier than the wall-clock ratio). */
  cpuPasses: number;
  points: number;
  stoppedEarly: number;
  stats: ScanResult['stats'];
  cacheHitMs?: number;
  loadMs?: number;
  provider?: string;
}

export async function runScanBench(opts: { resnet50?: boolean; recover?: RecoverMode; noCutToo?: boolean } = {}): Promise<object> {
  const dir = tempDir('onnx-pruner-bench-');
  const runs: ScanRun[] = [];
  const recover = opts.recover ?? ((process.env.SCAN_RECOVER as RecoverMode | undefined) ?? 'none');
  try {
    const models: string[] = [];
    if (sharedModels) {
      const copy = path.join(dir, 'resnet18_bn.onnx');
      fs.copyFileSync(shared('synthetic/resnet18_bn.onnx'), copy);
      models.push(copy);
    } else console.log('shared models absent: resnet18 skipped');
    if (opts.resnet50 ?? process.env.SCAN_RESNET50 === '1') models.push(buildResNet50(path.join(dir, 'resnet50_built.onnx')));
    const x = seededNormal(COUNT * SAMPLE.reduce((a, b) => a * b, 1), 7);
    const data = arrayInputSet('random', SAMPLE, x);
    for (const model of models) {
      const fwd = await forwardMs(model, x);
      for (const cut of opts.noCutToo ? [true, false] : [true]) {
        const m = AnalysedModel.load(model);
        const t = performance.now();
        const c0 = cpuMs();
        const scan = await scanSensitivity(m, data, { criterion: 'l1', recover, count: COUNT, cut, cache: cut, ep: 'auto' });
        const scanMs = performance.now() - t;
        const scanCpu = cpuMs() - c0;
        const run: ScanRun = {
          model: path.basename(model),
          recover,
          cut,
          forwardMs: round(fwd.wall),
          scanMs: round(scanMs),
          passes: round(scanMs / fwd.wall),
          cpuPasses: round(scanCpu / fwd.cpu),
          points: scan.groups.reduce((n, g) => n + g.points.length, 0),
          stoppedEarly: scan.groups.filter((g) => g.stoppedEarly).length,
          stats: scan.stats,
        };
        if (cut) {
          const l0 = performance.now();
          const again = AnalysedModel.load(model);
          run.loadMs = round(performance.now() - l0);
          const h0 = performance.now();
          const hit = await scanSensitivity(again, data, { criterion: 'l1', recover, count: COUNT, cache: true });
          run.cacheHitMs = round(performance.now() - h0);
          if (hit.source !== 'cache') throw new Error('the second scan was not read from the cache');
        }
        runs.push(run);
        const s = run.stats!;
        console.log(
          `${run.model.padEnd(20)} scan ${scan.groups.length} groups × 9 ratios, ${COUNT} inputs 224×224, l1, recover ${recover}, ${cut ? 'cut' : 'whole model'}: ` +
            `${(scanMs / 1000).toFixed(1)} s = ${run.passes} full passes (one pass ${(fwd.wall / 1000).toFixed(2)} s; by CPU time ${run.cpuPasses}); ${run.points} points (${run.stoppedEarly} groups stopped early), ` +
            `${s.runs} ORT passes (${s.cutRuns} after the cut, ${s.fullRuns} whole), ${s.macPasses} full passes by MACs (${s.prefixPasses} before the cuts); surgery+recovery ${(s.pruneMs / 1000).toFixed(1)} s, building ${(s.buildMs / 1000).toFixed(1)} s, ORT ${(s.runMs / 1000).toFixed(1)} s` +
            (run.cacheHitMs !== undefined ? `; cache hit ${run.cacheHitMs} ms (+ load ${run.loadMs} ms)` : ''),
        );
      }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { runs };
}

if (process.argv[1]?.endsWith(`${path.sep}scan.ts`) && path.basename(path.dirname(process.argv[1])) === 'bench') {
  const i = process.argv.indexOf('--recover');
  void runScanBench({
    resnet50: process.argv.includes('--resnet50'),
    noCutToo: process.argv.includes('--no-cut-too'),
    ...(i >= 0 ? { recover: process.argv[i + 1] as RecoverMode } : {}),
  }).then((r) => console.log(JSON.stringify(r)));
}
