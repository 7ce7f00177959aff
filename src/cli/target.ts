// `onnx-pruner prune <model> --target-macs F | --target-params F | --target-latency MS | --max-loss P`:
// the sensitivity scan (cached beside the model), the plan that meets the target with the least
// predicted loss, the real prune with recovery, and the target checked on the written model.
import * as path from 'node:path';
import {
  AnalysedModel, candidateName, describeLatency, PrunerError, pruneToTarget, TargetUnreachableError,
  type Budget, type ExecutionProviderChoice, type PlanCriterion, type RecoverMode, type TargetReport,
} from '../engine/index.ts';
import { formatSI } from './format.ts';
import { describeDataSets, openDataSets, type DataCliOptions } from './data.ts';
import { cliSignal } from './signals.ts';
import { atSizes, breakLossOption, criterionOption, intOption, numberOption, recoverOption, type SizeCliOptions } from './options.ts';

export interface TargetCliOptions extends DataCliOptions, SizeCliOptions {
  targetMacs?: string;
  targetParams?: string;
  targetLatency?: string;
  maxLoss?: string;
  scanInputs?: string;
  scanBreakLoss?: string;
  latencyRuns?: string;
  threads?: string;
  criterion?: string;
  recover?: string;
  roundTo?: string;
  minChannels?: string;
  compensate: boolean;
  out?: string;
  force?: boolean;
  savePlan?: string;
  dryRun?: boolean;
  ep: string;
  json?: boolean;
  noScanCache?: boolean;
  noCompare?: boolean;
}

/** The flags that make `prune` prune to a target. */
export const TARGET_FLAGS = ['targetMacs', 'targetParams', 'targetLatency', 'maxLoss'] as const;

/** The budget the flags ask for: a MACs / parameter value ≤ 1 is a fraction of the model, above 1 an absolute count. */
export function budgetFromOptions(o: TargetCliOptions): Budget {
  const given = TARGET_FLAGS.filter((k) => o[k] !== undefined);
  if (given.length !== 1) throw new PrunerError(`give one target: --target-macs, --target-params, --target-latency or --max-loss (got ${given.length})`);
  if (o.targetMacs !== undefined || o.targetParams !== undefined) {
    const kind = o.targetMacs !== undefined ? 'macs' : 'params';
    const flag = kind === 'macs' ? '--target-macs' : '--target-params';
    const v = numberOption(flag, (o.targetMacs ?? o.targetParams)!);
    if (!(v > 0)) throw new PrunerError(`${flag} must be positive: a fraction of the model (0.5 = half) or an absolute count, got ${v}`);
    return v <= 1 ? { kind, fraction: v } : { kind, absolute: v };
  }
  if (o.targetLatency !== undefined) {
    const ms = numberOption('--target-latency', o.targetLatency);
    if (!(ms > 0)) throw new PrunerError(`--target-latency must be a positive number of milliseconds, got ${ms}`);
    return { kind: 'latency', ms };
  }
  const p = numberOption('--max-loss', o.maxLoss!);
  if (!(p >= 0 && p <= 100)) throw new PrunerError(`--max-loss must be between 0 and 100 points, got ${p}`);
  return { kind: 'loss', points: p };
}

/** Flags that choose a plan another way and cannot go with a target. */
export function checkTargetConflicts(o: Record<string, unknown>): void {
  const clash = ['ratio', 'threshold', 'plan', 'global', 'removeBlocks', 'exclude', 'validate'].filter((k) => o[k] !== undefined && o[k] !== false);
  if (clash.length) throw new PrunerError(`--${clash[0].replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} cannot go with a target (--target-macs, --target-params, --target-latency, --max-loss): the plan is found for the target`);
}

