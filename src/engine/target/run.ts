// Pruning to a target, end to end: the sensitivity scan (scan.ts, cached beside the model), the
// allocation for the budget (allocate.ts; for latency, candidates timed in ONNX Runtime,
// latency.ts; for a maximum loss, candidates pruned, recovered and measured in memory), then the
// real prune with recovery (pruneAnalysed: the same atomic write as any plan, the plan saved like
// any plan), and the check of the target on the written model: MACs and parameters counted on it,
// latency measured again (the original timed again beside it), loss measured on the evaluation
// inputs (or the calibration inputs when there are none, said so).
//
// Nothing is written when no plan is chosen: a target the scan cannot reach, or below what any
// plan can reach, stops with a TargetUnreachableError (the best reachable value and its plan)
// before the prune.
import * as path from 'node:path';
import { PrunerError, throwIfAborted } from '../errors.ts';
import type { AnalysedModel } from '../analysed-model.ts';
import { isCriterion, type PlanCriterion } from '../analysis/criteria.ts';
import { addPlanScores } from '../recovery/criteria.ts';
import { recoverPruned } from '../recovery/recover.ts';
import type { RecoverMode } from '../recovery/types.ts';
import { prunedGroupsOf } from '../prune/compensate.ts';
import { resolvePlan, serializePlan } from '../prune/plan.ts';
import { checkOutputs, checkPlanTarget, protectedFiles, pruneAnalysed } from '../prune/prune.ts';
import { preparePreview } from '../prune/preview.ts';
import { pruneGraph } from '../prune/surgery.ts';
import type { PruneReport } from '../prune/report.ts';
import type { PruningPlan } from '../prune/types.ts';
import { encodeInline } from '../onnx/save.ts';
import { writeTextFileSafely } from '../files.ts';
import type { InputSet } from '../data/types.ts';
import { createSession } from '../runtime/session.ts';
import { evaluateSessions, type RecordedOutputs } from '../runtime/evaluate.ts';
import { latencyInputs, measureModelLatency, type LatencyMeasurement } from '../runtime/latency.ts';
import type { ExecutionProviderChoice } from '../runtime/types.ts';
import { atDataSize, scanSensitivity, type ScanResult } from './scan.ts';
import { allocate, DEFAULT_BLENDS, further, unreachableMessage, type AllocateOptions, type Allocation, type AllocationModel } from './allocate.ts';
import { takeInputs } from '../data/open.ts';
import { findLatencyPlan, type LatencyCandidate } from './latency.ts';
import type { Budget, SensitivityScan } from './types.ts';

export interface TargetOptions {
  criterion?: PlanCriterion;
  recover?: RecoverMode;
  /** Channel multiple of the plan (default 1). */
  roundTo?: number;
  minChannels?: number;
  compensate?: boolean;
  /** Calibration inputs: the scan and recovery run on them (required). */
  calibration: InputSet;
  /** Evaluation inputs: the loss of the written model is measured on them (else on the calibration inputs). */
  evaluation?: InputSet;
  /** Scan inputs (default the scan's 64), ratios (default 0.1 … 0.9) and break loss (default 30 points). */
  scanInputs?: number;
  scanRatios?: number[];
  scanBreakLoss?: number;
  /** Provider for the scan, recovery and evaluation (default auto); latency is timed on `latencyEp`. */
  ep?: ExecutionProviderChoice;
  /** Provider and threads for latency (default cpu, 1 thread) and timed runs (default 20). */
  latencyEp?: ExecutionProviderChoice;
  latencyThreads?: number;
  latencyRuns?: number;
  /** Candidates tried by the latency and loss searches (defaults 7 and 6). */
  maxCandidates?: number;
  /**
   * MACs and parameter budgets: blends of the allocation with a uniform ratio measured against it,
   * the plan with the least measured loss on the calibration inputs written (default
   * DEFAULT_BLENDS: half, a quarter and none of the allocation; [] measures nothing).
   */
  blends?: readonly number[];
  /** Output options (as pruneAnalysed). */
  out?: string;
  force?: boolean;
  savePlan?: string;
  /** Find and report the plan (and save it with savePlan), write no model. */
  dryRun?: boolean;
  /** Do not read or write the scan cache. */
  noCache?: boolean;
  signal?: AbortSignal;
  onProgress?: (message: string) => void;
}

