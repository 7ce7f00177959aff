// Option parsing shared by the subcommands.
import type { Command } from 'commander';
import { inputShapesFromSizes, PrunerError, type AnalysedModel, type InputShapes } from '../engine/index.ts';

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
