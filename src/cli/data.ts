// The data flags shared by `prune` and `validate`: --calib, --calib-count, --eval, --labels,
// --preprocess; and the lines that print an evaluation.
import type { Command } from 'commander';
import { describePreprocess, modelInputSpecs, openInputSet, parsePreprocessArg, PrunerError, type EvaluationReport, type InputSet, type Preprocess } from '../engine/index.ts';
import { pct } from '../shared/format.ts';

export interface DataCliOptions {
  calib?: string;
  calibCount?: string;
  eval?: string;
  labels?: string;
  preprocess?: string;
}

/** Adds --eval, --labels and --preprocess (and, for prune, --calib and --calib-count). */
export function addDataOptions(cmd: Command, calibration: boolean): Command {
  if (calibration) {
    cmd
      .option('--calib <path>', 'calibration inputs: a folder of JPEG/PNG images, .npy, .npz[:NAME] or raw FILE.f32:COUNTxCxHxW')
      .option('--calib-count <n>', 'use only the first n calibration inputs');
  }
  return cmd
    .option('--eval <path>', 'evaluation inputs (same formats; never the calibration inputs): accuracy with labels, agreement with the original without')
    .option('--labels <file>', 'labels of the evaluation inputs: .npy / .npz[:NAME] of integers or .u8 (one byte each); an ImageFolder layout gives them too')
    .option('--preprocess <preset|json>', 'image preprocessing: imagenet, raw255, unit, signed, fmnist, or JSON like \'{"preset":"imagenet","channels":"bgr"}\' (default: proposed from the model input)');
}

/** Opens the data sets the flags name, fitted to the model's (only) input. */
export async function openDataSets(model: string, o: DataCliOptions): Promise<{ calibration?: InputSet; evaluation?: InputSet; preprocess?: Preprocess }> {
  if (o.labels !== undefined && o.eval === undefined) throw new PrunerError('--labels goes with --eval (the labels of the evaluation inputs)');
  if (o.calibCount !== undefined && o.calib === undefined) throw new PrunerError('--calib-count goes with --calib');
  if (o.calib === undefined && o.eval === undefined) return o.preprocess !== undefined ? { preprocess: parsePreprocessArg(o.preprocess) } : {};
  const specs = modelInputSpecs(model);
  if (specs.length !== 1) throw new PrunerError(`${model}: calibration and evaluation data need a model with one input, this one has ${specs.length} (${specs.map((s) => s.name).join(', ')})`, { subject: model });
  const preprocess = o.preprocess !== undefined ? parsePreprocessArg(o.preprocess) : undefined;
  let maxCount: number | undefined;
  if (o.calibCount !== undefined) {
    maxCount = Number(o.calibCount);
    if (!Number.isInteger(maxCount) || maxCount < 1) throw new PrunerError(`--calib-count must be an integer ≥ 1, got "${o.calibCount}"`);
  }
  const calibration = o.calib !== undefined ? await openInputSet(o.calib, { spec: specs[0], preprocess, maxCount }) : undefined;
  const evaluation = o.eval !== undefined ? await openInputSet(o.eval, { spec: specs[0], preprocess, labels: o.labels }) : undefined;
  const used = calibration?.preprocess ?? evaluation?.preprocess ?? preprocess;
  return { ...(calibration ? { calibration } : {}), ...(evaluation ? { evaluation } : {}), ...(used ? { preprocess: used } : {}) };
}

/** One line per data set opened, for stderr: what will be read, and how images are preprocessed. */
export function describeDataSets(data: { calibration?: InputSet; evaluation?: InputSet }): string {
  const line = (what: string, set: InputSet) =>
    `${what}: ${set.count} inputs [${set.sampleShape.join(', ')}] from ${set.source}${set.labelsSource ? `, labels from ${set.labelsSource}` : ''}${set.preprocess ? `; preprocessing ${describePreprocess(set.preprocess)}` : ''}\n`;
  return (data.calibration ? line('calibration', data.calibration) : '') + (data.evaluation ? line('evaluation', data.evaluation) : '');
}


/** The evaluation as printed lines: accuracy before and after, or agreement, and warnings. */
export function formatEvaluation(e: EvaluationReport): string[] {
  const out = [`Evaluation on ${e.count} inputs of ${e.source}${e.labels ? ` (labels: ${e.labels})` : ' (no labels)'}, batch ${e.batch}:`];
  if (e.preprocess) out.push(`  preprocessing   ${describePreprocess(e.preprocess)}`);
  const acc = (a: NonNullable<EvaluationReport['original']>) => `top-1 ${pct(a.top1)}${a.top5 !== undefined ? `, top-5 ${pct(a.top5)}` : ''}`;
  if (e.original) out.push(`  original        ${acc(e.original)}`);
  if (e.pruned) out.push(`  pruned          ${acc(e.pruned)}`);
  const c = e.comparison;
  if (c) {
    const agree = c.top1Agreement !== undefined ? `top-1 agreement ${pct(c.top1Agreement)}, ` : '';
    out.push(`  agreement       ${agree}mean cosine ${c.meanCosine.toFixed(6)} (min ${c.minCosine.toFixed(4)}), drift ‖Δ‖/‖y‖ ${c.relativeError.toExponential(2)}`);
  }
  for (const w of e.warnings) out.push(`warning: ${w}`);
  return out;
}
