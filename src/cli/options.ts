// Option parsing shared by the subcommands.
import type { Command } from 'commander';
import { inputShapesFromSizes, PLAN_CRITERIA, PrunerError, RECOVER_MODES, type AnalysedModel, type ExecutionProviderChoice, type InputShapes, type PlanCriterion, type RecoverMode } from '../engine/index.ts';

/** A flag's value as a finite number, or a one-line error naming the flag. */
export function numberOption(flag: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n)) throw new PrunerError(`${flag} expects a number, got "${v}"`);
  return n;
}

/** A flag's value as an integer ≥ `min` (default 1), or a one-line error naming the flag. */
export function intOption(flag: string, v: string, min = 1): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isInteger(n) || n < min) throw new PrunerError(`${flag} must be an integer ≥ ${min}, got "${v}"`);
  return n;
}

/** A break loss in points (`scan --break-loss`, `prune --scan-break-loss`): a number ≥ 0, or a one-line error naming the flag. */
export function breakLossOption(flag: string, v: string): number {
  const n = Number(v);
  if (v.trim() === '' || !Number.isFinite(n) || n < 0) throw new PrunerError(`${flag} expects a number of points ≥ 0, got "${v}"`);
  return n;
}

/** `--ep`: auto, cuda or cpu. */
export function epOption(v: string): ExecutionProviderChoice {
  if (!['auto', 'cuda', 'cpu'].includes(v)) throw new PrunerError(`--ep must be auto, cuda or cpu, got "${v}"`);
  return v as ExecutionProviderChoice;
}

/** `--recover`: one of the recovery modes. */
export function recoverOption(v: string): RecoverMode {
  if (!(RECOVER_MODES as readonly string[]).includes(v)) throw new PrunerError(`--recover must be one of ${RECOVER_MODES.join(', ')}, got "${v}"`);
  return v as RecoverMode;
}

/** `--criterion` of a plan, the data-driven criteria included. */
export function criterionOption(v: string): PlanCriterion {
  if (!PLAN_CRITERIA.includes(v as PlanCriterion)) throw new PrunerError(`unknown criterion "${v}" (expected one of ${PLAN_CRITERIA.join(', ')})`);
  return v as PlanCriterion;
}

/** `--dim N=4 height=48` → { N: 4, height: 48 }. */
export function parseDims(list: string[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of list ?? []) {
    const m = /^([^=]+)=(\d+)$/.exec(item);
    if (!m || Number(m[2]) < 1) throw new PrunerError(`--dim expects NAME=SIZE (e.g. N=4), got "${item}"`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

/** `--shape x=1x3x48x192 ...`: whole input shapes by input name (for sizes without a name too). */
export function parseShapes(list: string[] | undefined): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const item of list ?? []) {
    const m = /^(.+)=(\d+(?:x\d+)*)$/.exec(item);
    if (!m) throw new PrunerError(`--shape expects NAME=AxBxC (e.g. x=1x3x48x192), got "${item}"`);
    out[m[1]!] = m[2]!.split('x').map(Number);
  }
  return out;
}

/** The input-size flags as commander leaves them. */
export interface SizeCliOptions {
  dim?: string[];
  shape?: string[];
}

/** `--dim` and `--shape`, the sizes of symbolic inputs; `use` says what the size drives for this command. */
export function addSizeOptions(cmd: Command, use: string): Command {
  return cmd
    .option('--dim <name=size...>', `size of a symbolic input dimension, e.g. N=8 or height=48 (${use})`)
    .option('--shape <name=AxBxC...>', `whole shape of an input, e.g. x=1x3x48x192, also for sizes without a name ([1, 3, ?, ?]) (${use})`);
}

/** The sizes the flags give: `dims` by name and whole `shapes` by input name. */
export function parseSizes(o: SizeCliOptions): { dims: Record<string, number>; shapes: InputShapes } {
  return { dims: parseDims(o.dim), shapes: parseShapes(o.shape) };
}

/**
 * The model analysed at the sizes the flags give (the same model when none is given): whole
 * shapes for every input the flags touch, a batch not given counted as 1. The model file keeps
 * its symbolic sizes; the sizes drive the analysis (MACs, previews) and random inputs only.
 */
export function atSizes(analysed: AnalysedModel, o: SizeCliOptions): AnalysedModel {
  const { dims, shapes } = parseSizes(o);
  if (!Object.keys(dims).length && !Object.keys(shapes).length) return analysed;
  let whole: InputShapes;
  try {
    whole = inputShapesFromSizes(analysed.graph, dims, shapes);
  } catch (e) {
    throw new PrunerError(`${analysed.fileName}: ${(e as Error).message} (--dim NAME=SIZE, --shape INPUT=AxBxC)`, { subject: analysed.path });
  }
  return analysed.withInputShapes(whole);
}