/** The loss of a pruned model against the original on a data set. */
export interface MeasuredLoss {
  /** Points lost (0–100): accuracy when the set has labels, else top-1 agreement. */
  points: number;
  unit: 'accuracy' | 'agreement';
  /** Which inputs: the evaluation set, or the calibration set (which recovery saw: an optimistic figure). */
  on: 'evaluation' | 'calibration';
  source: string;
  count: number;
  /** Top-1 agreement with the original, in [0, 1]. */
  agreement?: number;
  /** ‖y′ − y‖ / ‖y‖ of the first output over all the inputs (the validation's relative error). */
  relativeError?: number;
  originalTop1?: number;
  prunedTop1?: number;
}

export interface TargetReport {
  budget: Budget;
  /** The target in its unit (MACs, parameters, ms or points). */
  target: number;
  unit: 'MACs' | 'parameters' | 'ms' | 'points';
  scan: { source: 'computed' | 'cache'; seconds: number; groups: number; partial: boolean; inputs: number; data: string; criterion: PlanCriterion; recover: RecoverMode; labelled: boolean; breakLoss: number };
  allocation: Omit<Allocation, 'ratios' | 'searches' | 'plan'> & { searches: Omit<Allocation['searches'][number], 'plan'>[] };
  plan: PruningPlan;
  /** The latency search's candidates (a latency target). */
  latencySearch?: { original: LatencyMeasurement; candidates: LatencyCandidate[] };
  /** The loss search's candidates (a loss target): predicted-loss budget given to the allocation, MACs and measured loss. */
  lossSearch?: { budget: number; macs: number; predicted: number; measured: number }[];
  /** A MACs or parameter target: the allocation and its blends with a uniform ratio, measured; the written plan is the chosen one. */
  comparison?: CandidateComparison;
  /** Measured on the written model (absent with dryRun). */
  result?: {
    macs: number;
    params: number;
    latency?: { original: LatencyMeasurement; pruned: LatencyMeasurement };
    loss?: MeasuredLoss;
  };
  /** Whether the written model meets the target (with dryRun: the prediction / the candidate measured). */
  met: boolean;
  /** How far over the target the written model is, in the target's unit (≤ 0 when met), and relative to the target. */
  miss: number;
  missFraction: number;
  /** The prune report of the written model (absent with dryRun). */
  prune?: PruneReport;
  warnings: string[];
}

/** A target no plan (or no measured candidate) meets: nothing was written. */
export class TargetUnreachableError extends PrunerError {
  constructor(
    message: string,
    readonly allocation?: Allocation,
  ) {
    super(message);
    this.name = 'TargetUnreachableError';
  }
}

/** The pruned model of `plan` in memory, recovered like the real run (surgery, compensation, recovery on the calibration inputs), as ONNX bytes. */
export async function recoveredCandidate(analysed: AnalysedModel, model: AllocationModel, plan: PruningPlan, opts: { calibration: InputSet; recover: RecoverMode; ep: ExecutionProviderChoice; signal?: AbortSignal }): Promise<Uint8Array> {
  const resolved = resolvePlan(plan, model.deps, model.importance);
  const result = pruneGraph(model.graph, model.deps, resolved, { compensate: plan.compensate ?? true, lazy: false, ...(opts.signal ? { signal: opts.signal } : {}) });
  const rec = await recoverPruned({ model: analysed.model, graph: model.graph }, result.model, prunedGroupsOf(model.deps.groups, resolved.kept), {
    mode: opts.recover,
    calibration: opts.calibration,
    ep: opts.ep,
    compensated: plan.compensate ?? true,
    ...(opts.signal ? { signal: opts.signal } : {}),
  });
  return encodeInline(analysed.model, rec.model);
}

