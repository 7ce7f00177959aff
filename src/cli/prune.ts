// `onnx-pruner prune <model>`: structured channel pruning by a criterion and a ratio or threshold
// (or a saved plan), written beside the original as <name>.pruned.onnx. Prints a short summary,
// or with --json the PruneReport the extension shows.
import { cliCommand } from './errors.ts';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { Command } from 'commander';
import {
  AnalysedModel, DEFAULT_BLOCK_THRESHOLD, PLAN_CRITERIA, scanBlocks, weakestBlocksByData, type BlockScan, previewAnalysed, PrunerError, pruneAnalysed, readPlanFile, validatePlan,
  type BlockReport, type PlanCriterion, type ExecutionProviderChoice, type PrunePreview, type PruneReport, type PruningPlan,
  RECOVER_MODES, type RecoverMode, type RecoveryReport,
} from '../engine/index.ts';
import { cliSignal } from './signals.ts';
import { formatBytes, formatSI, formatTable } from './format.ts';
import { change, ms } from '../shared/format.ts';
import { addDataOptions, describeDataSets, formatEvaluation, openDataSets, type DataCliOptions } from './data.ts';
import { addSizeOptions, atSizes, criterionOption, epOption, intOption, numberOption, recoverOption, type SizeCliOptions } from './options.ts';
import { checkTargetConflicts, runTargetPrune, TARGET_FLAGS, type TargetCliOptions } from './target.ts';

interface PruneCliOptions extends DataCliOptions, SizeCliOptions, Partial<Omit<TargetCliOptions, keyof DataCliOptions | 'compensate' | 'ep'>> {
  recover?: string;
  criterion?: string;
  ratio?: string;
  threshold?: string;
  global?: boolean;
  normalize?: boolean;
  roundTo?: string;
  minChannels?: string;
  exclude?: string[];
  plan?: string;
  savePlan?: string;
  out?: string;
  force?: boolean;
  compensate: boolean;
  exactBorders?: boolean;
  validate?: boolean;
  input?: string[];
  ep: string;
  json?: boolean;
  dryRun?: boolean;
  removeBlocks?: boolean | string;
  blockThreshold?: string;
  blockRanking?: string;
}

/** The plan from `--plan` (if any) with every flag given on the command line applied over it. */
export function planFromOptions(model: string, o: PruneCliOptions, given: (name: string) => boolean): PruningPlan {
  const base: Partial<PruningPlan> = o.plan ? readPlanFile(o.plan) : {};
  const plan: PruningPlan = { version: 1, criterion: (base.criterion ?? 'bn-gamma') as PlanCriterion, scope: base.scope ?? 'uniform', ...base } as PruningPlan;
  if (o.criterion !== undefined) {
    plan.criterion = criterionOption(o.criterion);
  } else if (!o.plan && o.removeBlocks === undefined) throw new PrunerError(`--criterion is required (one of ${PLAN_CRITERIA.join(', ')}), or give --plan`);
  if (o.blockThreshold !== undefined && o.removeBlocks === undefined) throw new PrunerError('--block-threshold applies to --remove-blocks');
  if (o.blockRanking !== undefined) {
    if (o.blockRanking !== 'gamma' && o.blockRanking !== 'data') throw new PrunerError(`--block-ranking must be gamma or data, got "${o.blockRanking}"`);
    if (o.blockRanking === 'data' && typeof o.removeBlocks !== 'string') throw new PrunerError('--block-ranking data goes with --remove-blocks N (the N weakest blocks by the output change without each)');
    if (o.blockRanking === 'data' && o.calib === undefined) throw new PrunerError('--block-ranking data needs --calib: the inputs each block\'s removal is measured on');
  }
  if (o.removeBlocks !== undefined) {
    if (typeof o.removeBlocks === 'string') {
      if (o.blockThreshold !== undefined) throw new PrunerError('give either --remove-blocks N (the N weakest blocks) or --block-threshold, not both');
      plan.removeBlocks = { count: intOption('--remove-blocks', o.removeBlocks) };
    } else plan.removeBlocks = { threshold: o.blockThreshold !== undefined ? numberOption('--block-threshold', o.blockThreshold) : DEFAULT_BLOCK_THRESHOLD };
    // Blocks alone: no channel is pruned unless a ratio or threshold is given too.
    if (o.ratio === undefined && o.threshold === undefined && plan.ratio === undefined && plan.threshold === undefined) plan.ratio = 0;
  }
  if (o.ratio !== undefined && o.threshold !== undefined) throw new PrunerError('give either --ratio or --threshold, not both');
  if (o.ratio !== undefined) {
    plan.ratio = numberOption('--ratio', o.ratio);
    delete plan.threshold;
  }
  if (o.threshold !== undefined) {
    plan.threshold = numberOption('--threshold', o.threshold);
    delete plan.ratio;
  }
  if (plan.ratio === undefined && plan.threshold === undefined) throw new PrunerError('--ratio or --threshold is required (or a --plan that has one)');
  if (o.global) plan.scope = 'global';
  else if (!o.plan && o.threshold !== undefined) plan.scope = 'global';
  if (given('normalize')) plan.normalize = o.normalize;
  if (o.roundTo !== undefined) plan.roundTo = intOption('--round-to', o.roundTo);
  if (o.minChannels !== undefined) plan.minChannels = intOption('--min-channels', o.minChannels);
  if (o.exclude?.length) plan.exclude = [...(plan.exclude ?? []), ...o.exclude];
  if (given('compensate') || !o.plan) plan.compensate = o.compensate;
  plan.model = path.basename(model);
  validatePlan(plan, o.plan ? path.basename(o.plan) : 'command line');
  return plan;
}

