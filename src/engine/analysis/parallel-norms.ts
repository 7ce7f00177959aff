// The norms pass (norms.ts) of a large weight in external data on several cores: the weight's blocks
// of rows (the blocks forEachRowBlock would make) are shared between this thread and worker threads,
// each reading its blocks from the data file itself. The per-index sums of the blocks are then added
// in block order, so the result is the one-thread result to the last bit. Used only where it pays
// for the workers' start (tens of milliseconds, once per process): tensors of PARALLEL_MIN_FLOATS and
// more, on a machine with more than one core.
import * as os from 'node:os';
import { Worker } from 'node:worker_threads';
import { normsPass, rowAndColumnSumsPass, rowAndSliceSumsPass } from './norms.ts';
import { changedFileError, fileStamp, readRangeInto, type FileRange, type FileStamp } from '../onnx/external.ts';
import { ROW_BLOCK_FLOATS } from '../onnx/model.ts';

/**
 * Floats of one weight from which its norms are shared out, and floats per block (forEachRowBlock's,
 * so the per-index sums add up block by block as on one thread); both changeable for tests.
 */
export const parallelNorms = { minFloats: 8 * 2 ** 20, blockFloats: ROW_BLOCK_FLOATS };

interface Task {
  id: number;
  file: string;
  offset: number;
  n: number;
  mid: number;
  inner: number;
  part: boolean;
  /** The file's stamp (external.ts), checked by the worker after it opens the file. */
  stamp?: FileStamp;
}

interface Result {
  l1: Float32Array;
  l2: Float32Array;
  sq: Float64Array;
  part?: { l1: Float64Array; sq: Float64Array };
}

/** The workers' program: the norms functions' own text and a loop reading and summing blocks. */
function workerSource(): string {
  const fns = [normsPass, rowAndColumnSumsPass, rowAndSliceSumsPass];
  return `'use strict';
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
// the functions in a scope of their own (a minified build's names cannot meet this program's)
const norms = (() => {
${fns.map((f) => f.toString()).join('\n')}
return ${normsPass.name};
})();
let scratch = new Float32Array(0);
parentPort.on('message', (t) => {
  try {
    const floats = t.n * t.mid * t.inner;
    if (scratch.length < floats) scratch = new Float32Array(floats);
    const block = scratch.subarray(0, floats);
    const bytes = new Uint8Array(block.buffer, 0, floats * 4);
    const fd = fs.openSync(t.file, 'r');
    try {
      if (t.stamp) {
        const st = fs.fstatSync(fd);
        if (st.size !== t.stamp.size || st.mtimeMs !== t.stamp.mtimeMs) throw new Error('changed');
      }
      for (let done = 0; done < bytes.length; ) {
        const got = fs.readSync(fd, bytes, done, Math.min(bytes.length - done, 2 ** 30), t.offset + done);
        if (got === 0) throw new Error(t.file + ': ended early while reading ' + bytes.length + ' bytes at ' + t.offset);
        done += got;
      }
    } finally {
      fs.closeSync(fd);
    }
    const l1 = new Float32Array(t.n), l2 = new Float32Array(t.n), sq = new Float64Array(t.n);
    const part = t.part ? { l1: new Float64Array(t.mid), sq: new Float64Array(t.mid) } : undefined;
    norms(block, t.n, t.mid, t.inner, 0, l1, l2, sq, part);
    parentPort.postMessage({ id: t.id, l1, l2, sq, part }, [l1.buffer, l2.buffer, sq.buffer, ...(part ? [part.l1.buffer, part.sq.buffer] : [])]);
  } catch (e) {
    parentPort.postMessage({ id: t.id, error: String((e && e.message) || e) });
  }
});
`;
}

class Pool {
  private readonly workers: Worker[];
  private next = 0;
  private ids = 0;
  private readonly waiting = new Map<number, { resolve: (r: Result) => void; reject: (e: Error) => void }>();

  constructor(size: number) {
    const source = workerSource();
    this.workers = Array.from({ length: size }, () => {
      const w = new Worker(source, { eval: true });
      w.on('message', (m: Result & { id: number; error?: string }) => {
        const p = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (!this.waiting.size) for (const x of this.workers) x.unref();
        if (!p) return;
        if (m.error) p.reject(new Error(m.error));
        else p.resolve(m);
      });
      w.on('error', (e) => this.failAll(e));
      // Idle workers never keep the process alive; busy ones do (until their answer). unref after the
      // listeners: adding one refs the worker's port again.
      w.unref();
      return w;
    });
  }

