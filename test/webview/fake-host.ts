// A fake extension host for the model view, running in the preview page: it implements the
// protocol of src/shared/protocol.ts from fixture data (see fixture.ts) so the view can be
// built, looked at and tested in a plain browser. Options come from the page's query string:
//   delay=ms     answer latency          fail=1     the model fails to load
//   empty=1      a model without layers   frozen=1   every group frozen
//   pruned=1     the model was written by ONNX Pruner (comparison)
//   scale=N      repeat the layers N times (thousands of rows)
//   pruneMs=ms   how long a prune run takes
//   criterion=l1, ratio=0.3, scope=global, roundTo=8, minChannels=4   the user's onnxPruner.* settings (the default plan)
//   latency=noise   the pruned model's latency within the original's run-to-run spread
//   dataError=1     the chosen data cannot be used (the state names the file)
//   scanMs=ms    how long the sensitivity scan takes (a small fixed scan; findPlan gives fixed shares)
//   dynamic=1    an input [N, 1, height, width]; setInputShapes re-analyses: MACs scale with height·width over 28·28
//   sizes=JSON   sizes already remembered for the model (with dynamic=1), e.g. {"input":[1,1,64,64]}
//   blockMs=ms   how long measuring the residual blocks takes (blocks: ResNet-style /layerX/layerX.Y/ layers of the fixture)
//   npz=1        a data file chosen is a .npz of three arrays (x, y integer labels, z); chooseArray picks one
//   measureMs=ms how long measuring a data criterion on the calibration inputs takes (a preview ranked by one)
import { isCriterion, isDataCriterion } from '../../src/shared/protocol.ts';
import type { Criterion, ViewBlock, ViewBlocks, DataSetInfo, DataState, ErrorInfo, FromWebview, GroupInfo, Histogram, LayerQuery, LayerRow, PlanPreview, ToWebview, ViewEvent, ViewPlan, ViewScan, ViewScanSettings, ViewRequest as RequestMessage } from '../../src/shared/protocol.ts';
import type { ViewFixture } from './fixture.ts';

declare global {
  interface Window {
    /** Every message the view posted, in order. */
    __messages: FromWebview[];
    /** Every response sent to the view, by request id. */
    __responses: Record<number, ToWebview>;
    /** Sends an event to the view as the host would. */
    __emit: (e: ViewEvent) => void;
    acquireVsCodeApi: () => { postMessage(m: unknown): void; getState(): unknown; setState(s: unknown): void };
  }
}

const q = new URLSearchParams(location.search);
const delay = Number(q.get('delay') ?? 30);
const pruneMs = Number(q.get('pruneMs') ?? 1200);
const fixture = JSON.parse(document.getElementById('fixture')!.textContent!) as ViewFixture;

