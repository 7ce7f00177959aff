// `onnx-pruner scan <model> --calib PATH`: the sensitivity of every prunable channel group (each
// pruned alone at each ratio, measured on the calibration inputs), as a table ranked by how much
// each group tolerates, or with --json the scan itself. Cached beside the model.
import { cliCommand } from './errors.ts';
import * as path from 'node:path';
import type { Command } from 'commander';
import {
  AnalysedModel, CancelledError, DEFAULT_BREAK_LOSS, DEFAULT_SCAN_INPUTS, PLAN_CRITERIA, PrunerError, RECOVER_MODES, modelInputSpecs, openInputSet, parsePreprocessArg,
  scanCachePath, scanSensitivity, type ExecutionProviderChoice, type PlanCriterion, type RecoverMode, type ScanResult,
} from '../engine/index.ts';
import { cliSignal } from './signals.ts';
import { formatSI, formatTable } from './format.ts';
import { describeDataSets } from './data.ts';
import { breakLossOption, criterionOption, epOption, intOption, recoverOption } from './options.ts';
import { rankGroups, tolerates } from '../shared/scan-rank.ts';

interface ScanCliOptions {
  calib?: string;
  calibCount?: string;
  labels?: string;
  preprocess?: string;
  criterion: string;
  recover: string;
  ratios?: string;
  count: string;
  breakLoss: string;
  roundTo?: string;
  cache: boolean;
  ep: string;
  json?: boolean;
}

/** `0.1,0.2,0.5` → [0.1, 0.2, 0.5], each in (0, 1). */
export function parseRatios(v: string): number[] {
  const out = v.split(',').map((s) => s.trim()).filter((s) => s !== '').map((s) => {
    const n = Number(s);
    if (!Number.isFinite(n) || n <= 0 || n >= 1) throw new PrunerError(`--ratios expects numbers in (0, 1) separated by commas, got "${s}"`);
    return n;
  });
  if (!out.length) throw new PrunerError('--ratios expects at least one ratio, e.g. 0.1,0.3,0.5');
  return [...new Set(out)].sort((a, b) => a - b);
}

export function registerScan(program: Command): void {
  const cmd = program
    .command('scan')
    .description('Sensitivity of every prunable channel group: each pruned alone at each ratio and measured on the calibration inputs (cached beside the model as <name>.onnx.sensitivity.json)')
    .argument('<model>', 'the .onnx model')
    .option('--calib <path>', 'the inputs to measure on: a folder of JPEG/PNG images, .npy, .npz[:NAME] or raw FILE.f32:COUNTxCxHxW (required)')
    .option('--calib-count <n>', 'use only the first n calibration inputs')
    .option('--labels <file>', 'labels of the calibration inputs (.npy / .npz[:NAME] of integers, or .u8): losses are then accuracy lost; without, top-1 agreement lost')
    .option('--preprocess <preset|json>', 'image preprocessing: imagenet, raw255, unit, signed, fmnist, or JSON (default: proposed from the model input)')
    .option('--criterion <name>', `channel ranking within a group: ${PLAN_CRITERIA.join(', ')}`, 'l1')
    .option('--recover <mode>', `recovery after each cut: ${RECOVER_MODES.join(', ')}`, 'auto')
    .option('--ratios <list>', 'ratios tried per group, comma-separated (default 0.1,0.2,…,0.9)')
    .option('--count <n>', 'inputs the losses are measured on (the first ones)', String(DEFAULT_SCAN_INPUTS))
    .option('--break-loss <points>', 'stop along a group\'s ratios once its loss passes this many points', String(DEFAULT_BREAK_LOSS))
    .option('--round-to <n>', 'keep a multiple of n channels per group')
    .option('--no-cache', 'neither read nor write the cache file beside the model')
    .option('--ep <provider>', 'execution provider: auto (CUDA when present), cuda or cpu', 'auto')
    .option('--json', 'print the scan as JSON');
  cmd.action(async (model: string, o: ScanCliOptions) => {
    epOption(o.ep);
    criterionOption(o.criterion);
    recoverOption(o.recover);
    if (o.calib === undefined) throw new PrunerError('scan needs --calib: the inputs the losses are measured on (and recovery fits on)');
    const breakLoss = breakLossOption('--break-loss', o.breakLoss);
    const specs = modelInputSpecs(model);
    if (specs.length !== 1) throw new PrunerError(`${model}: the scan needs a model with one input, this one has ${specs.length} (${specs.map((s) => s.name).join(', ')})`, { subject: model });
    const data = await openInputSet(o.calib, {
      spec: specs[0],
      ...(o.preprocess !== undefined ? { preprocess: parsePreprocessArg(o.preprocess) } : {}),
      ...(o.labels !== undefined ? { labels: o.labels } : {}),
      ...(o.calibCount !== undefined ? { maxCount: intOption('--calib-count', o.calibCount) } : {}),
    });
    if (!o.json) process.stderr.write(describeDataSets({ calibration: data }));
    const signal = cliSignal();
    const analysed = AnalysedModel.load(model, { signal, weights: 'file' });
    let last = -1;
    const scan = await scanSensitivity(analysed, data, {
      criterion: o.criterion as PlanCriterion,
      recover: o.recover as RecoverMode,
      ...(o.ratios !== undefined ? { ratios: parseRatios(o.ratios) } : {}),
      count: intOption('--count', o.count),
      breakLoss,
      ...(o.roundTo !== undefined ? { roundTo: intOption('--round-to', o.roundTo) } : {}),
      cache: o.cache,
      ep: o.ep as ExecutionProviderChoice,
      signal,
      onProgress: o.json
        ? undefined
        : (f, what) => {
            const pct = Math.floor(f * 100);
            if (pct === last) return;
            last = pct;
            process.stderr.write(`… ${pct}% ${what}\n`);
          },
    });
    const cacheFile = o.cache ? scanCachePath(analysed.path) : undefined;
    process.stdout.write(o.json ? `${JSON.stringify({ ...scan, ...(cacheFile ? { cacheFile } : {}) }, null, 2)}\n` : formatScan(scan, analysed.path, cacheFile));
    if (scan.partial && signal.aborted) {
      process.stderr.write(`onnx-pruner: scan cancelled: ${scan.groups.filter((g) => g.points.length).length} of ${scan.groups.length} groups measured${cacheFile ? `, kept in ${cacheFile} (marked partial; the next scan with the same settings completes it)` : ''}\n`);
      throw new CancelledError();
    }
  });
}

