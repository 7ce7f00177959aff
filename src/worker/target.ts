// Pruning to a target from the view: the sensitivity scan on the calibration data chosen in the
// view (cached beside the model: a model opened again answers from the cache), and the plan that
// meets a MACs or parameter budget with the least predicted loss. No vscode import.
import * as path from 'node:path';
import {
  addPlanScores, allocate, atDataSize, CancelledError, candidateName, chooseMeasured, DEFAULT_BLENDS, isCriterion, scanBlocks, findLatencyPlan, findLossPlan, hashModelFiles, latencyInputs, measureLoss, measureModelLatency, PrunerError, readScanCache, scanCacheKey, scanSensitivity, scanSettings, stoppedAtBreakLoss, unreachableMessage, throwIfAborted, valueInfoShape,
  type Allocation, type AnalysedModel, type InputSet, type LatencyMeasurement, type ScanOptions, type SensitivityScan,
} from '../engine/index.ts';
import { viewPlanOf, type ViewBlocks, type FoundPlan, type LatencyView, type TargetCheck, type ViewBudget, type ViewPlan, type ViewScan, type ViewScanSettings } from '../shared/protocol.ts';
import type { DataJob } from './data.ts';
import { openData } from './data.ts';
import type { JobContext, ModelService } from './modelService.ts';

/** Latency as a latency target measures it (the command line's defaults): CPU, 1 thread, median of 20 runs after warm-up. */
const LATENCY = { ep: 'cpu', threads: 1 } as const;

export const latencyView = (m: LatencyMeasurement): LatencyView => ({ medianMs: m.medianMs, minMs: m.minMs, p90Ms: m.p90Ms, runs: m.runs, provider: m.provider, threads: m.threads, inputs: m.inputs });

/** The calibration inputs chosen in the view, opened against the model (a clear message when there are none). */
async function calibrationOf(analysed: AnalysedModel, data: DataJob, what = 'the sensitivity scan', each = 'each group'): Promise<InputSet> {
  const { opened, state } = await openData(data, analysed.graph, analysed.inputShapes);
  if (state.unavailable) throw new PrunerError(`${analysed.fileName}: ${what} cannot run: ${state.unavailable}`, { subject: analysed.path });
  const calibErr = state.errors.find((e) => e.startsWith('calibration'));
  if (calibErr) throw new PrunerError(`${calibErr}; nothing measured`);
  if (!opened.calibration) throw new PrunerError(`${what} needs calibration data: choose it under Data and recovery (${each} is measured on those inputs)`);
  return opened.calibration;
}

/** The scan's options from the view's plan, data options and scan settings (the same as the CLI's `prune --target-*` for the same choices). */
function scanOptions(plan: ViewPlan, data: DataJob, settings: ViewScanSettings = {}): ScanOptions {
  return {
    criterion: plan.criterion, recover: data.recover, compensate: plan.compensate ?? true, minChannels: plan.minChannels ?? 1,
    ...(settings.ratios ? { ratios: settings.ratios } : {}),
    ...(settings.inputs !== undefined ? { count: settings.inputs } : {}),
    ...(settings.breakLoss !== undefined ? { breakLoss: settings.breakLoss } : {}),
  };
}

export function viewScan(s: SensitivityScan): ViewScan {
  const st = s.settings;
  return {
    criterion: st.criterion, recover: st.recover, ratios: [...st.ratios], inputs: st.inputs, data: st.data, labelled: st.labelled, breakLoss: st.breakLoss,
    baseline: { macs: s.baseline.macs, params: s.baseline.params },
    groups: s.groups.map((g) => ({
      group: g.group, layer: g.layers[0] ?? `group ${g.group}`, layers: g.layers.length, channels: g.channels,
      points: g.points.map((p) => ({ ratio: p.ratio, kept: p.kept, loss: p.loss, agreement: p.agreement, drift: p.drift })),
      ...(g.stoppedEarly ? { stoppedEarly: true } : {}),
    })),
    partial: s.partial, seconds: s.seconds, source: s.source,
  };
}

const cacheKeyOf = (analysed: AnalysedModel, calibration: InputSet, opts: ScanOptions) =>
  `${analysed.path}\u0000${scanCacheKey(hashModelFiles(analysed.model), scanSettings(calibration, opts), calibration, { compensate: opts.compensate ?? true, minChannels: opts.minChannels ?? 1 })}`;

/**
 * The last complete scans of one worker, by model and cache key: Find plan works when the model's
 * folder cannot hold the cache file.
 */
export type RecentScans = Map<string, SensitivityScan>;
const RECENT = 8;

