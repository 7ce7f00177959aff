// Where a pruned model is written: beside the original as `<name>.pruned.onnx` by default, never
// over the original, and never over an existing file unless the user said so.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PrunerError } from '../errors.ts';

export interface OutputPathOptions {
  /** Explicit output path (`--out`); an existing file there is an error unless `force`. A folder: the default name in that folder. */
  out?: string;
  /** Overwrite an existing output file (never the input itself). */
  force?: boolean;
  /** File name template for the default output, `${name}` = the input's name without `.onnx` (default `${name}.pruned.onnx`). */
  outputName?: string;
}

export const DEFAULT_OUTPUT_NAME = '${name}.pruned.onnx';

function sameFile(a: string, b: string): boolean {
  if (path.resolve(a) === path.resolve(b)) return true;
  try {
    const sa = fs.statSync(a);
    const sb = fs.statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/** `<name>.pruned.onnx` (or the template's name) beside the input. */
export function defaultOutputPath(input: string, outputName = DEFAULT_OUTPUT_NAME): string {
  const abs = path.resolve(input);
  const base = path.basename(abs).replace(/\.onnx$/i, '');
  const name = outputName.split('${name}').join(base);
  if (!name || name !== path.basename(name)) throw new PrunerError(`output name template ${JSON.stringify(outputName)} must give a plain file name`);
  return path.join(path.dirname(abs), name.toLowerCase().endsWith('.onnx') ? name : `${name}.onnx`);
}

/** `x.pruned.onnx` → `x.pruned-2.onnx`, `x.pruned-3.onnx`, ... */
function numbered(file: string, n: number): string {
  const ext = path.extname(file);
  return `${file.slice(0, file.length - ext.length)}-${n}${ext}`;
}

/**
 * The path the pruned model will be written to. Refuses the input itself (also through another
 * name of the same file); picks a free numbered name when the default exists and `force` is off;
 * checks that the folder exists and is writable, naming it otherwise.
 */
export function chooseOutputPath(input: string, opts: OutputPathOptions = {}): string {
  const abs = path.resolve(input);
  let target: string;
  const outDir = opts.out && fs.existsSync(opts.out) && fs.statSync(opts.out).isDirectory() ? path.resolve(opts.out) : undefined;
  if (opts.out && !outDir) {
    target = path.resolve(opts.out);
    if (sameFile(target, abs)) throw new PrunerError(`${target}: the output would overwrite the input model; choose another name`, { subject: target });
    if (fs.existsSync(target) && !opts.force) throw new PrunerError(`${target} already exists; use --force to overwrite it or choose another --out`, { subject: target });
  } else {
    // The default name, beside the input or in the folder given as `out`; numbered when taken.
    const base = path.join(outDir ?? path.dirname(abs), path.basename(defaultOutputPath(abs, opts.outputName)));
    target = base;
    if (sameFile(target, abs)) throw new PrunerError(`${target}: the output name template gives the input's own name`, { subject: target });
    if (!opts.force) for (let n = 2; fs.existsSync(target); n++) target = numbered(base, n);
  }
  checkWritableFolder(path.dirname(target));
  return target;
}

/** PrunerError naming the folder when it does not exist or cannot be written. */
export function checkWritableFolder(dir: string): void {
  let st: fs.Stats;
  try {
    st = fs.statSync(dir);
  } catch {
    throw new PrunerError(`${dir}: output folder does not exist`, { subject: dir });
  }
  if (!st.isDirectory()) throw new PrunerError(`${dir}: output folder is not a folder`, { subject: dir });
  try {
    fs.accessSync(dir, fs.constants.W_OK);
  } catch {
    throw new PrunerError(`${dir}: output folder is not writable`, { subject: dir });
  }
}
