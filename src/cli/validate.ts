// `onnx-pruner validate <original> <pruned>`: runs both models in ONNX Runtime on the same inputs
// and prints how far the outputs moved, latency, session time and size (or the report as JSON).
import { cliCommand } from './errors.ts';
import { addSizeOptions, epOption, intOption, parseSizes, type SizeCliOptions } from './options.ts';
import { bytes, change, ms, si } from '../shared/format.ts';
import { addDataOptions, describeDataSets, formatEvaluation, openDataSets, type DataCliOptions } from './data.ts';
import type { Command } from 'commander';
import { computeCost, validatePruned, withCost, type ExecutionProviderChoice, type ValidationReport } from '../engine/index.ts';

interface ValidateCliOptions extends DataCliOptions, SizeCliOptions {
  input?: string[];
  ep: string;
  runs: string;
  warmup: string;
  seed: string;
  threads: string;
  json?: boolean;
}

export function registerValidate(program: Command): void {
  const cmd = program
    .command('validate')
    .description('Run the original and the pruned model on the same inputs in ONNX Runtime and compare outputs, latency and size')
    .argument('<original>', 'the original .onnx model')
    .argument('<pruned>', 'the pruned .onnx model')
    .option('--input <file...>', 'input tensor file(s), in graph-input order or as NAME=FILE: raw float32 (FILE.f32[:1x3x224x224]) or .npy; random when absent')
    .option('--ep <provider>', 'execution provider: auto (CUDA if it works, else CPU), cuda or cpu', 'auto')
    .option('--runs <n>', 'timed runs per model', '10')
    .option('--warmup <n>', 'untimed runs before timing', '2')
    .option('--seed <n>', 'seed of the random inputs', '0')
    .option('--threads <n>', 'ONNX Runtime intra-op threads', '1')
    .option('--json', 'print the report as JSON');
  addSizeOptions(cmd, 'the random inputs\' size; other symbolic sizes are 1');
  addDataOptions(cmd, false).action(async (original: string, pruned: string, o: ValidateCliOptions) => {
    epOption(o.ep);
    const { evaluation } = await openDataSets(original, o);
    if (!o.json) process.stderr.write(describeDataSets({ evaluation }));
    const report = await validatePruned(original, pruned, {
      ep: o.ep as ExecutionProviderChoice,
      inputs: o.input,
      runs: intOption('--runs', o.runs),
      warmup: intOption('--warmup', o.warmup, 0),
      seed: intOption('--seed', o.seed, 0),
      threads: intOption('--threads', o.threads),
      ...parseSizes(o),
      ...(evaluation ? { evaluation } : {}),
      onProgress: o.json ? undefined : (m) => process.stderr.write(`… ${m}\n`),
    });
    const full = withCost(report, computeCost);
    process.stdout.write(o.json ? `${JSON.stringify(full, null, 2)}\n` : formatReport(full));
  });
}

function fmtDiff(v: number | undefined): string {
  return v === undefined ? '-' : v === 0 ? '0' : v.toExponential(2);
}

/** The human-readable summary: aligned, short, one line per fact. */
export function formatReport(r: ValidationReport): string {
  const lines: string[] = [];
  const why = r.fallbackReason ? ` (${r.requestedProvider}: ${r.fallbackReason})` : r.requestedProvider !== r.provider ? ` (${r.requestedProvider})` : '';
  lines.push(`Provider  ${r.provider}${why}, ${r.intraOpThreads} intra-op thread${r.intraOpThreads === 1 ? '' : 's'}`);
  for (const i of r.inputs) {
    const src = i.source === 'file' ? i.file : i.source === 'random' ? `random N(0,1), seed ${r.seed ?? 0}` : 'given';
    lines.push(`Input     ${i.name} ${i.type} [${i.dims.join(', ')}] ${src}`);
  }
  lines.push('');
  for (const o of r.outputs) {
    if (!o.comparable) {
      lines.push(`Output ${o.name}: not compared: ${o.note ?? ''} [${o.originalShape.join(', ')}] vs [${o.prunedShape?.join(', ') ?? '-'}]`);
      continue;
    }
    const parts = [
      `max |Δ| ${fmtDiff(o.maxAbsDiff)}`,
      `mean |Δ| ${fmtDiff(o.meanAbsDiff)}`,
      `cosine ${o.cosine?.toFixed(6)}`,
      ...(o.top1Agreement !== undefined ? [`top-1 agreement ${(o.top1Agreement * 100).toFixed(1)}%`] : []),
      ...(o.nonFinite ? [`${o.nonFinite} NaN/Inf values skipped`] : []),
    ];
    lines.push(`Output ${o.name} [${o.originalShape.join(', ')}]: ${parts.join(', ')}`);
  }
  lines.push('');
  const rows: [string, string, string, string][] = [['', 'original', 'pruned', 'change']];
  rows.push(['Size', bytes(r.original.sizeBytes), bytes(r.pruned.sizeBytes), change(r.original.sizeBytes, r.pruned.sizeBytes)]);
  if (r.params) rows.push(['Params', si(r.params.before), si(r.params.after), change(r.params.before, r.params.after)]);
  if (r.macs) rows.push(['MACs (batch 1)', si(r.macs.before), si(r.macs.after), change(r.macs.before, r.macs.after)]);
  rows.push(['Latency median', ms(r.original.latency.medianMs), ms(r.pruned.latency.medianMs), change(r.original.latency.medianMs, r.pruned.latency.medianMs)]);
  rows.push(['Latency p90', ms(r.original.latency.p90Ms), ms(r.pruned.latency.p90Ms), change(r.original.latency.p90Ms, r.pruned.latency.p90Ms)]);
  rows.push(['Session creation', ms(r.original.sessionMs), ms(r.pruned.sessionMs), '']);
  const w = [0, 1, 2, 3].map((c) => Math.max(...rows.map((row) => row[c].length)));
  for (const row of rows) lines.push(`${row[0].padEnd(w[0])}  ${row[1].padStart(w[1])}  ${row[2].padStart(w[2])}  ${row[3].padStart(w[3])}`.trimEnd());
  if (r.evaluation) lines.push('', ...formatEvaluation(r.evaluation));
  for (const n of r.notes ?? []) lines.push(`Note: ${n}`);
  lines.push(`(latency over ${r.original.latency.runs} runs after ${r.warmup} warm-up)`);
  return `${lines.join('\n')}\n`;
}

/** This command for the CLI's entry (main.ts). */
export const command = cliCommand(registerValidate);