/** The scan for these choices (the last ones computed here, else the cache file beside the model), if any: nothing is computed. */
async function cachedScan(recent: RecentScans, analysed: AnalysedModel, calibration: InputSet, opts: ScanOptions): Promise<SensitivityScan | undefined> {
  const key = cacheKeyOf(analysed, calibration, opts);
  return recent.get(key) ?? readScanCache(analysed.path, key.slice(key.indexOf('\u0000') + 1));
}

/** Scans (or reads the cache); `cachedOnly` answers the cached scan or null. A cancelled scan keeps its measured part in the cache and throws CancelledError. */
export async function scanJob(recent: RecentScans, analysed: AnalysedModel, p: { plan: ViewPlan; data: DataJob; cachedOnly: boolean; settings?: ViewScanSettings; ep?: 'auto' | 'cuda' | 'cpu' }, ctx: JobContext): Promise<ViewScan | null> {
  const calibration = await calibrationOf(analysed, p.data);
  const opts = scanOptions(p.plan, p.data, p.settings);
  if (p.cachedOnly) {
    const hit = await cachedScan(recent, analysed, calibration, opts);
    return hit ? viewScan({ ...hit, source: 'cache', seconds: 0 }) : null;
  }
  const scan = await scanSensitivity(analysed, calibration, {
    ...opts,
    ep: p.ep ?? 'auto',
    signal: ctx.signal,
    onProgress: (f, what) => ctx.progress(`Scan: ${what}`, f),
  });
  if (scan.partial && ctx.signal.aborted) throw new CancelledError();
  if (!scan.partial) {
    const key = cacheKeyOf(analysed, calibration, opts);
    recent.delete(key);
    recent.set(key, scan);
    if (recent.size > RECENT) recent.delete(recent.keys().next().value!);
  }
  return viewScan(scan);
}

/** The original's latency per loaded model and input size (a latency target and the view's display measure it once). */
const originalLatency = new WeakMap<object, Map<string, LatencyMeasurement>>();

/** The open model's latency in ONNX Runtime on this machine, as a latency target measures it (measured once per loaded model). */
export async function measureLatencyJob(analysed: AnalysedModel, ctx: JobContext): Promise<LatencyView> {
  return latencyView(await originalLatencyOf(analysed, ctx));
}

async function originalLatencyOf(analysed: AnalysedModel, ctx: JobContext): Promise<LatencyMeasurement> {
  let bySize = originalLatency.get(analysed.model);
  if (!bySize) originalLatency.set(analysed.model, (bySize = new Map()));
  const size = JSON.stringify(analysed.inputShapes);
  let m = bySize.get(size);
  if (!m) {
    ctx.progress('Timing the original model', undefined);
    m = await measureModelLatency(analysed.path, latencyInputs(analysed.graph, {}, analysed.inputShapes), { ...LATENCY, signal: ctx.signal });
    bySize.set(size, m);
  }
  return m;
}

/**
 * The plan meeting `budget` from the cached scan (run the scan first): MACs and parameters by the
 * allocation; a latency by timing candidates (findLatencyPlan); a maximum loss by measuring
 * recovered candidates on the evaluation data, else the calibration data (findLossPlan) — as
 * `prune --target-*` does.
 */