/**
 * Losses of pruned models against one original on one data set (accuracy points with labels, else
 * agreement points): the original runs with the first pruned model measured, and its outputs are
 * kept for the next ones.
 */
export class LossMeter {
  private recorded: RecordedOutputs | undefined;
  private provider: ExecutionProviderChoice;

  constructor(
    readonly original: string,
    readonly set: InputSet,
    readonly on: MeasuredLoss['on'],
    private readonly opts: { ep?: ExecutionProviderChoice; signal?: AbortSignal } = {},
  ) {
    this.provider = opts.ep ?? 'auto';
  }

  async measure(pruned: string | { bytes: Uint8Array; name: string }): Promise<MeasuredLoss> {
    const { original, set, on } = this;
    const signal = this.opts.signal;
    const files = { original, pruned: typeof pruned === 'string' ? pruned : pruned.name };
    let r: Awaited<ReturnType<typeof evaluateSessions>>;
    if (this.recorded) {
      const b = await createSession(pruned, this.provider);
      try {
        r = await evaluateSessions(this.recorded, b, set, { ...(signal ? { signal } : {}), files });
      } finally {
        await b.session.release();
      }
    } else {
      const a = await createSession(original, this.provider);
      this.provider = a.provider;
      let b: Awaited<ReturnType<typeof createSession>> | undefined;
      try {
        b = await createSession(pruned, a.provider);
        r = await evaluateSessions(a, b, set, { ...(signal ? { signal } : {}), files, record: (o) => (this.recorded = o) });
      } finally {
        await a.session.release();
        await b?.session.release();
      }
    }
    const agreement = r.comparison?.top1Agreement;
    const labelled = !!(r.original && r.pruned);
    if (!labelled && agreement === undefined) throw new PrunerError(`${path.basename(original)}: its output ${r.output} is not [batch, classes]: no top-1 agreement or accuracy to measure a loss in points`, { subject: original });
    const points = labelled ? (r.original!.top1 - r.pruned!.top1) * 100 : (1 - agreement!) * 100;
    return {
      points: Math.round(points * 1000) / 1000,
      unit: labelled ? 'accuracy' : 'agreement',
      on,
      source: set.source,
      count: r.count,
      ...(agreement !== undefined ? { agreement } : {}),
      ...(r.comparison ? { relativeError: r.comparison.relativeError } : {}),
      ...(labelled ? { originalTop1: r.original!.top1, prunedTop1: r.pruned!.top1 } : {}),
    };
  }
}

/** Loss of `pruned` against `original` on `set` (accuracy points with labels, else agreement points). */
export async function measureLoss(original: string, pruned: string | { bytes: Uint8Array; name: string }, set: InputSet, on: MeasuredLoss['on'], opts: { ep?: ExecutionProviderChoice; signal?: AbortSignal } = {}): Promise<MeasuredLoss> {
  return new LossMeter(original, set, on, opts).measure(pruned);
}

/** The loss search's result: the allocation with the fewest MACs whose measured loss fits, and the candidates tried. */
export interface LossPlan {
  allocation: Allocation;
  /** Its measured loss, in points. */
  measured: number;
  /** Predicted-loss budget given to the allocation, MACs, predicted and measured loss of each candidate. */
  search: { budget: number; macs: number; predicted: number; measured: number }[];
  /** Where the loss was measured. */
  on: MeasuredLoss['on'];
}

/**
 * The plan with the fewest MACs whose loss, measured on the recovered candidate (pruned and
 * recovered in memory like the real run), is at most `points`: the allocation's budget is the
 * scan's predicted loss (the sum of the groups'); it is bisected on the measured loss (at most
 * `maxCandidates`, default 6). Measured on `evaluation`, else on the calibration inputs. A
 * TargetUnreachableError when no pruned candidate fits.
 */