export async function runTargetPrune(model: string, o: TargetCliOptions): Promise<void> {
  const budget = budgetFromOptions(o);
  if (o.criterion !== undefined) criterionOption(o.criterion);
  if (o.recover !== undefined) recoverOption(o.recover);
  if (o.calib === undefined) throw new PrunerError('a target needs calibration inputs (--calib): the sensitivity scan measures each layer group on them');
  const data = await openDataSets(model, o);
  if (!o.json) process.stderr.write(describeDataSets(data));
  const signal = cliSignal();
  const progress = o.json ? undefined : (m: string) => process.stderr.write(`… ${m}\n`);
  const analysed = atSizes(AnalysedModel.load(model, { signal, weights: 'file' }), o);
  let report: TargetReport;
  try {
    report = await pruneToTarget(analysed, budget, {
      ...(o.criterion ? { criterion: o.criterion as PlanCriterion } : {}),
      ...(o.recover ? { recover: o.recover as RecoverMode } : {}),
      ...(o.roundTo !== undefined ? { roundTo: intOption('--round-to', o.roundTo) } : {}),
      ...(o.minChannels !== undefined ? { minChannels: intOption('--min-channels', o.minChannels) } : {}),
      compensate: o.compensate,
      calibration: data.calibration!,
      ...(data.evaluation ? { evaluation: data.evaluation } : {}),
      ...(o.scanInputs !== undefined ? { scanInputs: intOption('--scan-inputs', o.scanInputs) } : {}),
      ...(o.scanBreakLoss !== undefined ? { scanBreakLoss: breakLossOption('--scan-break-loss', o.scanBreakLoss) } : {}),
      ep: o.ep as ExecutionProviderChoice,
      ...(o.latencyRuns !== undefined ? { latencyRuns: intOption('--latency-runs', o.latencyRuns) } : {}),
      ...(o.threads !== undefined ? { latencyThreads: intOption('--threads', o.threads) } : {}),
      ...(o.out ? { out: o.out } : {}),
      force: o.force,
      ...(o.savePlan ? { savePlan: o.savePlan } : {}),
      dryRun: o.dryRun,
      noCache: o.noScanCache,
      ...(o.noCompare ? { blends: [] } : {}),
      signal,
      ...(progress ? { onProgress: progress } : {}),
    });
  } catch (e) {
    if (e instanceof TargetUnreachableError && o.json) {
      const a = e.allocation;
      process.stdout.write(`${JSON.stringify({ met: false, error: e.message, ...(a ? { bestReachable: a.bestReachable, predicted: a.predicted, groups: a.groups, plan: a.plan } : {}) }, null, 2)}\n`);
    } else if (e instanceof TargetUnreachableError && e.allocation && !o.json) {
      process.stderr.write(formatGroups(e.allocation.groups).join('\n') + '\n');
    }
    throw e;
  }
  process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatTargetReport(report, o.dryRun === true));
  if (!report.met && !o.json) process.stderr.write(`onnx-pruner: WARNING: the target is missed by ${describeMiss(report)}\n`);
}

function formatGroups(groups: TargetReport['allocation']['groups']): string[] {
  const w = Math.max(5, ...groups.map((g) => g.layer.length));
  return [
    `  ${'layer'.padEnd(w)}  channels   kept  ratio  predicted loss`,
    ...groups.map((g) => `  ${g.layer.padEnd(w)}  ${String(g.channels).padStart(8)}  ${String(g.kept).padStart(5)}  ${g.ratio.toFixed(2).padStart(5)}  ${g.loss.toFixed(2).padStart(14)}`),
  ];
}

function value(r: TargetReport, v: number): string {
  return r.unit === 'ms' ? `${v.toFixed(2)} ms` : r.unit === 'points' ? `${v.toFixed(2)} points` : `${formatSI(v)} ${r.unit}`;
}

function describeMiss(r: TargetReport): string {
  return `${value(r, Math.abs(r.miss))} (${(Math.abs(r.missFraction) * 100).toFixed(1)}% of the target)`;
}

