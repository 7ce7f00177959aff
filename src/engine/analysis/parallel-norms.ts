// The norms pass (norms.ts) of a large weight in external data on several cores: the weight's blocks
// of rows (the blocks forEachRowBlock would make) are claimed one at a time, through a shared
// counter, by this thread and worker threads alike, each reading its blocks from the data file
// itself and writing its sums into shared arrays; so a thread slowed by other work takes fewer
// blocks and none waits while blocks remain. The per-index sums of the blocks are then added in
// block order, so the result is the one-thread result to the last bit. Used only where it pays for
// the workers' start (tens of milliseconds, once per process): tensors of PARALLEL_MIN_FLOATS and
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

/** One weight's norms, shared out: every thread claims blocks from `next` until none is left. */
interface Task {
  id: number;
  file: string;
  /** Where the weight starts in the file. */
  offset: number;
  rows: number;
  /** Rows per block (the last block may have fewer). */
  perBlock: number;
  mid: number;
  inner: number;
  /** The next unclaimed block (Atomics.add); set past the end to stop every thread. */
  next: Int32Array;
  l1: Float32Array;
  l2: Float32Array;
  sq: Float64Array;
  /** Block i's per-index sums: l1 at [2i·mid, (2i+1)·mid), sq at [(2i+1)·mid, (2i+2)·mid). */
  parts?: Float64Array;
  /** The file's stamp (external.ts), checked by the worker after it opens the file. */
  stamp?: FileStamp;
}

/** Past the last block of any weight: stored in `next` when a thread fails, so the others stop. */
const STOP = 2 ** 30;

/**
 * Claims the task's blocks one at a time until none is left: each read with `read` into
 * `scratch` (grown as needed) and summed into the task's shared arrays. Returns the scratch.
 * Plain (no imports or outer variables but its arguments): the workers run its source text.
 */
function claimBlocks(
  t: Omit<Task, 'id'>,
  norms: typeof normsPass,
  read: (offset: number, into: Uint8Array) => void,
  scratch: Float32Array,
): Float32Array {
  const rowLen = t.mid * t.inner;
  const blocks = Math.ceil(t.rows / t.perBlock);
  for (let i = Atomics.add(t.next, 0, 1); i < blocks; i = Atomics.add(t.next, 0, 1)) {
    const first = i * t.perBlock;
    const n = Math.min(t.perBlock, t.rows - first);
    const floats = n * rowLen;
    if (scratch.length < floats) scratch = new Float32Array(floats);
    const block = scratch.subarray(0, floats);
    read(t.offset + first * rowLen * 4, new Uint8Array(block.buffer, 0, floats * 4));
    const part = t.parts ? { l1: t.parts.subarray(2 * i * t.mid, (2 * i + 1) * t.mid), sq: t.parts.subarray((2 * i + 1) * t.mid, (2 * i + 2) * t.mid) } : undefined;
    norms(block, n, t.mid, t.inner, first, t.l1, t.l2, t.sq, part);
  }
  return scratch;
}

/** The workers' program: the norms functions' own text and a loop reading and summing blocks. */
function workerSource(): string {
  const fns = [normsPass, rowAndColumnSumsPass, rowAndSliceSumsPass];
  return `'use strict';
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
// the functions in a scope of their own (a minified build's names cannot meet this program's)
const { norms, claim } = (() => {
${fns.map((f) => f.toString()).join('\n')}
${claimBlocks.toString()}
return { norms: ${normsPass.name}, claim: ${claimBlocks.name} };
})();
let scratch = new Float32Array(0);
parentPort.on('message', (t) => {
  let fd;
  try {
    fd = fs.openSync(t.file, 'r');
    if (t.stamp) {
      const st = fs.fstatSync(fd);
      if (st.size !== t.stamp.size || st.mtimeMs !== t.stamp.mtimeMs) throw new Error('changed');
    }
    scratch = claim(t, norms, (offset, bytes) => {
      for (let done = 0; done < bytes.length; ) {
        const got = fs.readSync(fd, bytes, done, Math.min(bytes.length - done, 2 ** 30), offset + done);
        if (got === 0) throw new Error(t.file + ': ended early while reading ' + bytes.length + ' bytes at ' + offset);
        done += got;
      }
    }, scratch);
    parentPort.postMessage({ id: t.id });
  } catch (e) {
    Atomics.store(t.next, 0, ${STOP});
    parentPort.postMessage({ id: t.id, error: String((e && e.message) || e) });
  } finally {
    if (fd !== undefined) fs.closeSync(fd);
  }
});
`;
}