export function registerPrune(program: Command): void {
  const cmd = program
    .command('prune')
    .description('Remove the least important channels of a model; writes <name>.pruned.onnx beside it (never overwrites the original)')
    .argument('<model>', 'the .onnx model')
    .option('--criterion <name>', `importance criterion: ${PLAN_CRITERIA.join(', ')}`)
    .option('--ratio <r>', 'fraction of channels to remove, in [0, 1)')
    .option('--threshold <t>', 'remove channels whose score is below t (implies --global unless a plan says otherwise)')
    .option('--global', 'one ranking over all layers (each layer gets its own ratio) instead of the same ratio everywhere')
    .option('--normalize', 'normalise scores per layer before a global ranking (default for norms)')
    .option('--no-normalize', 'do not normalise scores (default for bn-gamma)')
    .option('--round-to <n>', 'keep a multiple of n channels per layer group')
    .option('--min-channels <n>', 'never keep fewer than n channels in a layer group')
    .option('--exclude <pattern...>', 'leave layers matching these names alone (glob with * and ?, or /regex/)')
    .option('--plan <file>', 'start from a saved pruning plan (flags given here override its fields)')
    .option('--save-plan <file>', 'write the plan used as JSON (never over the model or its data; over an existing file only with --force)')
    .option('--dry-run', 'show what would be pruned, write the plan if --save-plan, write no model')
    .option('--out <path>', 'output file (default <name>.pruned.onnx beside the model, numbered if it exists)')
    .option('--force', 'overwrite an existing output or plan file (never the input model nor its data), and write a plan that cuts layers to their minimum')
    .option('--no-compensate', 'do not fold removed channels\' expected outputs into the next layers (BN running mean or bias)')
    .option('--exact-borders', 'make compensation exact at zero-padded borders with an added constant correction (an Add node per padded consumer)')
    .option('--remove-blocks [n]', 'remove whole residual blocks first: those whose branch\'s last BatchNorm has every |γ| below --block-threshold, or with N the N weakest (by that max |γ|)')
    .option('--block-ranking <by>', 'with --remove-blocks N: rank blocks by gamma (the last BatchNorm\'s max |γ|, default) or data (the output change without each block on the --calib inputs, first 64)')
    .option('--block-threshold <t>', `with --remove-blocks: max |γ| of the branch's last BatchNorm below which a block goes (default ${DEFAULT_BLOCK_THRESHOLD})`)
    .option('--validate', 'run both models in ONNX Runtime and compare their outputs')
    .option('--input <file...>', 'validation input file(s) (.f32[:AxBxC] or .npy, optionally NAME=FILE); random when absent')
    .option('--ep <provider>', 'execution provider for validation: auto, cuda or cpu', 'auto')
    .option('--recover <mode>', `recovery after pruning: ${RECOVER_MODES.join(', ')} (default auto: the best the data allows)`)
    .option('--target-macs <f>', 'prune to a MACs target: a fraction of the model (0.5 = half) or an absolute count; finds per-layer ratios from a sensitivity scan (needs --calib)')
    .option('--target-params <f>', 'prune to a parameter target: a fraction of the model or an absolute count (needs --calib)')
    .option('--target-latency <ms>', 'prune until the median latency in ONNX Runtime on this machine is at most this many ms (needs --calib)')
    .option('--max-loss <points>', 'the smallest model losing at most this many points of accuracy (with --labels) or top-1 agreement (needs --calib)')
    .option('--scan-inputs <n>', 'with a target: calibration inputs the sensitivity scan measures on (default 64)')
    .option('--scan-break-loss <points>', 'with a target: the scan stops along a group\'s ratios once its loss passes this many points (default 30; larger reaches narrower widths, at more cost)')
    .option('--no-scan-cache', 'with a target: do not read or write the sensitivity scan cached beside the model')
    .option('--no-compare', 'with --target-macs or --target-params: write the allocation without measuring it against its blends with a uniform ratio')
    .option('--latency-runs <n>', 'with --target-latency: timed runs per model, the median counts (default 20)')
    .option('--threads <n>', 'with --target-latency: ONNX Runtime intra-op threads for timing (default 1)')
    .option('--json', 'print the report as JSON');
  addSizeOptions(cmd, 'the size the model is analysed at: the report\'s MACs, the preview, a target\'s budget and --validate\'s random inputs; the written model keeps its symbolic sizes');
  addDataOptions(cmd, true);
  cmd.action(async (model: string, o: PruneCliOptions) => {
    epOption(o.ep);
    if (TARGET_FLAGS.some((k) => o[k] !== undefined)) {
      checkTargetConflicts(o as unknown as Record<string, unknown>);
      await runTargetPrune(model, { ...o, noScanCache: (o as { scanCache?: boolean }).scanCache === false, noCompare: (o as { compare?: boolean }).compare === false } as TargetCliOptions);
      return;
    }
    for (const k of ['scanInputs', 'scanBreakLoss', 'latencyRuns', 'threads'] as const) if (o[k] !== undefined) throw new PrunerError(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} goes with a target (--target-macs, --target-params, --target-latency, --max-loss)`);
    if (o.recover !== undefined) recoverOption(o.recover);
    const plan = planFromOptions(model, o, (name) => cmd.getOptionValueSource(name) === 'cli');
    // A saved plan's preprocessing applies unless --preprocess says otherwise; the one used is saved with the plan.
    const data = await openDataSets(model, { ...o, preprocess: o.preprocess ?? (plan.preprocess ? JSON.stringify(plan.preprocess) : undefined) });
    if (data.calibration?.preprocess || data.evaluation?.preprocess) plan.preprocess = data.preprocess;
    if (!o.json) process.stderr.write(describeDataSets(data));
    const signal = cliSignal();
    const progress = o.json ? undefined : (stage: string) => process.stderr.write(`… ${stage}\n`);
    progress?.('loading');
    const t0 = performance.now();
    const analysed = atSizes(AnalysedModel.load(model, { signal, weights: 'file' }), o);
    const loadMs = Math.round((performance.now() - t0) * 10) / 10;
    let blockScan: BlockScan | undefined;
    if (o.blockRanking === 'data' && plan.removeBlocks && 'count' in plan.removeBlocks) {
      // The N weakest blocks by the data ranking, named in the plan (a saved plan repeats them without data).
      blockScan = await scanBlocks(analysed, data.calibration!, { ep: o.ep as ExecutionProviderChoice, signal, ...(o.json ? {} : { onProgress: (_f: number, what: string) => process.stderr.write(`… blocks: ${what}\n`) }) });
      plan.removeBlocks = { names: weakestBlocksByData(analysed, blockScan, plan.removeBlocks.count) };
    }
    const withData = <T extends { removedBlocks?: BlockReport[] }>(r: T): T =>
      blockScan && r.removedBlocks ? { ...r, removedBlocks: r.removedBlocks.map((b) => (blockScan.scores[b.name] ? { ...b, data: blockScan.scores[b.name] } : b)) } : r;
    if (o.out && !/\.onnx$/i.test(o.out) && !(fs.existsSync(o.out) && fs.statSync(o.out).isDirectory())) {
      process.stderr.write(`onnx-pruner: warning: --out ${o.out} does not end in .onnx (the file is an ONNX model all the same)\n`);
    }
    if (o.dryRun) {
      const p = withData(await previewAnalysed(analysed, plan, { savePlan: o.savePlan, force: o.force, signal }));
      warnLoudly(p.warnings);
      process.stdout.write(o.json ? `${JSON.stringify({ ...p, kept: Object.fromEntries(p.kept) }, null, 2)}\n` : formatPreview(p, o.savePlan));
      return;
    }
    const report = withData(await pruneAnalysed(analysed, plan, {
      out: o.out,
      force: o.force,
      allowMinimal: o.force,
      savePlan: o.savePlan,
      signal,
      validate: o.validate,
      ep: o.ep as ExecutionProviderChoice,
      validationInputs: o.input,
      borderCorrection: o.exactBorders === true,
      ...(data.calibration ? { calibration: data.calibration } : {}),
      ...(data.evaluation ? { evaluation: data.evaluation } : {}),
      ...(o.recover !== undefined ? { recover: o.recover as RecoverMode } : {}),
      onProgress: progress,
    }, { loadMs }));
    warnLoudly(report.warnings);
    process.stdout.write(o.json ? `${JSON.stringify(report, null, 2)}\n` : formatPruneReport(report));
  });
}

/** Warnings that must not scroll by unseen (a plan cutting layers to their minimum) go to stderr too. */
function warnLoudly(warnings: string[]): void {
  for (const w of warnings) if (/down to the least they can keep/.test(w)) process.stderr.write(`onnx-pruner: WARNING: ${w}\n`);
}

function describePlan(p: PruningPlan): string {
  const amount = p.ratio !== undefined ? `ratio ${p.ratio}` : `threshold ${p.threshold}`;
  return `${p.criterion}, ${amount}, ${p.scope}${p.compensate === false ? ', no compensation' : ''}`;
}

/** After MACs that are not those of a real input (the warning says why). */
const NOT_REAL_MACS = ', not for a real input: give its sizes with --dim or --shape (see the warning)';

/** The human summary of a run: output, figures before → after, per-layer widths, compensation, validation. */
export function formatPruneReport(r: PruneReport): string {
  const out: string[] = [];
  out.push(`Pruned ${r.input}`);
  out.push(`  wrote        ${r.output}${r.externalData ? ` (+ ${path.basename(r.externalData)})` : ''}`);
  out.push(`  plan         ${describePlan(r.plan)}`);
  out.push(`  parameters   ${formatSI(r.params.before)} → ${formatSI(r.params.after)} (${change(r.params.before, r.params.after)})`);
  out.push(`  MACs         ${formatSI(r.macs.before)} → ${formatSI(r.macs.after)} (${change(r.macs.before, r.macs.after)})${r.macs.complete === false ? NOT_REAL_MACS : ''}`);
  out.push(`  size         ${formatBytes(r.size.before)} → ${formatBytes(r.size.after)} (${change(r.size.before, r.size.after)})`);
  if (r.removedBlocks) out.push(`  blocks       ${r.removedBlocks.length} residual block${r.removedBlocks.length === 1 ? '' : 's'} removed${r.removedBlocks.length ? `: ${r.removedBlocks.map((b) => b.name).join(', ')}` : ''}`);
  out.push(`  groups       ${r.groups.pruned} of ${r.groups.prunable} prunable channel groups pruned; ${r.groups.frozen} frozen`);
  out.push('');
  if (r.layers.length) {
    out.push(
      ...formatTable(
        [{ header: 'layer' }, { header: 'op' }, { header: 'channels', align: 'right' }, { header: 'kept', align: 'right' }],
        r.layers.map((l) => [l.name, l.op, `${l.channelsBefore} → ${l.channelsAfter}`, `${((l.channelsAfter / l.channelsBefore) * 100).toFixed(0)}%`]),
      ),
    );
  } else out.push('No layer lost channels.');
  out.push('');
  const c = r.compensation;
  if (!c.enabled) out.push('Compensation off.');
  else if (c.constantChannels + c.estimatedChannels === 0) out.push('Compensation: no removed channel has a BatchNormalization (or an all-zero filter) to tell its output; nothing to fold.');
  else {
    const exact = c.layers.filter((l) => l.exact);
    out.push(`Compensation: ${c.channelsCompensated} of ${c.constantChannels + c.estimatedChannels} removed channels (${c.constantChannels} constant, ${c.estimatedChannels} by expected value) folded into ${c.layers.length} layers, ${exact.length} exact, ${c.layers.length - exact.length} approximate`);
    for (const l of c.layers.filter((x) => !x.exact)) out.push(`  approximate  ${l.name}: ${l.reason}`);
    for (const s of c.skipped) out.push(`  not followed ${s.node} (${s.channels} channels): ${s.reason}`);
  }
  out.push(...formatRecovery(r.recovery));
  if (r.validation) {
    const v = r.validation;
    out.push('');
    out.push(`Validation on ${v.provider}${v.fallbackReason ? ` (CUDA: ${v.fallbackReason})` : ''}:`);
    for (const o of v.outputs) {
      if (!o.comparable) out.push(`  ${o.name}: not compared (${o.note ?? ''})`);
      else {
        const top1 = o.top1Agreement !== undefined ? `, top-1 agreement ${(o.top1Agreement * 100).toFixed(1)}%` : '';
        out.push(`  ${o.name} [${o.originalShape.join(', ')}]: max |Δ| ${o.maxAbsDiff?.toExponential(2)}, cosine ${o.cosine?.toFixed(6)}${top1}`);
      }
    }
    out.push(`  latency median ${v.original.latency.medianMs.toFixed(2)} ms → ${v.pruned.latency.medianMs.toFixed(2)} ms`);
    for (const n of v.notes ?? []) out.push(`  note: ${n}`);
    if (v.evaluation) out.push('', ...formatEvaluation(v.evaluation));
  }
  for (const w of r.warnings) out.push(`warning: ${w}`);
  return `${out.join('\n')}\n`;
}

/** What recovery ran and why, and every layer it skipped or refit with a caveat (the engine's RecoveryReport; compensation has its own lines above). */
function formatRecovery(rec: RecoveryReport): string[] {
  const steps = rec.steps.filter((s) => s !== 'compensation');
  if (!steps.length) return [];
  const refit = rec.layers.filter((l) => l.status === 'refit').length;
  const skipped = rec.layers.filter((l) => l.status === 'skipped');
  const out = ['', `Recovery: ${steps.join(' then ')} (${rec.requested} asked): ${rec.why}`];
  if (rec.calibration) out.push(`  on           ${rec.calibration.count} calibration inputs of ${rec.calibration.source}, ${rec.passes} ONNX Runtime pass${rec.passes === 1 ? '' : 'es'} on ${rec.provider ?? 'cpu'}, ${ms(rec.ms)}`);
  out.push(`  layers       ${refit} refit${skipped.length ? `, ${skipped.length} skipped` : ''}`);
  for (const l of rec.layers.filter((x) => x.reason)) out.push(`  ${l.status === 'skipped' ? 'skipped' : 'note   '}      ${l.name} (${l.step}): ${l.reason}`);
  return out;
}

function formatPreview(p: PrunePreview, savedPlan?: string): string {
  const out: string[] = [];
  out.push(`Dry run on ${p.input} (nothing written${savedPlan ? `; plan saved to ${path.resolve(savedPlan)}` : ''})`);
  out.push(`  plan         ${describePlan(p.plan)}`);
  out.push(`  parameters   ${formatSI(p.preview.params.before)} → ${formatSI(p.preview.params.after)} (${change(p.preview.params.before, p.preview.params.after)})`);
  out.push(`  MACs         ${formatSI(p.preview.macs.before)} → ${formatSI(p.preview.macs.after)} (${change(p.preview.macs.before, p.preview.macs.after)})${p.preview.macs.complete === false ? NOT_REAL_MACS : ''}`);
  if (p.removedBlocks) out.push(`  blocks       ${p.removedBlocks.length} residual block${p.removedBlocks.length === 1 ? '' : 's'} removed${p.removedBlocks.length ? `: ${p.removedBlocks.map((b) => b.name).join(', ')}` : ''}`);
  const changed = p.preview.layers.filter((l) => l.channelsAfter !== l.channelsBefore);
  if (changed.length) {
    out.push('');
    out.push(...formatTable([{ header: 'layer' }, { header: 'op' }, { header: 'channels', align: 'right' }], changed.map((l) => [l.name, l.op, `${l.channelsBefore} → ${l.channelsAfter}`])));
  }
  for (const w of p.warnings) out.push(`warning: ${w}`);
  return `${out.join('\n')}\n`;
}

/** This command for the CLI's entry (main.ts). */
export const command = cliCommand(registerPrune);