/** The human report: target, scan, plan per group, measured result, met or missed by how much. */
export function formatTargetReport(r: TargetReport, dryRun: boolean): string {
  const out: string[] = [];
  const a = r.allocation;
  const pctOf = (v: number, b: number) => `${((v / b) * 100).toFixed(1)}%`;
  out.push(`Target ${r.budget.kind === 'latency' ? 'latency' : r.budget.kind === 'loss' ? 'max loss' : r.unit} ${value(r, r.target)}${r.unit === 'MACs' ? ` (${pctOf(r.target, a.baseline.macs)} of ${formatSI(a.baseline.macs)})` : r.unit === 'parameters' ? ` (${pctOf(r.target, a.baseline.params)} of ${formatSI(a.baseline.params)})` : ''}`);
  out.push(`  scan         ${r.scan.groups} groups, ${r.scan.criterion}, recovery ${r.scan.recover}, ${r.scan.data}, ${r.scan.labelled ? 'accuracy' : 'agreement'} loss; ${r.scan.source === 'cache' ? 'from the cache' : `${r.scan.seconds.toFixed(1)} s`}`);
  out.push(`  allocation   ${a.method} (${a.searches.map((s) => `${s.method}: ${formatSI(s.predicted.macs)} MACs, ${formatSI(s.predicted.params)} params, predicted loss ${s.predicted.loss.toFixed(2)}${s.met ? '' : ', misses'}`).join('; ')})`);
  if (r.latencySearch) {
    out.push(`  original     ${describeLatency(r.latencySearch.original)}`);
    for (const c of r.latencySearch.candidates) out.push(`  candidate    ${pctOf(c.macs, a.baseline.macs)} MACs: median ${c.latency.medianMs.toFixed(2)} ms (IQR ${c.latency.iqrMs.toFixed(2)})${c.meets ? ' meets' : ''}`);
  }
  if (r.lossSearch) for (const c of r.lossSearch) out.push(`  candidate    ${pctOf(c.macs, a.baseline.macs)} MACs: predicted loss ${c.predicted.toFixed(2)}, measured ${c.measured.toFixed(2)} points`);
  if (r.comparison) {
    const c = r.comparison;
    out.push(`  compared     on ${c.inputs} calibration inputs (${path.basename(c.source)}), ${c.unit} loss and relative output error; the least error is written:`);
    for (const k of c.candidates) {
      out.push(`    ${pctOf(k.macs, a.baseline.macs)} MACs, ${pctOf(k.params, a.baseline.params)} params, predicted ${k.predicted.toFixed(2)}, measured ${k.measured.toFixed(2)} points, error ${k.error.toFixed(4)}: ${candidateName(k.t)}${k.chosen ? '  ← written' : ''}`);
    }
  }
  out.push('', ...formatGroups(a.groups), '');
  if (r.prune) out.push(`  wrote        ${r.prune.output}`);
  if (r.result) {
    out.push(`  MACs         ${formatSI(a.baseline.macs)} → ${formatSI(r.result.macs)} (${pctOf(r.result.macs, a.baseline.macs)})`);
    out.push(`  parameters   ${formatSI(a.baseline.params)} → ${formatSI(r.result.params)} (${pctOf(r.result.params, a.baseline.params)})`);
    if (r.result.latency) {
      out.push(`  latency      original ${describeLatency(r.result.latency.original)}`);
      out.push(`               pruned   ${describeLatency(r.result.latency.pruned)}`);
    }
    const l = r.result.loss;
    if (l) {
      const acc = l.originalTop1 !== undefined ? `, top-1 ${(l.originalTop1 * 100).toFixed(1)}% → ${(l.prunedTop1! * 100).toFixed(1)}%` : '';
      const agr = l.agreement !== undefined ? `, agreement ${(l.agreement * 100).toFixed(1)}%` : '';
      out.push(`  loss         ${l.points.toFixed(2)} points of ${l.unit} on ${l.count} ${l.on} inputs (${path.basename(l.source)})${acc}${agr}`);
    }
  }
  const checked = dryRun ? (r.budget.kind === 'latency' || r.budget.kind === 'loss' ? 'measured on the candidate' : 'predicted, exact') : 'on the written model';
  out.push(`  target       ${r.met ? 'met' : 'MISSED'} (${checked}): ${r.met ? `${value(r, Math.abs(r.miss))} under the target` : `over by ${describeMiss(r)}`}`);
  if (dryRun) out.push('  (dry run: no model written)');
  for (const w of r.warnings) out.push(`warning: ${w}`);
  return `${out.join('\n')}\n`;
}