class Pool {
  private readonly workers: Worker[];
  private ids = 0;
  private readonly waiting = new Map<number, { resolve: () => void; reject: (e: Error) => void }>();

  constructor(size: number) {
    const source = workerSource();
    this.workers = Array.from({ length: size }, () => {
      const w = new Worker(source, { eval: true });
      w.on('message', (m: { id: number; error?: string }) => {
        const p = this.waiting.get(m.id);
        this.waiting.delete(m.id);
        if (!this.waiting.size) for (const x of this.workers) x.unref();
        if (!p) return;
        if (m.error) p.reject(new Error(m.error));
        else p.resolve();
      });
      w.on('error', (e) => this.failAll(e));
      // Idle workers never keep the process alive; busy ones do (until their answer). unref after the
      // listeners: adding one refs the worker's port again.
      w.unref();
      return w;
    });
  }

  /** Hands the task to every worker: one promise per worker, settled when it finds no block left. */
  runOnAll(task: Omit<Task, 'id'>): Promise<void>[] {
    return this.workers.map((w) => this.run(task, w));
  }

  /** Hands the task to one worker; settles when that worker finds no block left to claim. */
  private run(task: Omit<Task, 'id'>, w: Worker): Promise<void> {
    const id = ++this.ids;
    return new Promise<void>((resolve, reject) => {
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

/**
 * This thread's block buffer, kept between weights as each worker keeps its own: a new buffer per
 * weight would have its pages faulted in by every read (measured: this thread's reads a third slower).
 */
let scratch: Float32Array = new Float32Array(0);

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
  const blocks = Math.ceil(rows / perBlock);
  const shared = (n: number) => new SharedArrayBuffer(n);
  const task: Omit<Task, 'id'> = {
    file: range.file,
    offset: range.offset,
    rows,
    perBlock,
    mid,
    inner,
    next: new Int32Array(shared(4)),
    l1: new Float32Array(shared(rows * 4)),
    l2: new Float32Array(shared(rows * 4)),
    sq: new Float64Array(shared(rows * 8)),
    parts: wantPart ? new Float64Array(shared(blocks * 2 * mid * 8)) : undefined,
    stamp: fileStamp(range.file),
  };
  const pending = p.runOnAll(task).map((q) =>
    q.catch((e: Error) => {
      // the worker's stamp check (it cannot build the engine's error itself)
      throw e.message === 'changed' ? changedFileError(range.file) : e;
    }),
  );
  // (a failure is thrown by Promise.all below; if this thread fails first, nobody waits for them)
  for (const q of pending) q.catch(() => {});
  // This thread claims blocks meanwhile, like the workers.
  try {
    scratch = claimBlocks(task, normsPass, (offset, into) => readRangeInto({ file: range.file, offset, length: into.byteLength }, into), scratch);
  } catch (e) {
    Atomics.store(task.next, 0, STOP);
    throw e;
  }
  await Promise.all(pending);
  // copies out of the shared memory (callers may hand these arrays to other threads)
  const out = { l1: new Float32Array(task.l1), l2: new Float32Array(task.l2), sq: new Float64Array(task.sq) };
  if (!task.parts) return out;
  // the blocks' per-index sums, added in block order (as the one-thread pass adds them)
  const total = { l1: new Float64Array(mid), sq: new Float64Array(mid) };
  for (let b = 0; b < blocks; b++) {
    const l1 = task.parts.subarray(2 * b * mid, (2 * b + 1) * mid);
    const sq = task.parts.subarray((2 * b + 1) * mid, (2 * b + 2) * mid);
    for (let i = 0; i < mid; i++) {
      total.l1[i] += l1[i];
      total.sq[i] += sq[i];
    }
  }
  return { ...out, part: total };
}
