// File safety: every file this tool writes (a pruned model, its external-data file, a plan, a
// widths export) is written to a temporary file in the destination folder and then published
// under its final name by an operation that cannot replace a file that appeared meanwhile (a hard
// link, which fails when the name exists), unless the caller was told it may replace (--force).
// Files the input model reads are never replaced, whatever the caller says.
//
// Temporary files are named `.<final name>.onnx-pruner-<pid>-<hex>.tmp`: the running process
// removes its own on any error, cancellation or signal; a run killed outright (SIGKILL, power cut)
// leaves one, which the next run writing into that folder removes when its owner process is gone
// or it is older than STALE_TEMP_MS.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PrunerError } from './errors.ts';

/** A temporary file older than this is stale even when a process with its owner's id runs. */
export const STALE_TEMP_MS = 24 * 3600 * 1000;

const TEMP_RE = /^\..+\.onnx-pruner-(\d+)-[0-9a-f]+\.tmp$/;

/** Temporary files of this process still being written (removed by `removeActiveTemps` on a signal). */
const active = new Set<string>();

/** A fresh temporary name beside `final`, recognisable as this tool's and its process's. */
export function tempPathFor(final: string): string {
  const abs = path.resolve(final);
  return path.join(path.dirname(abs), `.${path.basename(abs)}.onnx-pruner-${process.pid}-${crypto.randomBytes(6).toString('hex')}.tmp`);
}

/** Whether a file name is one of this tool's temporary files. */
export function isTempName(name: string): boolean {
  return TEMP_RE.test(name);
}

/** Registers a temporary file being written (so a signal handler can remove it). */
export function trackTemp(file: string): void {
  active.add(file);
}

/** Removes a temporary file and forgets it (never throws). */
export function dropTemp(file: string): void {
  active.delete(file);
  try {
    fs.rmSync(file, { force: true });
  } catch {
    // already gone, or the folder went away
  }
}

/** Synchronously removes every temporary file this process is writing (for SIGINT/SIGTERM handlers). */
export function removeActiveTemps(): number {
  const n = active.size;
  for (const f of [...active]) dropTemp(f);
  return n;
}

