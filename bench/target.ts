// Pruning to a latency target, measured: on resnet18_bn (shared models), a target of 70% of the
// original's measured latency (CPU, 1 thread, batch 1, median of 20 runs after 5 warm-up); the
// plan is searched by timing candidates, pruned for real, and the written model timed again beside
// the original. Met when the written model's median is within the target plus 10% (the machine's
// noise). The scan runs on 16 random inputs with recovery none (latency does not depend on
// weights; accuracy is meaningless on random weights), so this measures the search, not the scan.
//
// Also: the latency of one 3×3 convolution at 56×56 by output width 56 … 72, to see whether
// widths that are multiples of 8 run faster on this machine: two passes, and the --round-to they
// support (proposeRoundTo; printed, never made the default). TARGET_BENCH_WIDTHS_ONLY=1 stops there.
// Run: node --import tsx bench/target.ts   (or npm run bench -- target)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { AnalysedModel } from '../src/engine/analysed-model.ts';
import { arrayInputSet } from '../src/engine/data/types.ts';
import { seededNormal } from '../src/engine/runtime/inputs.ts';
import { describeLatency, latencyInputs, measureModelLatency } from '../src/engine/runtime/latency.ts';
import { pruneToTarget } from '../src/engine/target/run.ts';
import { proposeRoundTo, type WidthTiming } from '../src/engine/target/latency.ts';
import { ModelProtoType } from '../src/engine/onnx/proto.ts';
import { shared, sharedModels, tempDir } from '../test/helpers/paths.ts';
import { ModelBuilder } from '../test/helpers/modelBuilder.ts';

/** One 3×3 conv, 64 → `width` channels at 56×56, as ONNX bytes. */
function convModel(width: number): Uint8Array {
  const b = new ModelBuilder({ seed: width });
  const x = b.input('x', [1, 64, 56, 56]);
  b.output(b.conv(x, 64, width, { name: 'conv' }), [1, width, 56, 56]);
  return ModelProtoType.encode(ModelProtoType.fromObject(b.build() as never)).finish();
}

export async function runTargetBench(): Promise<object> {
  const load = () => os.loadavg().map((v) => v.toFixed(2)).join(' ');
  const out: Record<string, unknown> = { loadBefore: load() };
  // Width steps: two independent passes; the round-to they support (proposed, printed; the default stays 1)
  const passes: Record<number, WidthTiming>[] = [];
  for (let pass = 0; pass < 2; pass++) {
    const t: Record<number, WidthTiming> = {};
    for (let w = 56; w <= 72; w++) {
      const bytes = convModel(w);
      const feeds = latencyInputs(bytes);
      const m = await measureModelLatency({ bytes, name: `conv${w}` }, feeds, { runs: 20 });
      t[w] = { medianMs: m.medianMs, iqrMs: m.iqrMs };
    }
    passes.push(t);
    console.log(`3×3 conv 64→w at 56×56, pass ${pass + 1}, median ms by w:`, Object.entries(t).map(([w, x]) => `${w}: ${x.medianMs.toFixed(3)}`).join(', '));
  }
  const proposal = proposeRoundTo(passes);
  console.log(`--round-to these timings support: ${proposal.step} (passes: ${proposal.perPass.join(', ')}; ${proposal.stable ? 'stable' : 'not stable'}); the default stays 1`);
  out.convWidthsMs = passes.map((t) => Object.fromEntries(Object.entries(t).map(([w, x]) => [w, x.medianMs])));
  out.roundToProposal = proposal;
  if (process.env.TARGET_BENCH_WIDTHS_ONLY === '1') return { ...out, loadAfter: load() };

  if (!sharedModels) {
    console.log('shared models not present: the resnet18_bn latency target is skipped');
    return { ...out, skipped: 'shared models not present' };
  }
  const dir = tempDir();
  const file = path.join(dir, 'resnet18_bn.onnx');
  fs.copyFileSync(shared('synthetic/resnet18_bn.onnx'), file);
  const per = 3 * 224 * 224;
  const calibration = arrayInputSet('random', [3, 224, 224], seededNormal(16 * per, 3));
  const analysed = AnalysedModel.load(file);
  const original = await measureModelLatency(file, latencyInputs(analysed.graph), { runs: 20 });
  const target = original.medianMs * 0.7;
  console.log(`resnet18_bn original: ${describeLatency(original)}; target ${target.toFixed(2)} ms (70%)`);
  const t0 = performance.now();
  const rep = await pruneToTarget(analysed, { kind: 'latency', ms: target }, { calibration, scanInputs: 16, recover: 'none', ep: 'cpu', out: path.join(dir, 'pruned.onnx'), onProgress: (m) => { if (!m.startsWith('scan ')) console.log(`  … ${m}`); } });
  const seconds = (performance.now() - t0) / 1000;
  const lat = rep.result!.latency!;
  const withinTolerance = lat.pruned.medianMs <= target * 1.1;
  for (const c of rep.latencySearch!.candidates) console.log(`  candidate ${(c.macs / rep.allocation.baseline.macs * 100).toFixed(1)}% MACs: ${describeLatency(c.latency)}${c.meets ? ' (meets)' : ''}`);
  console.log(`written: ${(rep.result!.macs / rep.allocation.baseline.macs * 100).toFixed(1)}% MACs; pruned ${describeLatency(lat.pruned)}`);
  console.log(`original timed again: ${describeLatency(lat.original)}`);
  console.log(`target ${target.toFixed(2)} ms: ${rep.met ? 'met' : `missed by ${rep.miss.toFixed(2)} ms`}; within 10% tolerance: ${withinTolerance}; scan ${rep.scan.seconds} s, whole run ${seconds.toFixed(1)} s`);
  fs.rmSync(dir, { recursive: true, force: true });
  return {
    ...out,
    originalMs: original.medianMs,
    targetMs: target,
    prunedMs: lat.pruned.medianMs,
    originalAgainMs: lat.original.medianMs,
    macsFraction: rep.result!.macs / rep.allocation.baseline.macs,
    met: rep.met,
    withinTolerance,
    candidates: rep.latencySearch!.candidates.map((c) => ({ macsFraction: c.macs / rep.allocation.baseline.macs, medianMs: c.latency.medianMs, iqrMs: c.latency.iqrMs })),
    seconds,
    loadAfter: load(),
  };
}

if (process.argv[1]?.endsWith('target.ts')) {
  void runTargetBench().then((r) => console.log(JSON.stringify(r)));
}