export async function findPlanJob(recent: RecentScans, analysed: AnalysedModel, p: { plan: ViewPlan; data: DataJob; budget: ViewBudget; settings?: ViewScanSettings }, ctx: JobContext): Promise<FoundPlan> {
  const { opened } = await openData(p.data, analysed.graph);
  const calibration = await calibrationOf(analysed, p.data);
  const opts = scanOptions(p.plan, p.data, p.settings);
  const scan = await cachedScan(recent, analysed, calibration, opts);
  if (!scan) throw new PrunerError(`${analysed.fileName}: no sensitivity scan for this criterion (${p.plan.criterion}), recovery (${p.data.recover}), calibration data and scan settings: run Scan first`, { subject: analysed.path });
  if (scan.partial) throw new PrunerError(`${analysed.fileName}: the sensitivity scan is partial (cancelled): run Scan again to complete it`, { subject: analysed.path });
  throwIfAborted(ctx.signal);
  // A budget counted on the input's size (MACs; a latency timed on an input of that size) needs the
  // size the model runs at: the view's MACs, preview and prune count symbolic sizes as 1 until one is given.
  if ((p.budget.kind === 'macs' || p.budget.kind === 'latency') && atDataSize(analysed, calibration.sampleShape) !== analysed) {
    const input = analysed.graph.inputs[0];
    const dims = (input ? valueInfoShape(input) : undefined) ?? [];
    throw new PrunerError(
      `${analysed.fileName}: its input ${input?.name ?? ''} has symbolic sizes [${dims.join(', ')}], counted as 1 until you give them: give the input size (the banner above the summary; the calibration data's is ${calibration.sampleShape.join('×')}) so that the ${p.budget.kind === 'macs' ? 'MACs' : 'latency'} budget is counted at the size the model runs at`,
      { subject: analysed.path },
    );
  }
  ctx.progress('Finding the plan', undefined);
  const deps = analysed.dependencies(ctx.signal);
  const importance = await analysed.scores(isCriterion(p.plan.criterion) ? p.plan.criterion : [], { signal: ctx.signal });
  // sketch and the data criteria are scored as the scan and a prune score them (the data criteria on the same calibration inputs)
  addPlanScores(importance, p.plan.criterion, await analysed.planScores(p.plan.criterion, { calibration, signal: ctx.signal }));
  const model = { graph: analysed.graph, deps, importance };
  const aopts = { roundTo: p.plan.roundTo ?? 1, minChannels: p.plan.minChannels ?? 1, compensate: p.plan.compensate ?? true, model: path.basename(analysed.path), signal: ctx.signal };
  const b = p.budget;
  let a: Allocation;
  let latency: FoundPlan['latency'];
  let measuredLoss: FoundPlan['measuredLoss'];
  const notes: string[] = [];
  let target: number;
  let met: boolean;
  let bestReachable: number | undefined;
  if (b.kind === 'latency') {
    const original = await originalLatencyOf(analysed, ctx);
    const found = await findLatencyPlan(model, scan, b.ms, { ...aopts, ...LATENCY, shapes: analysed.inputShapes, original, onProgress: (m) => ctx.progress(m, undefined) });
    a = found.allocation;
    latency = { original: latencyView(found.original), plan: latencyView(found.latency) };
    target = b.ms;
    met = found.met;
    if (!met) {
      bestReachable = found.latency.medianMs;
      notes.push(`no candidate measured runs within ${b.ms} ms: the fastest ran in ${found.latency.medianMs.toFixed(2)} ms (median of ${found.latency.runs}; the original ${found.original.medianMs.toFixed(2)} ms); the plan set is that one`);
      breakLossNote(notes, scan);
    }
  } else if (b.kind === 'loss') {
    const found = await findLossPlan(analysed, model, scan, b.points, {
      calibration, ...(opened.evaluation ? { evaluation: opened.evaluation } : {}), recover: p.data.recover, ep: 'auto', aopts, signal: ctx.signal, onProgress: (m) => ctx.progress(m, undefined),
    });
    a = found.allocation;
    measuredLoss = { points: found.measured, on: found.on };
    target = b.points;
    met = true;
    if (found.on === 'calibration') notes.push('the loss was measured on the calibration inputs, which recovery fitted: choose evaluation data for a figure on other inputs');
  } else {
    a = allocate(model, scan, { kind: b.kind, fraction: b.fraction }, { ...aopts, blends: DEFAULT_BLENDS });
    target = a.target;
    met = a.met;
    if (!a.met) {
      bestReachable = a.bestReachable;
      notes.push(unreachableMessage(a, scan));
      // the view shows its own line for the sentence above, not the way further: this one it shows
      breakLossNote(notes, scan);
    } else if ((a.candidates?.length ?? 0) > 1) {
      // as prune --target-macs / --target-params: the allocation measured against its blends with a uniform ratio
      const found = await chooseMeasured(analysed, model, a, { calibration, recover: p.data.recover, ep: 'auto', signal: ctx.signal, onProgress: (m) => ctx.progress(m, undefined) });
      a = found.allocation;
      const chosen = found.comparison.candidates.find((c) => c.chosen)!;
      notes.push(`measured on ${found.comparison.inputs} calibration inputs: ${found.comparison.candidates.map((c) => `${candidateName(c.t)} ${c.measured.toFixed(2)} points of ${found.comparison.unit} lost (output error ${c.error.toFixed(4)})`).join(', ')}; the plan set is ${candidateName(chosen.t)}, the least output error`);
    }
  }
  notes.push(...a.notes);
  if (p.plan.exclude?.length) notes.push(`the exclusions (${p.plan.exclude.join(', ')}) are not part of the found plan: it sets a share per layer instead`);
  const { ratio: _r, threshold: _t, exclude: _e, overrides: _o, ...rest } = p.plan;
  void _r; void _t; void _e; void _o;
  const overrides = a.plan.overrides ?? {};
  const plan = viewPlanOf({ ...rest, scope: 'uniform', ratio: 0, ...(Object.keys(overrides).length ? { overrides } : {}) });
  return {
    plan,
    budget: b,
    target,
    baseline: a.baseline,
    predicted: { macs: a.predicted.macs, params: a.predicted.params, loss: a.predicted.loss },
    met,
    ...(bestReachable !== undefined ? { bestReachable } : {}),
    ratios: a.groups.map((g) => ({ group: g.group, layer: g.layer, ratio: g.ratio, loss: g.loss })),
    notes,
    ...(latency ? { latency } : {}),
    ...(measuredLoss ? { measuredLoss } : {}),
  };
}