function processAlive(pid: number): boolean {
  if (pid === process.pid) return true;
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes this tool's stale temporary files in `dir`: those whose owner process no longer runs,
 * or older than `maxAgeMs`. Never touches another file, nor a live process's temporary file.
 * Returns the names removed (errors are ignored: a folder that cannot be read has nothing to clean).
 */
export function removeStaleTemps(dir: string, maxAgeMs = STALE_TEMP_MS): string[] {
  const removed: string[] = [];
  let names: string[];
  try {
    names = fs.readdirSync(dir);
  } catch {
    return removed;
  }
  const now = Date.now();
  for (const name of names) {
    const m = TEMP_RE.exec(name);
    if (!m) continue;
    const file = path.join(dir, name);
    if (active.has(file)) continue;
    let st: fs.Stats;
    try {
      st = fs.lstatSync(file);
    } catch {
      continue;
    }
    if (!st.isFile()) continue;
    if (processAlive(Number(m[1])) && now - st.mtimeMs < maxAgeMs) continue;
    try {
      fs.rmSync(file, { force: true });
      removed.push(name);
    } catch {
      // not ours to remove after all (permissions): leave it
    }
  }
  return removed;
}

/** Whether two paths name the same file (same path, or same device and inode through a link). */
export function sameFile(a: string, b: string): boolean {
  if (path.resolve(a) === path.resolve(b)) return true;
  try {
    const sa = fs.statSync(a);
    const sb = fs.statSync(b);
    return sa.dev === sb.dev && sa.ino === sb.ino;
  } catch {
    return false;
  }
}

/** PrunerError when `target` is one of the `protect`ed files (the input model and every file it reads). */
export function refuseProtected(target: string, protect: readonly string[], what = 'the output'): void {
  for (const p of protect) {
    if (sameFile(target, p)) {
      throw new PrunerError(`${target}: ${what} would overwrite a file the input model reads (${path.basename(p)}); choose another name`, { subject: target });
    }
  }
}

/** Thrown by `publish` when the final name exists and replacing was not allowed. */
export class NameTakenError extends PrunerError {
  constructor(readonly file: string) {
    super(`${file} already exists; use --force to overwrite it or choose another name`, { subject: file });
    this.name = 'NameTakenError';
  }
}

/**
 * Gives the finished temporary file `tmp` its final name. Without `replace`, only when no file has
 * that name (a hard link: fails with NameTakenError when the name exists, even if it appeared a
 * moment ago); with `replace`, an atomic rename over it. `tmp` is gone afterwards, except when
 * `keepTemp` without `replace` (both names then stay on the same file, so it can be published again
 * under another name).
 * Returns the published file's inode, to recognise it later.
 */
export function publish(tmp: string, final: string, opts: { replace?: boolean; keepTemp?: boolean } = {}): number {
  if (opts.replace) {
    fs.renameSync(tmp, final);
    active.delete(tmp);
    return fs.statSync(final).ino;
  }
  try {
    fs.linkSync(tmp, final);
  } catch (e) {
    const code = (e as NodeJS.ErrnoException).code;
    if (code === 'EEXIST') throw new NameTakenError(final);
    if (code !== 'EPERM' && code !== 'ENOTSUP' && code !== 'ENOSYS' && code !== 'EXDEV') throw e;
    // A file system without hard links (FAT, some network shares): claim the name with an
    // exclusive create, then rename the finished file over the claim.
    let fd: number;
    try {
      fd = fs.openSync(final, 'wx');
    } catch (e2) {
      if ((e2 as NodeJS.ErrnoException).code === 'EEXIST') throw new NameTakenError(final);
      throw e2;
    }
    fs.closeSync(fd);
    if (opts.keepTemp) fs.copyFileSync(tmp, final);
    else {
      fs.renameSync(tmp, final);
      active.delete(tmp);
    }
    return fs.statSync(final).ino;
  }
  if (!opts.keepTemp) dropTemp(tmp);
  return fs.statSync(final).ino;
}

/** Removes `file` only when it is still the file this process published (same inode). */
export function unpublish(file: string, ino: number): void {
  try {
    if (fs.statSync(file).ino === ino) fs.rmSync(file, { force: true });
  } catch {
    // gone already
  }
}

/**
 * Writes a small text file (a plan, a widths export) safely: a temporary file in the same folder,
 * synced, then published under `file` — never over an existing file unless `replace`, and never
 * over a `protect`ed file (the model and what it reads) even then. Returns the absolute path.
 */
export function writeTextFileSafely(file: string, text: string, opts: { replace?: boolean; protect?: readonly string[]; what?: string } = {}): string {
  const abs = path.resolve(file);
  refuseProtected(abs, opts.protect ?? [], opts.what);
  checkWritableFolder(path.dirname(abs));
  if (!opts.replace && fs.existsSync(abs)) throw new NameTakenError(abs);
  removeStaleTemps(path.dirname(abs));
  const tmp = tempPathFor(abs);
  trackTemp(tmp);
  try {
    const fd = fs.openSync(tmp, 'wx');
    try {
      fs.writeSync(fd, text);
      fs.fsyncSync(fd);
    } finally {
      fs.closeSync(fd);
    }
    // Checked again right before publishing: the file may have been linked meanwhile.
    refuseProtected(abs, opts.protect ?? [], opts.what);
    publish(tmp, abs, { replace: opts.replace });
    return abs;
  } catch (e) {
    if (e instanceof PrunerError) throw e;
    throw new PrunerError(`${abs}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { subject: abs, cause: e });
  } finally {
    dropTemp(tmp);
  }
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

/**
 * Reads and parses a JSON file; a PrunerError of one line naming the file (and the field, for a
 * value JSON does not have such as NaN or Infinity) when it cannot be read or parsed.
 */
export function readJsonFile(file: string): unknown {
  let text: string;
  try {
    text = fs.readFileSync(file, 'utf8');
  } catch (e) {
    throw new PrunerError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { subject: file });
  }
  try {
    return JSON.parse(text);
  } catch (e) {
    const bad = /"((?:[^"\\\n]|\\.)*)"\s*:\s*(-?NaN|[-+]?Infinity|undefined|'[^'\n]*')/.exec(text);
    if (bad) throw new PrunerError(`${file}: field "${bad[1]}" is ${bad[2]}, which is not a JSON value (write a number or a "string")`, { subject: file });
    const why = (e as Error).message.replace(/\s+/g, ' ').slice(0, 160);
    throw new PrunerError(`${file}: not valid JSON (${why})`, { subject: file });
  }
}
