// Where a pruned model is written: beside the original as `<name>.pruned.onnx` by default, never
// over the original, and never over an existing file unless the user said so.
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PrunerError } from '../errors.ts';
import { checkWritableFolder, refuseProtected, sameFile } from '../files.ts';

export interface OutputPathOptions {
  /** Explicit output path (`--out`); an existing file there is an error unless `force`. A folder: the default name in that folder. */
  out?: string;
  /** Overwrite an existing output file (never the input itself nor any file it reads). */
  force?: boolean;
  /** File name template for the default output, `${name}` = the input's name without `.onnx` (default `${name}.pruned.onnx`). */
  outputName?: string;
}

export const DEFAULT_OUTPUT_NAME = '${name}.pruned.onnx';

/** `<name>.pruned.onnx` (or the template's name) beside the input. */
export function defaultOutputPath(input: string, outputName = DEFAULT_OUTPUT_NAME): string {
  const abs = path.resolve(input);
  const base = path.basename(abs).replace(/\.onnx$/i, '');
  const name = outputName.split('${name}').join(base);
  if (!name || name !== path.basename(name)) throw new PrunerError(`output name template ${JSON.stringify(outputName)} must give a plain file name`);
  return path.join(path.dirname(abs), name.toLowerCase().endsWith('.onnx') ? name : `${name}.onnx`);
}

/** `x.pruned.onnx` → `x.pruned-2.onnx`, `x.pruned-3.onnx`, ... */
export function numberedName(file: string, n: number): string {
  const ext = path.extname(file);
  return `${file.slice(0, file.length - ext.length)}-${n}${ext}`;
}

/** The external-data file a model written to `file` gets: `<file>.data`. */
export const sidecarOf = (file: string): string => `${file}.data`;

/** A model name is taken when the file or its external-data name exists (the two are one pair). */
export function nameTaken(file: string): boolean {
  return fs.existsSync(file) || fs.existsSync(sidecarOf(file));
}

export interface OutputChoice {
  /** Where to write the model. */
  path: string;
  /** The name was chosen by the naming rules (not an explicit file): taken at publish time, the next numbered name is used. */
  auto: boolean;
  /** The numbered base: `numberedName(base, n)` for n = 2, 3, ... are the next candidates. */
  base: string;
}

/**
 * Where the pruned model will be written. Refuses the input model and every file it reads
 * (`protect`, also through another name of the same file), for the model and for its
 * external-data name, even with `force`; an explicit `out` that exists (or whose `.data` exists,
 * when the output has external data) is an error unless `force`; the default name is numbered
 * until neither it nor its `.data` exists (with `force`, the default name is reused). Checks that
 * the folder exists and is writable, naming it otherwise.
 */
export function chooseOutput(input: string, opts: OutputPathOptions & { protect?: readonly string[]; sidecar?: boolean } = {}): OutputChoice {
  const abs = path.resolve(input);
  const protect = [abs, ...(opts.protect ?? [])];
  const outDir = opts.out && fs.existsSync(opts.out) && fs.statSync(opts.out).isDirectory() ? path.resolve(opts.out) : undefined;
  if (opts.out && !outDir) {
    const target = path.resolve(opts.out);
    if (sameFile(target, abs)) throw new PrunerError(`${target}: the output would overwrite the input model; choose another name`, { subject: target });
    refuseProtected(target, protect);
    refuseProtected(sidecarOf(target), protect, 'the output\'s external data');
    if (!opts.force) {
      if (fs.existsSync(target)) throw new PrunerError(`${target} already exists; use --force to overwrite it or choose another --out`, { subject: target });
      if (opts.sidecar && fs.existsSync(sidecarOf(target))) throw new PrunerError(`${sidecarOf(target)} already exists (the output's external data); use --force to overwrite it or choose another --out`, { subject: sidecarOf(target) });
    }
    checkWritableFolder(path.dirname(target));
    return { path: target, auto: false, base: target };
  }
  // The default name, beside the input or in the folder given as `out`; numbered when taken.
  const base = path.join(outDir ?? path.dirname(abs), path.basename(defaultOutputPath(abs, opts.outputName)));
  if (sameFile(base, abs)) throw new PrunerError(`${base}: the output name template gives the input's own name`, { subject: base });
  const isProtected = (f: string) => protect.some((p) => sameFile(f, p) || sameFile(sidecarOf(f), p));
  let target = base;
  if (opts.force) {
    for (let n = 2; isProtected(target); n++) target = numberedName(base, n);
  } else {
    for (let n = 2; nameTaken(target) || isProtected(target); n++) target = numberedName(base, n);
  }
  checkWritableFolder(path.dirname(target));
  return { path: target, auto: true, base };
}

/** The path `chooseOutput` picks (see there). */
export function chooseOutputPath(input: string, opts: OutputPathOptions & { protect?: readonly string[]; sidecar?: boolean } = {}): string {
  return chooseOutput(input, opts).path;
}

export { checkWritableFolder };