let { summary, layers, scores, groups } = fixture;
// fixtures written before the input sizes existed
summary = { ...summary, macsComplete: summary.macsComplete ?? true, inputShapes: summary.inputShapes ?? {} };
const scale = Number(q.get('scale') ?? 1);
if (scale > 1) {
  const all: LayerRow[] = [];
  const sc: ViewFixture['scores'] = {};
  const gs: GroupInfo[] = [];
  for (let k = 0; k < scale; k++) {
    const rename = (n: string) => `/block${k}${n}`;
    for (const g of groups) gs.push({ ...g, id: g.id + k * groups.length, layers: g.layers.map(rename), members: g.members.map((m) => ({ ...m, node: rename(m.node) })) });
    for (const l of layers) {
      all.push({ ...l, name: rename(l.name), groupId: l.groupId === null ? null : l.groupId + k * groups.length });
      sc[rename(l.name)] = scores[l.name]!;
    }
  }
  layers = all;
  scores = sc;
  groups = gs;
  summary = { ...summary, layerCount: all.length, prunableLayerCount: all.filter((l) => l.prunable).length, groupCount: gs.length, prunableGroupCount: gs.filter((g) => g.prunable).length };
}
if (q.get('empty')) {
  layers = [];
  groups = [];
  summary = { ...summary, fileName: 'empty.onnx', nodeCount: 0, layerCount: 0, prunableLayerCount: 0, groupCount: 0, prunableGroupCount: 0, params: 0, macs: 0, bnCount: 0, bnFused: false };
}
if (q.get('frozen')) {
  layers = layers.map((l) => ({ ...l, prunable: false, frozenReason: l.frozenReason ?? 'a consumer of its output is not understood by the analysis (Resize with a channel scale)' }));
  groups = groups.map((g) => ({ ...g, prunable: false, reason: g.reason ?? 'a consumer of its output is not understood by the analysis (Resize with a channel scale)' }));
  summary = { ...summary, prunableLayerCount: 0, prunableGroupCount: 0 };
}
if (q.get('pruned')) {
  const widths: Record<string, [number, number]> = {};
  for (const l of layers) widths[l.name] = [l.channels, l.prunable ? Math.max(1, Math.round(l.channels * 0.5)) : l.channels];
  summary = { ...summary, fileName: summary.fileName.replace(/\.onnx$/, '.pruned.onnx'), prunedFrom: { source: summary.fileName, widths, criterion: 'bn-gamma' } };
}
if (q.get('untrusted')) summary = { ...summary, trusted: false };
// dynamic=1: an input whose height and width are symbolic
const baseMacs = summary.macs;
const baseLayerMacs = layers.map((l) => l.macs);
if (q.get('dynamic')) {
  summary = {
    ...summary, inputs: summary.inputs.map((t) => ({ ...t, shape: ['N', 1, 'height', 'width'] })),
    proposedShapes: Object.fromEntries(summary.inputs.map((t) => [t.name, [1, 1, 224, 224]])),
  };
  const remembered = q.get('sizes');
  if (remembered) applySizes(JSON.parse(remembered) as Record<string, number[]>);
  else applySizes({}, 1 / (28 * 28));
}
/** The fake re-analysis: MACs proportional to height·width (the fixture's are at 28×28). */
function applySizes(inputShapes: Record<string, number[]>, factor?: number): void {
  const shape = Object.values(inputShapes)[0];
  const f = factor ?? (shape ? (shape[0]! * shape[2]! * shape[3]!) / (28 * 28) : 1 / (28 * 28));
  // without a size, as the engine says: some layers' MACs depend on it and are not counted
  const note = 'MACs of 3 layer(s) are unknown (their shapes depend on symbolic dimensions or could not be inferred) and counted as 0; give the symbolic input dimensions values to count them.';
  const sized = Object.keys(inputShapes).length > 0;
  summary = { ...summary, inputShapes, macs: Math.round(baseMacs * f), macsComplete: sized, advice: [...summary.advice.filter((a) => a !== note), ...(sized ? [] : [note])] };
  layers = layers.map((l, i) => ({ ...l, macs: Math.round(baseLayerMacs[i]! * f) }));
}
// Residual blocks: one per /layerX/layerX.Y/ prefix of the fixture's layers (ResNet naming), its
// score the max γ of its conv2's channels; measuring gives a fixed change per block.
const blockPrefixes = [...new Set(layers.map((l) => /^(\/layer\d+\/layer\d+\.\d+)\//.exec(l.name)?.[1]).filter((p): p is string => !!p))];
const blockLayers = (prefix: string) => layers.filter((l) => l.name.startsWith(`${prefix}/`) && !l.name.includes('downsample'));
const fakeBlocks: ViewBlock[] = blockPrefixes.map((p) => {
  const conv2 = layers.find((l) => l.name === `${p}/conv2/Conv`);
  const gamma = Math.max(...(conv2 ? scores[conv2.name]?.['bn-gamma'] ?? [] : []));
  return {
    name: `${p}/Add`, nodes: 5, params: blockLayers(p).reduce((a, l) => a + l.params, 0), gamma: Number.isFinite(gamma) ? gamma : null,
    shortcut: layers.some((l) => l.name.startsWith(`${p}/downsample`)) ? 'projection' as const : 'identity' as const, channels: conv2?.channels ?? 0, removable: true,
  };
}).sort((a, b) => (a.gamma ?? 0) - (b.gamma ?? 0));
if (fakeBlocks.length) fakeBlocks[fakeBlocks.length - 1] = { ...fakeBlocks[fakeBlocks.length - 1]!, removable: false, reason: 'Relu \'/layer4/x\' in the branch is also used by Add \'/other\'' };
summary = { ...summary, blockCount: fakeBlocks.length, removableBlockCount: fakeBlocks.filter((b) => b.removable).length };
let measuredBlocks: { data: string; list: ViewBlock[] } | undefined;
function blocksAnswer(): ViewBlocks {
  if (measuredBlocks && measuredBlocks.data === data.calibration?.name) return { blocks: measuredBlocks.list, measured: { data: `${data.calibration.name} (64 of ${data.calibration.count} inputs)`, inputs: 64, labelled: false, seconds: 1.2 } };
  return { blocks: fakeBlocks };
}
// outputs=N: a detector-like model with N outputs
if (q.get('outputs')) summary = { ...summary, outputs: Array.from({ length: Number(q.get('outputs')) }, (_, i) => ({ name: `out_${i}`, elemType: 'float32', shape: [1, 100 * (i + 1), 4] })) };
// scoreMs: the two-phase load of a big model: rows without score statistics first, the scores that long after
const scoreMs = Number(q.get('scoreMs') ?? 0);
let scoredAt = 0;

window.__messages = [];
window.__responses = {};
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const toView = (m: ToWebview) => {
  if (m.kind === 'response') window.__responses[m.id] = m;
  window.dispatchEvent(new MessageEvent('message', { data: m }));
};
window.__emit = (event) => toView({ kind: 'event', event });
const cancelled = new Set<number>();

window.acquireVsCodeApi = () => ({
  postMessage(m: unknown) {
    const msg = JSON.parse(JSON.stringify(m)) as FromWebview;
    window.__messages.push(msg);
    if (window.__messages.length === 1) performance.mark('first-message');
    if (msg.kind === 'cancel') cancelled.add(msg.id);
    if (msg.kind === 'ready') viewReady();
    if (msg.kind === 'request') void answer(msg);
  },
  getState: () => JSON.parse(sessionStorage.getItem('view-state') ?? 'null'),
  setState: (s: unknown) => sessionStorage.setItem('view-state', JSON.stringify(s)),
});

// Loading: a few progress events, then the model is there (or it fails).
const loaded = (async () => {
  const stages = ['Reading the model', 'Indexing the graph', 'Finding channel groups', 'Scoring channels'];
  for (let i = 0; i < stages.length; i++) {
    window.__emit({ type: 'loading', stage: stages[i]!, fraction: i / stages.length });
    await sleep(delay);
  }
  if (q.get('fail')) {
    const error = { message: `${summary.fileName}: not a valid ONNX model (index out of range: 8 + 10 > 12)`, details: 'RangeError: index out of range: 8 + 10 > 12\n    at decodeModel (src/engine/onnx/model.ts:33)' };
    window.__emit({ type: 'loadFailed', error });
    throw error;
  }
})();
loaded.catch(() => {});
// The host sends the first screen unasked once the model is loaded and the view has started (VS
// Code holds messages until the view has loaded), and again to a view that starts again;
// answers come `slowAnswersMs` late.
const settingsPlan: ViewPlan = {
  criterion: (q.get('criterion') ?? 'bn-gamma') as Criterion, ratio: Number(q.get('ratio') ?? 0.5), scope: q.get('scope') === 'global' ? 'global' : 'uniform',
  roundTo: q.get('roundTo') ? Number(q.get('roundTo')) : undefined, minChannels: q.get('minChannels') ? Number(q.get('minChannels')) : undefined, compensate: true,
};
function viewReady(): void {
  void loaded.then(() => {
    const query = { offset: 0, limit: 100, sort: { key: 'macs' as const, descending: true } };
    const page = queryLayers(query);
    // before the scores exist, as the extension does: rows without score statistics
    window.__emit({ type: 'firstScreen', summary: { ...summary, scored: isScored() }, query, page: isScored() ? page : { ...page, rows: page.rows.map((r) => ({ ...r, stats: {} })) }, defaultPlan: settingsPlan });
  }, (error: ErrorInfo) => window.__emit({ type: 'loadFailed', error }));
}
const scored = loaded.then(async () => {
  for (let t = 0; t < scoreMs; t += 100) {
    window.__emit({ type: 'scoring', stage: 'Scoring channels (BN γ, L1, L2, FPGM)', fraction: t / scoreMs });
    await sleep(Math.min(100, scoreMs - t));
  }
  scoredAt = performance.now();
  window.__emit({ type: 'scored', summary: { ...summary, scored: true } });
});
scored.catch(() => {});
const isScored = () => scoredAt > 0;

async function answer(msg: RequestMessage): Promise<void> {
  try {
    await loaded;
    await sleep(delay + Number(q.get('slowAnswersMs') ?? 0));
    const result = await handle(msg);
    if (cancelled.has(msg.id)) throw { message: 'Cancelled', cancelled: true };
    toView({ kind: 'response', id: msg.id, ok: true, result });
  } catch (e) {
    const err = e as { message: string; details?: string; cancelled?: boolean };
    toView({ kind: 'response', id: msg.id, ok: false, error: { message: err.message, details: err.details, cancelled: err.cancelled } });
  }
}

function sortValue(r: LayerRow, key: string): number | string {
  if (key === 'name' || key === 'op') return r[key];
  if (key === 'channels' || key === 'params' || key === 'macs') return r[key];
  if (key === 'group') return r.groupId ?? -1;
  const [c, stat] = key.split('.') as [Criterion, string];
  const s = r.stats[c];
  if (!s) return Number.NEGATIVE_INFINITY;
  return stat === 'below' ? s.below['1e-2'] : (s as unknown as Record<string, number>)[stat] ?? 0;
}

function queryLayers(p: LayerQuery) {
  let rows = layers;
  if (p.filter) {
    const f = p.filter.toLowerCase();
    rows = rows.filter((r) => r.name.toLowerCase().includes(f) || r.op.toLowerCase().includes(f));
  }
  if (p.sort) {
    const { key, descending } = p.sort;
    rows = [...rows].sort((a, b) => {
      const x = sortValue(a, key), y = sortValue(b, key);
      const c = typeof x === 'string' ? x.localeCompare(String(y)) : x - (y as number);
      return descending ? -c : c;
    });
  }
  return { total: rows.length, offset: p.offset, rows: rows.slice(p.offset, p.offset + p.limit) };
}

function histogram(values: number[], bins: number, log: boolean): Histogram | null {
  const v = log ? values.filter((x) => x > 0) : values;
  if (!v.length) return null;
  const lo = Math.min(...v);
  let hi = Math.max(...v);
  if (hi === lo) hi = lo + 1;
  const f = (x: number) => (log ? Math.log10(x) : x);
  const a = f(lo), b = f(hi);
  const edges = Array.from({ length: bins + 1 }, (_, i) => (log ? 10 ** (a + ((b - a) * i) / bins) : a + ((b - a) * i) / bins));
  const counts = new Array<number>(bins).fill(0);
  for (const x of v) counts[Math.min(bins - 1, Math.max(0, Math.floor(((f(x) - a) / (b - a)) * bins)))]!++;
  return { edges, counts, log };
}

/** Which channels of each group the plan removes (the group's first scored layer decides). */
function decide(plan: ViewPlan): Map<number, number[]> {
  const removed = new Map<number, number[]>();
  // a plan-time criterion ranks by the reversed L1 order here (what matters is that it differs from L1)
  const byCrit = (l: string): number[] | undefined => (isCriterion(plan.criterion) ? scores[l]?.[plan.criterion] : scores[l]?.l1?.map((v) => -v));
  const scoreOf = (g: GroupInfo) => g.layers.map(byCrit).find((s) => s) ?? g.layers.map((l) => scores[l]?.l1).find((s) => s);
  let globalCut: number | undefined = plan.threshold;
  if (globalCut === undefined && plan.scope === 'global') {
    const all = groups.filter((g) => g.prunable).flatMap((g) => scoreOf(g) ?? []).sort((x, y) => x - y);
    globalCut = all[Math.floor((plan.ratio ?? 0) * all.length)] ?? Infinity;
  }
  for (const g of groups) {
    if (!g.prunable || g.layers.some((l) => plan.exclude?.includes(l))) continue;
    const s = scoreOf(g);
    if (!s) continue;
    const order = s.map((_, i) => i).sort((x, y) => s[x]! - s[y]!);
    const ov = g.layers.map((l) => plan.overrides?.[l]?.ratio).find((r) => r !== undefined);
    let n = ov !== undefined ? Math.floor(ov * s.length) : globalCut !== undefined ? s.filter((x) => x < globalCut!).length : Math.floor((plan.ratio ?? 0) * s.length);
    let keep = Math.max(plan.minChannels ?? 1, s.length - n);
    const r = plan.roundTo ?? 1;
    if (r > 1) keep = Math.min(s.length, Math.ceil(keep / r) * r);
    n = s.length - keep;
    removed.set(g.id, order.slice(0, Math.max(0, n)));
  }
  return removed;
}

function preview(plan: ViewPlan): PlanPreview {
  const removed = decide(plan);
  const blockNames = plan.removeBlocks && 'names' in plan.removeBlocks ? plan.removeBlocks.names : [];
  const inRemovedBlock = new Set(blockNames.flatMap((n) => blockLayers(n.replace(/\/Add$/, '')).map((l) => l.name)));
  let pb = 0, pa = 0, mb = 0, ma = 0;
  const out: PlanPreview['layers'] = [];
  for (const l of layers) {
    const gone = inRemovedBlock.has(l.name) ? l.channels : l.groupId === null ? 0 : removed.get(l.groupId)?.length ?? 0;
    const after = l.channels - gone;
    out.push({ name: l.name, channelsBefore: l.channels, channelsAfter: after });
    pb += l.params; mb += l.macs;
    pa += l.params * (after / l.channels); ma += l.macs * (after / l.channels);
  }
  const extra = summary.params - pb;
  // symbolic sizes not given: not the MACs of a real input (the engine's macsCaveat)
  const complete = q.get('dynamic') && !Object.keys(summary.inputShapes).length ? { complete: false as const } : {};
  return { params: { before: summary.params, after: Math.round(pa + extra) }, macs: { before: mb, after: Math.round(ma), ...complete }, layers: out, ...(blockNames.length ? { removedBlocks: [...blockNames] } : {}) };
}

// The data the host remembers for the model: the picker is the host's, so choosing gives a made-up set of that role.
const unit = { preset: 'unit' as const, crop: [28, 28] as [number, number], scale: 1 / 255, mean: [0], std: [1], channels: 'rgb' as const, layout: 'nchw' as const };
let data: DataState = { preset: 'auto', recover: 'auto', calibCount: 512, runs: 20, batch: 8, imageInput: true, proposed: unit, preprocess: unit, errors: [], warnings: [] };
function chosenSet(role: 'calibration' | 'evaluation' | 'inputs', pick: 'file' | 'folder'): DataSetInfo {
  const total = role === 'calibration' ? 1000 : 300;
  return {
    name: pick === 'folder' ? `${role}-images` : `${role}.npy`, kind: pick === 'folder' ? 'images' : 'array',
    count: role === 'calibration' ? Math.min(total, data.calibCount) : total, total, sampleShape: [1, 28, 28],
    ...(pick === 'folder' ? { labels: 'folder layout', classes: 10 } : {}),
  };
}
const NPZ_ARRAYS = [
  { name: 'x', shape: [1000, 1, 28, 28], dtype: '<f4', labels: false },
  { name: 'y', shape: [1000], dtype: '<i8', labels: true },
  { name: 'z', shape: [1000], dtype: '<f4', labels: false },
];
const measureMs = Number(q.get('measureMs') ?? 900);
/** The data criteria measured so far, by criterion and calibration choice (the worker keeps them likewise). */
const measured = new Set<string>();
function dataErrors(): string[] {
  return q.get('dataError') && data.calibration ? [`calibration data: ${data.calibration.name}: no samples`] : [];
}

// The sensitivity scan: a small fixed one over the first four prunable groups, cached per choices as the host does.
const scanMs = Number(q.get('scanMs') ?? 600);
const scanCache = new Map<string, ViewScan>();
const scanKey = (p: ViewPlan, settings?: ViewScanSettings) => JSON.stringify([p.criterion, p.compensate ?? true, p.minChannels ?? 1, data.recover, data.calibration?.name, settings?.ratios ?? null, settings?.inputs ?? 64, settings?.breakLoss ?? 30]);
/** The original's latency the fake host answers (ms, median of 20 on the CPU, 1 thread). */
const ORIGINAL_MS = 8;
function fixedScan(plan: ViewPlan, settings?: ViewScanSettings): ViewScan {
  const ratios = [0.1, 0.3, 0.5, 0.7, 0.9];
  void settings;
  // losses per group: tolerant, average, sensitive, breaking at 0.7
  const curves = [[0, 0, 0.5, 1.6, 4], [0, 1.6, 3.1, 9.4, 20], [1.6, 6.3, 14, 31], [0, 3.1, 12.5, 25, 40]];
  const prunable = groups.filter((g) => g.prunable && g.layers.length).slice(0, curves.length);
  return {
    criterion: plan.criterion, recover: data.recover, ratios, inputs: 64, data: `${data.calibration?.name} (64)`, labelled: false, breakLoss: 30,
    baseline: { macs: summary.macs, params: summary.params },
    groups: prunable.map((g, i) => {
      const losses = curves[(i + 1) % curves.length]!;
      return {
        group: g.id, layer: g.layers[0]!, layers: g.layers.length, channels: g.channels,
        points: losses.map((loss, k) => ({ ratio: ratios[k]!, kept: Math.max(1, Math.round(g.channels * (1 - ratios[k]!))), loss, agreement: 1 - loss / 100, drift: loss / 50 })),
        ...(losses.length < ratios.length ? { stoppedEarly: true } : {}),
      };
    }),
    partial: false, seconds: 2.4, source: 'computed',
  };
}

async function handle(msg: RequestMessage): Promise<unknown> {
  switch (msg.method) {
    case 'getLayers': {
      const page = queryLayers(msg.params);
      return isScored() ? page : { ...page, rows: page.rows.map((r) => ({ ...r, stats: {} })) };
    }
    case 'getHistogram': {
      await scored;
      const { criterion, layer, log, bins } = msg.params;
      const values = layer ? scores[layer]?.[criterion] ?? [] : layers.filter((l) => l.prunable).flatMap((l) => scores[l.name]?.[criterion] ?? []);
      return histogram(values, bins ?? 40, !!log);
    }
    case 'getLayerDetail': {
      await scored;
      const l = layers.find((x) => x.name === msg.params.layer);
      if (!l) throw { message: `No layer named ${msg.params.layer}` };
      const g = groups.find((x) => x.id === l.groupId) ?? null;
      const removed = msg.params.plan && g ? fixture.removed?.[l.name] ?? decide(msg.params.plan).get(g.id) ?? [] : [];
      return { name: l.name, op: l.op, channels: l.channels, scores: scores[l.name] ?? {}, removed, group: g };
    }
    case 'previewPlan': {
      await scored;
      const c = msg.params.plan.criterion;
      if (isDataCriterion(c)) {
        if (!data.calibration) throw { message: `criterion ${c} is measured on calibration inputs: choose them under Data and recovery, or rank by a weight criterion`, user: true };
        const key = JSON.stringify([c, data.calibration, data.preprocess]);
        if (!measured.has(key)) {
          const steps = 5;
          for (let i = 0; i < steps; i++) {
            if (cancelled.has(msg.id)) throw { message: 'cancelled', cancelled: true };
            toView({ kind: 'progress', id: msg.id, stage: `Measuring ${c} on ${data.calibration.count} calibration inputs`, fraction: i / steps });
            await sleep(measureMs / steps);
          }
          if (cancelled.has(msg.id)) throw { message: 'cancelled', cancelled: true };
          measured.add(key);
        }
      }
      // a fixture made by the real worker carries the engine's preview (of the default plan, by a weight criterion)
      return (isCriterion(c) ? fixture.preview : undefined) ?? preview(msg.params.plan);
    }
    case 'prune': {
      if (data.errors.length) throw { message: `${data.errors.join('; ')}; nothing written` };
      const stages = ['analysing', 'pruning', ...(data.calibration ? ['recovery: original outputs', 'recovery: reconstruction'] : []), 'writing', 'validating'];
      for (let i = 0; i < stages.length; i++) {
        if (cancelled.has(msg.id)) throw { message: 'Cancelled', cancelled: true };
        toView({ kind: 'progress', id: msg.id, stage: stages[i]!, fraction: i / stages.length });
        await sleep(pruneMs / stages.length);
      }
      if (cancelled.has(msg.id)) throw { message: 'Cancelled', cancelled: true };
      const pv = preview(msg.params.plan);
      const out = summary.fileName.replace(/\.onnx$/, '.pruned.onnx');
      const ratio = pv.params.after / Math.max(1, pv.params.before);
      const runs = data.runs;
      const noise = q.get('latency') === 'noise';
      const calib = data.calibration;
      const recovery = calib
        ? {
            requested: data.recover, steps: ['ls'], why: 'calibration inputs given: least-squares reconstruction of the layers that lost inputs', passes: 4, ms: 812,
            calibration: { source: `/ws/${calib.name}`, count: calib.count }, provider: 'cpu',
            layers: [
              { name: '/features/conv2/Conv', op: 'Conv', step: 'ls', status: 'refit', unknowns: 145, rows: 2000, errorBefore: 0.0427, errorAfter: 0.00051 },
              { name: '/features/pw/Conv', op: 'Conv', step: 'ls', status: 'skipped', reason: 'fewer sampled rows than unknowns' },
            ],
          }
        : { requested: data.recover, steps: ['compensation'], why: 'no calibration inputs: data-free compensation only (give calibration inputs for reconstruction)', passes: 0, layers: [], ms: 0 };
      const ev = data.evaluation;
      const evaluation = ev
        ? {
            source: `/ws/${ev.name}`, count: ev.count, batch: 64, output: summary.outputs[0]?.name ?? 'output', warnings: [],
            ...(ev.labels || data.labelsFile ? { labels: ev.labels ?? data.labelsFile, original: { top1: 0.9133, correct: Math.round(0.9133 * ev.count) }, pruned: { top1: 0.9033, correct: Math.round(0.9033 * ev.count) } } : {}),
            comparison: { top1Agreement: 0.96, meanCosine: 0.98848, minCosine: 0.8887, relativeError: 0.158, meanAbsDiff: 0.43, maxAbsDiff: 4.2 },
          }
        : undefined;
      const source = data.inputs ?? ev ?? calib;
      const tb = msg.params.target;
      // the target checked on the "written" model: MACs/params counted; latency 'missed' in the fake when ?latencyMiss=1
      const check = tb
        ? (() => {
            const lat = (medianMs: number) => ({ medianMs, minMs: medianMs * 0.97, p90Ms: medianMs * 1.05, runs: 20, provider: 'cpu', threads: 1 });
            const unit = tb.kind === 'macs' ? 'MACs' : tb.kind === 'params' ? 'parameters' : tb.kind === 'latency' ? 'ms' : 'points';
            const target = tb.kind === 'latency' ? tb.ms : tb.kind === 'loss' ? tb.points : tb.fraction * pv[tb.kind].before;
            const value = tb.kind === 'latency' ? (q.get('latencyMiss') ? tb.ms * 1.08 : tb.ms * 0.96) : tb.kind === 'loss' ? 0.7 : pv[tb.kind].after;
            const miss = value - target;
            return {
              budget: tb, unit, target, value, met: value <= target, miss, missFraction: miss / target,
              ...(tb.kind === 'latency' ? { latency: { original: lat(ORIGINAL_MS), pruned: lat(value) } } : {}),
              ...(tb.kind === 'loss' ? { loss: { on: ev ? 'evaluation' : 'calibration', unit: 'accuracy', count: ev?.count ?? 64 } } : {}),
            };
          })()
        : undefined;
      return {
        ...(check ? { target: check } : {}),
        report: {
          output: `models/${out}`,
          recovery,
          warnings: [],
          params: pv.params,
          macs: pv.macs,
          size: { before: summary.sizeOnDisk, after: Math.round(summary.sizeOnDisk * ratio) },
          validation: {
            requestedProvider: 'auto', provider: 'cpu', fallbackReason: 'the CUDA provider library is not installed (libonnxruntime_providers_cuda.so)',
            outputs: summary.outputs.map((o) => ({ name: o.name, comparable: true, maxAbsDiff: 0.0123, cosine: 0.99871, top1Agreement: 0.97 })),
            warmup: 1,
            inputs: [{ name: summary.inputs[0]?.name ?? 'input', type: 'float32', dims: [source ? data.batch : 1, 1, 28, 28], source: source ? 'given' : 'random', ...(source ? { file: `${source.name} (first ${data.batch} of ${source.total})` } : {}) }],
            ...(source ? {} : { seed: 0 }),
            original: { sizeBytes: summary.sizeOnDisk, latency: { runs, medianMs: 21.4, minMs: 20.8, p90Ms: 23.9, meanMs: 21.9 } },
            pruned: { sizeBytes: Math.round(summary.sizeOnDisk * ratio), latency: noise ? { runs, medianMs: 20.1, minMs: 18.2, p90Ms: 24.6, meanMs: 20.5 } : { runs, medianMs: 12.9, minMs: 12.6, p90Ms: 13.4, meanMs: 13.0 } },
            ...(evaluation ? { evaluation } : {}),
          },
        },
      };
    }
    case 'validate': return { provider: 'cpu' };
    case 'getGroups': return groups;
    case 'setInputShapes': {
      const { inputShapes } = msg.params;
      for (const [name, shape] of Object.entries(inputShapes)) {
        const t = summary.inputs.find((x) => x.name === name);
        if (!t) throw { message: `the model has no input named ${name}` };
        if (shape.length !== t.shape.length || t.shape.some((d, i) => typeof d === 'number' && d !== shape[i])) throw { message: `input ${name} is [${t.shape.join(', ')}]: ${shape.join('×')} does not fit` };
      }
      applySizes(inputShapes);
      scoredAt = 0;
      // scored again a moment later, as the extension does after a new analysis
      setTimeout(() => { scoredAt = performance.now(); window.__emit({ type: 'scored', summary: { ...summary, scored: true } }); }, Math.max(50, scoreMs));
      return { ...summary, scored: false };
    }
    case 'openFile': return null;
    case 'getData': {
      // a symbolic height and width without a size given: a .f32 file cannot be cut into samples
      const symbolic = q.get('dynamic') && !Object.keys(summary.inputShapes).length;
      data = { ...data };
      if (symbolic) data.f32NeedsSize = 'model input input is [N, 1, height, width]: a .f32 file has no shape, so give the input size (above) to cut it into samples';
      else delete data.f32NeedsSize;
      return data;
    }
    case 'chooseData': {
      const { role, pick } = msg.params;
      data = role === 'labels' ? { ...data, labelsFile: 'labels.npy' } : { ...data, [role]: chosenSet(role, pick) };
      if (role !== 'labels' && pick === 'file' && q.get('npz')) {
        data = { ...data, [role]: { ...chosenSet(role, pick), name: `${role}.npz` }, npz: { ...data.npz, [role]: { file: `${role}.npz`, arrays: NPZ_ARRAYS, array: 'x' } } };
      }
      data = { ...data, errors: dataErrors() };
      return data;
    }
    case 'clearData': {
      const next = { ...data };
      if (msg.params.role === 'labels') {
        delete next.labelsFile;
        if (next.npz?.evaluation) next.npz = { ...next.npz, evaluation: { ...next.npz.evaluation, labels: undefined } };
      } else {
        delete next[msg.params.role];
        if (next.npz?.[msg.params.role]) {
          next.npz = { ...next.npz };
          delete next.npz[msg.params.role];
        }
      }
      data = { ...next, errors: dataErrors() };
      return data;
    }
    case 'scan': {
      if (!data.calibration) throw { message: 'the sensitivity scan needs calibration data: choose it under Data and recovery (each group is measured on those inputs)' };
      const key = scanKey(msg.params.plan, msg.params.settings);
      if (msg.params.cachedOnly) return scanCache.get(key) ?? null;
      const steps = 6;
      for (let i = 0; i < steps; i++) {
        if (cancelled.has(msg.id)) throw { message: 'Cancelled', cancelled: true };
        toView({ kind: 'progress', id: msg.id, stage: `Scan: group ${i + 1} of ${steps}`, fraction: i / steps });
        await sleep(scanMs / steps);
      }
      const s = fixedScan(msg.params.plan, msg.params.settings);
      scanCache.set(key, { ...s, source: 'cache', seconds: 0 });
      return s;
    }
    case 'findPlan': {
      const s = scanCache.get(scanKey(msg.params.plan, msg.params.settings));
      if (!s) throw { message: 'no sensitivity scan for these choices: run Scan first' };
      // the fixed answer: the most tolerant groups lose the most
      const shares = [0.75, 0.5, 0.25];
      const ranked = s.groups.slice(0, shares.length);
      const overrides = Object.fromEntries(ranked.map((g, i) => [g.layer, { ratio: shares[i]! }]));
      const { ratio: _r, threshold: _t, exclude: _e, ...rest } = msg.params.plan;
      void _r; void _t; void _e;
      const plan = { ...rest, scope: 'uniform' as const, ratio: 0, overrides };
      const pv = preview(plan);
      const b = msg.params.budget;
      const lat = (medianMs: number) => ({ medianMs, minMs: medianMs * 0.97, p90Ms: medianMs * 1.05, runs: 20, provider: 'cpu', threads: 1 });
      return {
        plan, budget: b, target: b.kind === 'latency' ? b.ms : b.kind === 'loss' ? b.points : b.fraction * pv[b.kind].before, baseline: { macs: pv.macs.before, params: pv.params.before },
        predicted: { macs: pv.macs.after, params: pv.params.after, loss: 1.6 }, met: true,
        ratios: ranked.map((g, i) => ({ group: g.group, layer: g.layer, ratio: shares[i]!, loss: 0.5 })), notes: [],
        ...(b.kind === 'latency' ? { latency: { original: lat(ORIGINAL_MS), plan: lat(b.ms * 0.95) } } : {}),
        ...(b.kind === 'loss' ? { measuredLoss: { points: Math.min(b.points, 0.8), on: data.evaluation ? 'evaluation' : 'calibration' } } : {}),
      };
    }
    case 'getBlocks': {
      if (!msg.params.measure) return blocksAnswer();
      if (!data.calibration) throw { message: 'measuring the blocks needs calibration data: choose it under Data and recovery (each block is removed alone and measured on those inputs)' };
      const blockMs = Number(q.get('blockMs') ?? 600);
      for (let i = 0; i < fakeBlocks.length; i++) {
        if (cancelled.has(msg.id)) throw { message: 'Cancelled', cancelled: true };
        toView({ kind: 'progress', id: msg.id, stage: `Blocks: without ${fakeBlocks[i]!.name}`, fraction: (i + 1) / (fakeBlocks.length + 1) });
        await sleep(blockMs / Math.max(1, fakeBlocks.length));
      }
      // the data disagrees with γ: the last removable block by γ changes the output least
      const removable = fakeBlocks.filter((b) => b.removable);
      const list = [...removable].reverse().map((b, i) => ({ ...b, data: { loss: i * 1.5, agreement: 1 - i * 0.015, drift: 0.05 + i * 0.1 } }));
      measuredBlocks = { data: data.calibration.name, list: [...list, ...fakeBlocks.filter((b) => !b.removable)] };
      return blocksAnswer();
    }
    case 'chooseArray': {
      const { role, array } = msg.params;
      const of = role === 'labels' ? 'evaluation' : role;
      const npz = data.npz?.[of];
      if (!npz) throw { message: `the ${of} data is not a .npz file: there is no array to choose`, user: true };
      const a = NPZ_ARRAYS.find((x) => x.name === array);
      if (role === 'labels') {
        data = { ...data, labelsFile: `${npz.file}:${array}`, npz: { ...data.npz, evaluation: { ...npz, labels: array } } };
        data.errors = a?.labels ? dataErrors() : [...dataErrors(), `evaluation data: ${npz.file}:${array}: labels must be integers, the array is ${a?.dtype ?? 'missing'}`];
      } else {
        data = { ...data, npz: { ...data.npz, [role]: { ...npz, array } } };
        data.errors = a && a.shape.length >= 2 ? dataErrors() : [...dataErrors(), `${role} data: ${npz.file}:${array}: shape (${a?.shape.join(', ')}) has no sample dimension; inputs are [count, ...sample shape]`];
      }
      return data;
    }
    case 'measureLatency': {
      // timed at the size given (dynamic=1), scaling with height·width
      const shape = summary.inputShapes.input ?? [1, 1, 28, 28];
      const scale = (shape[2]! * shape[3]!) / (28 * 28);
      return { medianMs: ORIGINAL_MS * scale, minMs: 7.8 * scale, p90Ms: 8.6 * scale, runs: 20, provider: 'cpu', threads: 1, inputs: { input: shape } };
    }
    case 'setDataOptions': {
      data = { ...data, ...msg.params };
      if (msg.params.preset === 'custom') data.preprocess = { ...(msg.params.custom ?? data.custom ?? unit), crop: msg.params.custom?.crop ?? [28, 28] };
      else if (msg.params.preset) data.preprocess = msg.params.preset === 'auto' ? unit : { ...unit, preset: msg.params.preset, ...(msg.params.preset === 'fmnist' ? { mean: [0.286], std: [0.353] } : {}) };
      if (msg.params.calibCount && data.calibration) data.calibration = { ...data.calibration, count: Math.min(data.calibration.total, msg.params.calibCount) };
      return data;
    }
  }
}