export async function findLossPlan(
  analysed: AnalysedModel,
  model: AllocationModel,
  scan: SensitivityScan,
  points: number,
  opts: { calibration: InputSet; evaluation?: InputSet; recover: RecoverMode; ep: ExecutionProviderChoice; aopts: AllocateOptions; maxCandidates?: number; signal?: AbortSignal; onProgress?: (message: string) => void; meter?: LossMeter },
): Promise<LossPlan> {
  const { signal, calibration } = opts;
  const progress = opts.onProgress ?? (() => {});
  const evalSet = opts.evaluation ?? calibration;
  const on: MeasuredLoss['on'] = opts.evaluation ? 'evaluation' : 'calibration';
  const meter = opts.meter ?? new LossMeter(analysed.path, evalSet, on, { ep: opts.ep, ...(signal ? { signal } : {}) });
  const search: LossPlan['search'] = [];
  const tries = opts.maxCandidates ?? 6;
  let lo = 0;
  let hi: number | undefined;
  let q = points;
  let best: { a: Allocation; measured: number } | undefined;
  const seen = new Map<string, number>();
  for (let i = 0; i < tries; i++) {
    throwIfAborted(signal);
    const a = allocate(model, scan, { kind: 'loss', points: Math.min(100, q) }, opts.aopts);
    const key = JSON.stringify(a.plan.overrides ?? {});
    let measured = seen.get(key);
    if (measured === undefined) {
      if (!a.plan.overrides || !Object.keys(a.plan.overrides).length) measured = 0;
      else {
        progress(`measuring a candidate at ${(a.predicted.macs / a.baseline.macs * 100).toFixed(1)}% of the MACs (predicted loss ${a.predicted.loss.toFixed(2)})`);
        const bytes = await recoveredCandidate(analysed, model, a.plan, { calibration, recover: opts.recover, ep: opts.ep, ...(signal ? { signal } : {}) });
        measured = (await meter.measure({ bytes, name: `${analysed.fileName} (candidate)` })).points;
      }
      seen.set(key, measured);
      search.push({ budget: Math.round(q * 1000) / 1000, macs: a.predicted.macs, predicted: a.predicted.loss, measured });
    }
    if (measured <= points) {
      if (!best || a.predicted.macs < best.a.predicted.macs) best = { a, measured };
      lo = q;
      q = hi === undefined ? q * 2 : (q + hi) / 2;
    } else {
      hi = q;
      q = (lo + q) / 2;
    }
    if (hi !== undefined && hi - lo < Math.max(0.05, points * 0.05)) break;
  }
  if (!best || !best.a.plan.overrides || !Object.keys(best.a.plan.overrides).length) {
    const least = search.filter((s) => s.predicted > 0).sort((x, y) => x.measured - y.measured)[0];
    throw new TargetUnreachableError(`no plan found whose measured loss is at most ${points} points${least ? ` (the least measured: ${least.measured.toFixed(2)} points at ${(least.macs / 1e6).toFixed(2)} M MACs)` : ''}; nothing written`);
  }
  return { allocation: best.a, measured: best.measured, search, on };
}

/** The allocation and its blends with a uniform ratio, each pruned, recovered and measured on the calibration inputs. */
export interface CandidateComparison {
  on: 'calibration';
  source: string;
  /** Calibration inputs measured on (the first ones; recovery fits on all of them, as the real run). */
  inputs: number;
  unit: MeasuredLoss['unit'];
  /** What chose: the least relative output error (top-1 counts on a few hundred inputs differ by noise). */
  by: 'error';
  /**
   * `t`: share of the allocation kept (1 the allocation, 0 a uniform ratio); MACs, parameters,
   * predicted and measured loss (points), relative output error; the one written.
   */
  candidates: { t: number; macs: number; params: number; predicted: number; measured: number; error: number; chosen: boolean }[];
}

/** How a candidate of the comparison is named in reports: by its share `t` of the allocation. */
export function candidateName(t: number): string {
  return t === 1 ? 'the allocation' : t === 0 ? 'a uniform ratio' : `a blend (${t} of the allocation) with a uniform ratio`;
}

/** Calibration inputs the candidates are compared on, at most. */
export const COMPARE_INPUTS = 256;