  get size(): number {
    return this.workers.length;
  }

  run(task: Omit<Task, 'id'>): Promise<Result> {
    const id = ++this.ids;
    const w = this.workers[this.next++ % this.workers.length];
    return new Promise<Result>((resolve, reject) => {
      if (!this.waiting.size) for (const x of this.workers) x.ref();
      this.waiting.set(id, { resolve, reject });
      w.postMessage({ ...task, id });
    });
  }

  private failAll(e: Error): void {
    for (const p of this.waiting.values()) p.reject(e);
    this.waiting.clear();
    for (const x of this.workers) x.unref();
    pool = undefined;
  }
}

let pool: Pool | undefined;

/** Worker threads besides this one: one fewer than the cores (none on one core). */
function workerCount(): number {
  return Math.max(0, (os.availableParallelism?.() ?? os.cpus().length) - 1);
}

/**
 * Row norms (and per-index sums along axis 1 when `part` is wanted) of a FLOAT weight [rows, mid,
 * inner...] stored at `range` of a data file, its blocks of `perBlock` rows shared between this
 * thread and the workers. Undefined when it would not run in parallel (small weight, one core):
 * the caller takes the one-thread path.
 */
export async function parallelBlockedNorms(
  range: FileRange,
  rows: number,
  mid: number,
  inner: number,
  perBlock: number,
  wantPart: boolean,
): Promise<{ l1: Float32Array; l2: Float32Array; sq: Float64Array; part?: { l1: Float64Array; sq: Float64Array } } | undefined> {
  const rowLen = mid * inner;
  if (rows * rowLen < parallelNorms.minFloats || rows < 2 * perBlock) return undefined;
  const workers = workerCount();
  if (workers === 0) return undefined;
  pool ??= new Pool(workers);
  const p = pool;
  const l1 = new Float32Array(rows);
  const l2 = new Float32Array(rows);
  const sq = new Float64Array(rows);
  const blocks: { first: number; n: number }[] = [];
  for (let r = 0; r < rows; r += perBlock) blocks.push({ first: r, n: Math.min(perBlock, rows - r) });
  // Every (size + 1)-th block stays here, the others go to the workers in turn.
  const share = p.size + 1;
  const parts: ({ l1: Float64Array; sq: Float64Array } | undefined)[] = new Array(blocks.length);
  const pending = blocks.map((b, i) =>
    i % share === share - 1
      ? undefined
      : p
          .run({ file: range.file, offset: range.offset + b.first * rowLen * 4, n: b.n, mid, inner, part: wantPart, stamp: fileStamp(range.file) })
          .then((res) => {
            l1.set(res.l1, b.first);
            l2.set(res.l2, b.first);
            sq.set(res.sq, b.first);
            parts[i] = res.part;
          })
          .catch((e: Error) => {
            // the worker's stamp check (it cannot build the engine's error itself)
            throw e.message === 'changed' ? changedFileError(range.file) : e;
          }),
  );
  // (a failure is thrown by Promise.all below; if this thread fails first, nobody waits for them)
  for (const q of pending) q?.catch(() => {});
  // This thread's blocks meanwhile.
  let scratch: Float32Array | undefined;
  for (let i = share - 1; i < blocks.length; i += share) {
    const b = blocks[i];
    const floats = b.n * rowLen;
    if (!scratch || scratch.length < floats) scratch = new Float32Array(floats);
    const block = scratch.subarray(0, floats);
    readRangeInto({ file: range.file, offset: range.offset + b.first * rowLen * 4, length: floats * 4 }, new Uint8Array(block.buffer, 0, floats * 4));
    const part = wantPart ? { l1: new Float64Array(mid), sq: new Float64Array(mid) } : undefined;
    normsPass(block, b.n, mid, inner, b.first, l1, l2, sq, part);
    parts[i] = part;
  }
  await Promise.all(pending);
  if (!wantPart) return { l1, l2, sq };
  // the blocks' per-index sums, added in block order (as the one-thread pass adds them)
  const total = { l1: new Float64Array(mid), sq: new Float64Array(mid) };
  for (const part of parts)
    for (let i = 0; i < mid; i++) {
      total.l1[i] += part!.l1[i];
      total.sq[i] += part!.sq[i];
    }
  return { l1, l2, sq, part: total };
}