/** The calibration choices a block measure depends on. */
const blockDataKey = (d: DataJob) => JSON.stringify([d.calibration, d.calibCount, d.preset]);

/**
 * The residual blocks of an open model for the view: ranked by γ, with the data scores of the last
 * measure on the same calibration choices; `measure` measures them now (each block removed alone,
 * run on the first 64 calibration inputs).
 */
export async function blocksJob(service: ModelService, p: { measure: boolean; data?: DataJob; ep?: 'auto' | 'cuda' | 'cpu' }, ctx: JobContext): Promise<ViewBlocks> {
  if (!p.data) {
    if (p.measure) throw new PrunerError('measuring the blocks needs calibration data: choose it under Data and recovery (each block is removed alone and measured on those inputs)');
    return service.blocks();
  }
  const key = blockDataKey(p.data);
  if (!p.measure) return service.blocks(service.blockScans.get(key));
  const calibration = await calibrationOf(service.analysed, p.data, 'measuring the blocks', 'each block is removed alone and');
  const scan = await scanBlocks(service.analysed, calibration, { ep: p.ep ?? 'auto', signal: ctx.signal, onProgress: (f, what) => ctx.progress(`Blocks: ${what}`, f) });
  service.blockScans.set(key, scan);
  return service.blocks(scan);
}

/**
 * The target checked on a written model, as `prune --target-*` checks it: MACs and parameters
 * counted on it; latency timed again (the original beside it); the loss measured on the
 * evaluation data, else the calibration data (said so).
 */
export async function checkTargetJob(analysed: AnalysedModel, p: { pruned: string; budget: ViewBudget; data: DataJob; macs: number; params: number }, ctx: JobContext): Promise<TargetCheck> {
  const b = p.budget;
  let unit: TargetCheck['unit'];
  let target: number;
  let value: number;
  const extra: Partial<TargetCheck> = {};
  if (b.kind === 'macs' || b.kind === 'params') {
    const base = analysed.cost()[b.kind];
    unit = b.kind === 'macs' ? 'MACs' : 'parameters';
    target = b.fraction * base;
    value = p[b.kind];
  } else if (b.kind === 'latency') {
    ctx.progress('Timing the written model and the original again', undefined);
    const feeds = latencyInputs(analysed.graph, {}, analysed.inputShapes);
    const pruned = await measureModelLatency(p.pruned, feeds, { ...LATENCY, signal: ctx.signal });
    const original = await measureModelLatency(analysed.path, feeds, { ...LATENCY, signal: ctx.signal });
    unit = 'ms';
    target = b.ms;
    value = pruned.medianMs;
    extra.latency = { original: latencyView(original), pruned: latencyView(pruned) };
  } else if (b.kind === 'loss') {
    const { opened } = await openData(p.data, analysed.graph);
    const set: InputSet | undefined = opened.evaluation ?? opened.calibration;
    if (!set) throw new PrunerError('checking a loss target needs evaluation or calibration data: choose it under Data and recovery');
    const on = opened.evaluation ? 'evaluation' : 'calibration';
    ctx.progress(`Measuring the loss on the ${on} inputs`, undefined);
    const loss = await measureLoss(analysed.path, p.pruned, set, on, { signal: ctx.signal });
    unit = 'points';
    target = b.points;
    value = loss.points;
    extra.loss = { on, unit: loss.unit, count: loss.count };
  } else throw new PrunerError('unknown budget');
  const miss = value - target;
  return { budget: b, unit, target, value, met: value <= target + 1e-9, miss: Math.round(miss * 1000) / 1000, missFraction: Math.round((miss / target) * 10000) / 10000, ...extra };
}

/** The note naming the groups that stopped at the scan's break loss (narrower widths are behind it), when some did. */
function breakLossNote(notes: string[], scan: SensitivityScan): void {
  const stopped = stoppedAtBreakLoss(scan);
  if (stopped) notes.push(`${stopped}: a larger break loss under Scan settings scans narrower widths.`);
}