/**
 * The candidate of `allocation` (the allocation and its blends, `allocation.candidates`) whose
 * output moves least from the original's on the calibration inputs (relative error of the first
 * output), each pruned and recovered in memory like the real run; ties go to the earlier candidate
 * (the allocation first). Chosen by the error, not the points of top-1 lost: on 256 inputs a point
 * is two or three flips, and the candidates' points differ by that much by chance (on the
 * Fashion-MNIST ResNet at half the parameters, with least squares, the fewest points lost on the
 * calibration inputs went with the lowest test accuracy of the four, 93.2% against 93.7–93.9%; the
 * least error there, a blend, was the least on the test set too, at 93.8%). The points are measured
 * and reported too. The evaluation inputs are never used to choose. The allocation returned is the
 * chosen candidate's (plan, predicted figures, groups).
 */
export async function chooseMeasured(
  analysed: AnalysedModel,
  model: AllocationModel,
  allocation: Allocation,
  opts: { calibration: InputSet; recover: RecoverMode; ep: ExecutionProviderChoice; inputs?: number; signal?: AbortSignal; onProgress?: (message: string) => void },
): Promise<{ allocation: Allocation; comparison: CandidateComparison }> {
  const candidates = allocation.candidates ?? [];
  const set = takeInputs(opts.calibration, Math.min(opts.calibration.count, opts.inputs ?? COMPARE_INPUTS));
  const meter = new LossMeter(analysed.path, set, 'calibration', { ep: opts.ep, ...(opts.signal ? { signal: opts.signal } : {}) });
  const rows: CandidateComparison['candidates'] = [];
  let unit: MeasuredLoss['unit'] = 'agreement';
  let best = 0;
  for (let i = 0; i < candidates.length; i++) {
    throwIfAborted(opts.signal);
    const c = candidates[i];
    const name = candidateName(c.t);
    opts.onProgress?.(`measuring ${name} on ${set.count} calibration inputs (${i + 1}/${candidates.length})`);
    const bytes = await recoveredCandidate(analysed, model, c.plan, { calibration: opts.calibration, recover: opts.recover, ep: opts.ep, ...(opts.signal ? { signal: opts.signal } : {}) });
    const m = await meter.measure({ bytes, name: `${analysed.fileName} (${name})` });
    unit = m.unit;
    const error = m.relativeError ?? m.points;
    rows.push({ t: c.t, macs: c.predicted.macs, params: c.predicted.params, predicted: c.predicted.loss, measured: m.points, error: Math.round(error * 1e6) / 1e6, chosen: false });
    if (error < rows[best].error) best = i;
  }
  rows[best].chosen = true;
  const w = candidates[best];
  const chosen: Allocation = { ...allocation, plan: w.plan, predicted: w.predicted, groups: w.groups, ratios: new Map(w.groups.map((g) => [g.group, (g.channels - g.kept) / g.channels])) };
  return { allocation: chosen, comparison: { on: 'calibration', source: opts.calibration.source, inputs: set.count, unit, by: 'error', candidates: rows } };
}

const unitOf = (b: Budget): TargetReport['unit'] => (b.kind === 'macs' ? 'MACs' : b.kind === 'params' ? 'parameters' : b.kind === 'latency' ? 'ms' : 'points');

