// Pruning to a target from the view: the sensitivity scan on the calibration data chosen in the
// view (cached beside the model: a model opened again answers from the cache), and the plan that
// meets a MACs or parameter budget with the least predicted loss. No vscode import.
import * as path from 'node:path';
import {
  addPlanScores, allocate, CancelledError, isCriterion, planCriterionScores, scanBlocks, hashModelFiles, PrunerError, readScanCache, scanCacheKey, scanSensitivity, scanSettings, unreachableMessage, throwIfAborted,
  type AnalysedModel, type InputSet, type ScanOptions, type SensitivityScan,
} from '../engine/index.ts';
import { viewPlanOf, type ViewBlocks, type FoundPlan, type ViewBudget, type ViewPlan, type ViewScan } from '../shared/protocol.ts';
import type { DataJob } from './data.ts';
import { openData } from './data.ts';
import type { JobContext, ModelService } from './modelService.ts';

/** The calibration inputs chosen in the view, opened against the model (a clear message when there are none). */
async function calibrationOf(analysed: AnalysedModel, data: DataJob, what = 'the sensitivity scan', each = 'each group'): Promise<InputSet> {
  const { opened, state } = await openData(data, analysed.graph, analysed.inputShapes);
  if (state.unavailable) throw new PrunerError(`${analysed.fileName}: ${what} cannot run: ${state.unavailable}`, { subject: analysed.path });
  const calibErr = state.errors.find((e) => e.startsWith('calibration'));
  if (calibErr) throw new PrunerError(`${calibErr}; nothing measured`);
  if (!opened.calibration) throw new PrunerError(`${what} needs calibration data: choose it under Data and recovery (${each} is measured on those inputs)`);
  return opened.calibration;
}

/** The scan's options from the view's plan and data options (the same as the CLI's `prune --target-*` for the same choices). */
function scanOptions(plan: ViewPlan, data: DataJob): ScanOptions {
  return { criterion: plan.criterion, recover: data.recover, compensate: plan.compensate ?? true, minChannels: plan.minChannels ?? 1 };
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
export async function scanJob(recent: RecentScans, analysed: AnalysedModel, p: { plan: ViewPlan; data: DataJob; cachedOnly: boolean; ep?: 'auto' | 'cuda' | 'cpu' }, ctx: JobContext): Promise<ViewScan | null> {
  const calibration = await calibrationOf(analysed, p.data);
  const opts = scanOptions(p.plan, p.data);
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

/** The plan meeting `budget` from the cached scan (run the scan first). */
export async function findPlanJob(recent: RecentScans, analysed: AnalysedModel, p: { plan: ViewPlan; data: DataJob; budget: ViewBudget }, ctx: JobContext): Promise<FoundPlan> {
  const calibration = await calibrationOf(analysed, p.data);
  const opts = scanOptions(p.plan, p.data);
  const scan = await cachedScan(recent, analysed, calibration, opts);
  if (!scan) throw new PrunerError(`${analysed.fileName}: no sensitivity scan for this criterion (${p.plan.criterion}), recovery (${p.data.recover}) and calibration data: run Scan first`, { subject: analysed.path });
  if (scan.partial) throw new PrunerError(`${analysed.fileName}: the sensitivity scan is partial (cancelled): run Scan again to complete it`, { subject: analysed.path });
  throwIfAborted(ctx.signal);
  ctx.progress('Finding the plan', 0.5);
  const deps = analysed.dependencies(ctx.signal);
  const importance = await analysed.scores(isCriterion(p.plan.criterion) ? p.plan.criterion : [], { signal: ctx.signal });
  // sketch and the data criteria are scored as the scan and a prune score them (the data criteria on the same calibration inputs)
  addPlanScores(importance, p.plan.criterion, await planCriterionScores(p.plan.criterion, analysed.model, analysed.graph, deps, { calibration, signal: ctx.signal }));
  const a = allocate({ graph: analysed.graph, deps, importance }, scan, { kind: p.budget.kind, fraction: p.budget.fraction }, {
    roundTo: p.plan.roundTo ?? 1, minChannels: p.plan.minChannels ?? 1, compensate: p.plan.compensate ?? true, model: path.basename(analysed.path), signal: ctx.signal,
  });
  const notes = [...a.notes];
  if (p.plan.exclude?.length) notes.push(`the exclusions (${p.plan.exclude.join(', ')}) are not part of the found plan: it sets a share per layer instead`);
  if (!a.met) notes.unshift(unreachableMessage(a));
  const { ratio: _r, threshold: _t, exclude: _e, overrides: _o, ...rest } = p.plan;
  void _r; void _t; void _e; void _o;
  const overrides = a.plan.overrides ?? {};
  const plan = viewPlanOf({ ...rest, scope: 'uniform', ratio: 0, ...(Object.keys(overrides).length ? { overrides } : {}) });
  return {
    plan,
    budget: p.budget,
    target: a.target,
    baseline: a.baseline,
    predicted: { macs: a.predicted.macs, params: a.predicted.params, loss: a.predicted.loss },
    met: a.met,
    ...(a.bestReachable !== undefined ? { bestReachable: a.bestReachable } : {}),
    ratios: a.groups.map((g) => ({ group: g.group, layer: g.layer, ratio: g.ratio, loss: g.loss })),
    notes,
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