export function formatScan(scan: ScanResult, model: string, cacheFile?: string): string {
  const s = scan.settings;
  const out: string[] = [];
  out.push(`Sensitivity of ${model}${scan.partial ? ' (PARTIAL: cancelled before the end)' : ''}`);
  out.push(`  measured on  ${s.data}; ${s.criterion}, recovery ${s.recover}${s.roundTo > 1 ? `, round to ${s.roundTo}` : ''}`);
  const base = scan.baseline;
  out.push(`  baseline     ${formatSI(base.params)} parameters, ${formatSI(base.macs)} MACs${base.accuracy !== undefined ? `, top-1 ${(base.accuracy * 100).toFixed(1)}% on these inputs` : ''}`);
  out.push(`  loss         ${s.labelled ? 'points of top-1 accuracy lost' : 'points of top-1 agreement with the original lost'}; '-' = not measured (the group passed ${s.breakLoss} points before)`);
  out.push(`  ${scan.source === 'cache' ? `from the cache ${cacheFile ?? ''}` : `computed in ${scan.seconds.toFixed(1)} s${cacheFile ? `, cached in ${path.basename(cacheFile)}` : ''}`}`);
  out.push('');
  const ranked = rankGroups(scan.groups, s.ratios);
  out.push(
    ...formatTable(
      [
        { header: 'group' },
        { header: 'channels', align: 'right' },
        { header: '≤1 pt', align: 'right' },
        ...s.ratios.map((r) => ({ header: String(r), align: 'right' as const })),
      ],
      ranked.map((g) => [
        `${g.layers[0]}${g.layers.length > 1 ? ` (+${g.layers.length - 1})` : ''}`,
        String(g.channels),
        String(tolerates(g, 1)),
        ...s.ratios.map((r) => {
          const p = g.points.find((x) => x.ratio === r);
          return p ? p.loss.toFixed(1) : '-';
        }),
      ]),
    ),
  );
  out.push('');
  out.push('Ranked most tolerant first (mean loss over the ratios); "≤1 pt": the largest ratio up to which the loss stays within 1 point.');
  return `${out.join('\n')}\n`;
}

/** This command for the CLI's entry (main.ts). */
export const command = cliCommand(registerScan);