/** Scans (or reads the scan's cache), finds the plan for `budget`, prunes and recovers for real, and checks the target on the written model. */
export async function pruneToTarget(given: AnalysedModel, budget: Budget, opts: TargetOptions): Promise<TargetReport> {
  const { signal, calibration } = opts;
  const progress = opts.onProgress ?? (() => {});
  if (!calibration) throw new PrunerError('pruning to a target needs calibration inputs (--calib): the sensitivity scan measures each group on them');
  // Symbolic sizes with no size given: the plan's MACs are counted at the data's size, as the scan's are.
  const analysed = atDataSize(given, calibration.sampleShape);
  const criterion = opts.criterion ?? 'l1';
  const recover = opts.recover ?? 'auto';
  const ep = opts.ep ?? 'auto';
  const compensate = opts.compensate ?? true;
  const minChannels = opts.minChannels ?? 1;
  const roundTo = opts.roundTo ?? 1;
  const warnings: string[] = [];
  // Fail before the scan and the search when what the run would write cannot be written.
  const outputs = { ...(opts.out ? { out: opts.out } : {}), force: opts.force, ...(opts.savePlan ? { savePlan: opts.savePlan } : {}) };
  if (!opts.dryRun) checkOutputs(analysed, outputs);
  else if (opts.savePlan) checkPlanTarget(opts.savePlan, protectedFiles(analysed), opts.force === true);

  progress('sensitivity scan');
  const scan: ScanResult = await scanSensitivity(analysed, calibration, {
    criterion,
    recover,
    compensate,
    minChannels,
    ep,
    ...(opts.scanInputs !== undefined ? { count: opts.scanInputs } : {}),
    ...(opts.scanRatios ? { ratios: opts.scanRatios } : {}),
    ...(opts.scanBreakLoss !== undefined ? { breakLoss: opts.scanBreakLoss } : {}),
    ...(opts.noCache ? { cache: false } : {}),
    ...(signal ? { signal } : {}),
    onProgress: (f, what) => progress(`scan ${(f * 100).toFixed(0)}%: ${what}`),
  });
  if (scan.partial) throw new PrunerError(`${analysed.fileName}: the sensitivity scan is partial (cancelled); its measured part is cached: run again to complete it`, { subject: analysed.path });
  throwIfAborted(signal);
  const deps = analysed.dependencies(signal);
  // the previews of the allocation count MACs at the sizes the model is analysed at
  preparePreview(analysed.graph, deps, analysed.cost(), analysed.inputShapes);
  const importance = await analysed.scores(isCriterion(criterion) ? criterion : [], { signal });
  addPlanScores(importance, criterion, await analysed.planScores(criterion, { calibration, ep, ...(signal ? { signal } : {}) }));
  const model: AllocationModel = { graph: analysed.graph, deps, importance };
  const aopts = { roundTo, minChannels, compensate, model: analysed.fileName, ...(signal ? { signal } : {}) };
  const evalSet = opts.evaluation ?? calibration;
  const evalOn: MeasuredLoss['on'] = opts.evaluation ? 'evaluation' : 'calibration';
  // the original runs once on the evaluation inputs, for every candidate and the written model
  const meter = new LossMeter(analysed.path, evalSet, evalOn, { ep, ...(signal ? { signal } : {}) });
  if (!opts.evaluation && budget.kind === 'loss') warnings.push(`the loss is measured on the calibration inputs (${calibration.source}), which recovery fitted: give --eval for a figure on other inputs`);

  let allocation: Allocation;
  let latencySearch: TargetReport['latencySearch'];
  let lossSearch: TargetReport['lossSearch'];
  let candidateLoss: number | undefined;
  let comparison: CandidateComparison | undefined;
  if (budget.kind === 'latency') {
    progress('searching a plan by timing candidates');
    const found = await findLatencyPlan(model, scan, budget.ms, {
      ...aopts,
      ep: opts.latencyEp ?? 'cpu',
      threads: opts.latencyThreads ?? 1,
      runs: opts.latencyRuns,
      shapes: analysed.inputShapes,
      ...(opts.maxCandidates ? { maxCandidates: opts.maxCandidates } : {}),
      onProgress: progress,
    });
    latencySearch = { original: found.original, candidates: found.candidates };
    allocation = found.allocation;
    if (!found.met) {
      throw new TargetUnreachableError(
        `no plan found that runs within ${budget.ms} ms: the fastest candidate measured ran in ${found.latency.medianMs.toFixed(2)} ms (median of ${found.latency.runs}, ${(found.allocation.predicted.macs / found.allocation.baseline.macs * 100).toFixed(1)}% of the MACs); the original ${found.original.medianMs.toFixed(2)} ms; ${further(scan)} or ask for at least ${found.latency.medianMs.toFixed(2)} ms; nothing written`,
        found.allocation,
      );
    }
  } else if (budget.kind === 'loss') {
    const found = await findLossPlan(analysed, model, scan, budget.points, { calibration, evaluation: opts.evaluation, recover, ep, aopts, maxCandidates: opts.maxCandidates, onProgress: progress, meter, ...(signal ? { signal } : {}) });
    lossSearch = found.search;
    allocation = found.allocation;
    candidateLoss = found.measured;
  } else {
    allocation = allocate(model, scan, budget, { ...aopts, blends: opts.blends ?? DEFAULT_BLENDS });
    if (!allocation.met) throw new TargetUnreachableError(`${unreachableMessage(allocation, scan)}; nothing written`, allocation);
    if ((allocation.candidates?.length ?? 0) > 1) {
      progress('measuring the allocation against its blends with a uniform ratio');
      const found = await chooseMeasured(analysed, model, allocation, { calibration, recover, ep, onProgress: progress, ...(signal ? { signal } : {}) });
      allocation = found.allocation;
      comparison = found.comparison;
    }
  }
  warnings.push(...allocation.notes);

  const target = budget.kind === 'latency' ? budget.ms : allocation.target;
  const { ratios: _r, searches, plan, candidates: _c, ...rest } = allocation;
  void _c;
  void _r;
  const base: Omit<TargetReport, 'met' | 'miss' | 'missFraction'> = {
    budget,
    target,
    unit: unitOf(budget),
    scan: { source: scan.source, seconds: scan.seconds, groups: scan.groups.length, partial: scan.partial, inputs: scan.settings.inputs, data: scan.settings.data, criterion: scan.settings.criterion, recover: scan.settings.recover, labelled: scan.settings.labelled, breakLoss: scan.settings.breakLoss },
    allocation: { ...rest, searches: searches.map(({ plan: _p, ...s }) => s) },
    plan,
    ...(latencySearch ? { latencySearch } : {}),
    ...(lossSearch ? { lossSearch } : {}),
    ...(comparison ? { comparison } : {}),
    warnings,
  };
  const missOf = (value: number) => ({ met: value <= target + 1e-9, miss: round3(value - target), missFraction: round4((value - target) / target) });

  if (opts.dryRun) {
    if (opts.savePlan) writeTextFileSafely(opts.savePlan, serializePlan(plan), { replace: opts.force === true, protect: protectedFiles(analysed), what: 'the plan' });
    const predicted = budget.kind === 'latency' ? latencySearch!.candidates.find((c) => c.macs === allocation.predicted.macs)?.latency.medianMs ?? target : budget.kind === 'loss' ? candidateLoss! : allocation.predicted[budget.kind];
    return { ...base, ...missOf(predicted) };
  }

  progress('pruning and recovering the chosen plan');
  const report = await pruneAnalysed(analysed, plan, {
    ...outputs,
    allowMinimal: opts.force,
    calibration,
    recover,
    ep,
    ...(signal ? { signal } : {}),
  });
  const result: NonNullable<TargetReport['result']> = { macs: report.macs.after, params: report.params.after };
  let value: number;
  if (budget.kind === 'latency') {
    progress('timing the written model and the original again');
    const feeds = latencyInputs(analysed.graph, {}, analysed.inputShapes);
    const lat = { ep: opts.latencyEp ?? 'cpu', threads: opts.latencyThreads ?? 1, runs: opts.latencyRuns, ...(signal ? { signal } : {}) } as const;
    const pruned = await measureModelLatency(report.output, feeds, lat);
    const original = await measureModelLatency(analysed.path, feeds, lat);
    result.latency = { original, pruned };
    value = pruned.medianMs;
  } else value = budget.kind === 'loss' ? 0 : result[budget.kind];
  if (budget.kind === 'loss' || opts.evaluation) {
    progress(`measuring the loss on the ${evalOn} inputs`);
    result.loss = await meter.measure(report.output);
    if (budget.kind === 'loss') value = result.loss.points;
  }
  return { ...base, result, prune: report, ...missOf(value) };
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;
const round4 = (v: number) => Math.round(v * 10000) / 10000;
