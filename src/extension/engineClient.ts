// The extension host's handle on the engine worker thread: typed requests with progress and
// cancellation. No vscode import, so it can be tested with plain Node.
import { Worker } from 'node:worker_threads';
import type { FromWorker, ToWorker, WorkerMethod, WorkerMethods } from '../worker/protocol.ts';

export class EngineRequestError extends Error {
  readonly details?: string;
  readonly cancelled: boolean;
  /** A user-caused problem (bad file, bad plan) rather than a bug. */
  readonly user: boolean;
  constructor(message: string, opts: { details?: string; cancelled?: boolean; user?: boolean }) {
    super(message);
    this.name = 'EngineRequestError';
    this.details = opts.details;
    this.cancelled = opts.cancelled ?? false;
    this.user = opts.user ?? false;
  }
}

interface Pending {
  resolve: (v: unknown) => void;
  reject: (e: Error) => void;
  onProgress?: (stage: string, fraction?: number) => void;
}

export interface RequestOptions {
  signal?: AbortSignal;
  onProgress?: (stage: string, fraction?: number) => void;
}

export class EngineClient {
  private worker: Worker | undefined;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();

  constructor(private readonly workerFile: string, private readonly log: (line: string) => void = () => {}) {}

  /** Starts the worker ahead of the first request (its start-up then costs the first open nothing). */
  start(): void {
    this.ensureWorker();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.workerFile);
    w.on('message', (m: FromWorker) => this.onMessage(m));
    w.on('error', (e) => {
      this.log(`engine worker failed: ${e.stack ?? e.message}`);
      this.failAll(new EngineRequestError(`The analysis engine stopped: ${e.message}`, { details: e.stack }));
      this.worker = undefined;
    });
    w.on('exit', (code) => {
      if (this.worker === w) this.worker = undefined;
      if (this.pending.size) this.failAll(new EngineRequestError(`The analysis engine exited (code ${code})`, {}));
    });
    w.unref();
    this.worker = w;
    return w;
  }

  private failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  private onMessage(m: FromWorker): void {
    if (m.kind === 'log') {
      this.log(m.message);
      return;
    }
    const p = this.pending.get(m.id);
    if (!p) return;
    if (m.kind === 'progress') {
      p.onProgress?.(m.stage, m.fraction);
      return;
    }
    this.pending.delete(m.id);
    if (m.ok) p.resolve(m.result);
    else p.reject(new EngineRequestError(m.error.message, m.error));
  }

  request<K extends WorkerMethod>(method: K, params: WorkerMethods[K]['params'], opts: RequestOptions = {}): Promise<WorkerMethods[K]['result']> {
    const worker = this.ensureWorker();
    const id = this.nextId++;
    return new Promise<WorkerMethods[K]['result']>((resolve, reject) => {
      if (opts.signal?.aborted) {
        reject(new EngineRequestError('cancelled', { cancelled: true }));
        return;
      }
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress: opts.onProgress });
      opts.signal?.addEventListener('abort', () => {
        if (this.pending.has(id)) worker.postMessage({ kind: 'cancel', id } satisfies ToWorker);
      }, { once: true });
      worker.postMessage({ kind: 'request', id, method, params } satisfies ToWorker);
    });
  }

  dispose(): void {
    this.failAll(new EngineRequestError('The extension is shutting down', { cancelled: true }));
    void this.worker?.terminate();
    this.worker = undefined;
  }
}
