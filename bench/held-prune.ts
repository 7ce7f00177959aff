// Prune from the held analysis: a ResNet-50-sized model (bench/analysis.ts's builder, ~25.6 M
// parameters, ~100 MB) is opened and scored in the engine worker (as the model view does), then
// pruned through the worker's `prune` request: time from the request to the written file, with the
// model open (the worker prunes the AnalysedModel it holds) against the same request for a model
// that is not open (the file is read, analysed and scored again: the path every prune took before).
// Both are timed after one untimed warm-up prune, in turns (held, then reload).
// Runs the real worker bundle (needs `npm run build`).
//   npm run bench -- held-prune    or    node --import tsx bench/held-prune.ts [--repeats N]
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { EngineClient } from '../src/extension/engineClient.ts';
import { buildResNet50 } from './analysis.ts';
import { repoRoot } from '../test/helpers/paths.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!;

export async function runHeldPruneBench(argv: string[] = process.argv.slice(2)): Promise<object> {
  const worker = path.join(repoRoot, 'dist', 'worker.js');
  if (!fs.existsSync(worker)) return { skipped: 'dist/worker.js missing (npm run build)' };
  const i = argv.indexOf('--repeats');
  const repeats = i >= 0 ? Number(argv[i + 1]) : 3;
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-pruner-held-'));
  const keepAlive = setInterval(() => {}, 1000); // the worker is unref'd
  const engine = new EngineClient(worker);
  try {
    const held = buildResNet50(path.join(dir, 'resnet50_bn.onnx'));
    const cold = path.join(dir, 'resnet50_bn_cold.onnx');
    fs.copyFileSync(held, cold);
    const plans = {
      compensated: { criterion: 'l1' as const, ratio: 0.3, scope: 'uniform' as const, compensate: true },
      uncompensated: { criterion: 'l1' as const, ratio: 0.3, scope: 'uniform' as const, compensate: false },
    };
    await engine.request('providers', {});
    const t0 = performance.now();
    await engine.request('open', { path: held });
    await engine.request('score', { path: held });
    const openMs = Math.round(performance.now() - t0);
    const time = async (file: string, n: number, plan: (typeof plans)[keyof typeof plans]) => {
      const out = path.join(dir, `out-${path.basename(file, '.onnx')}-${n}.onnx`);
      const t = performance.now();
      const report = await engine.request('prune', { path: file, plan, out, validate: false, ep: 'cpu' });
      const ms = performance.now() - t;
      fs.rmSync(report.output, { force: true });
      return ms;
    };
    const r: Record<string, unknown> = { model: { bytes: fs.statSync(held).size }, open_and_score_ms: openMs };
    // One untimed prune of each kind first (of a third copy, not open): the first prune in a worker
    // also compiles the surgery, compensation and save code, which would be charged to whichever
    // path ran first.
    const warm = path.join(dir, 'resnet50_bn_warm.onnx');
    fs.copyFileSync(held, warm);
    for (const plan of Object.values(plans)) await time(warm, -1, plan);
    for (const [name, plan] of Object.entries(plans)) {
      const heldMs: number[] = [];
      const coldMs: number[] = [];
      for (let n = 0; n < repeats; n++) {
        heldMs.push(await time(held, n, plan));
        coldMs.push(await time(cold, n, plan));
      }
      const speedup = Math.round((median(coldMs) / median(heldMs)) * 100) / 100;
      r[name] = { held_prune_ms: heldMs.map(Math.round), reload_prune_ms: coldMs.map(Math.round), speedup };
      console.log(`resnet50_bn, l1 0.3 ${name}: prune from the held analysis ${heldMs.map(Math.round).join(', ')} ms; reloading ${coldMs.map(Math.round).join(', ')} ms; ${speedup}× (median)`);
    }
    r.loadavg = os.loadavg().map((x) => Math.round(x * 10) / 10);
    console.log(`(open + score ${openMs} ms; load average ${(r.loadavg as number[]).join(' ')})`);
    return r;
  } finally {
    engine.dispose();
    clearInterval(keepAlive);
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

if (process.argv[1]?.endsWith(`${path.sep}held-prune.ts`)) void runHeldPruneBench().then((r) => console.log(JSON.stringify(r)));
