// The extension host's handle on the engine worker thread: the typed requests of
// src/worker/protocol.ts with progress and cancellation, carried by src/shared/rpc.ts.
// No vscode import, so it can be tested with plain Node.
import { Worker } from 'node:worker_threads';
import { RequestError, RpcClient, type CallOptions, type Params, type Result } from '../shared/rpc.ts';
import type { FromWorker, WorkerMethod, WorkerMethods } from '../worker/protocol.ts';

/** A failed request (to the worker or from the view): message, details, cancelled, user-caused. */
export { RequestError as EngineRequestError };
export type RequestOptions = CallOptions;

export class EngineClient {
  private worker: Worker | undefined;
  private readonly client = new RpcClient<WorkerMethods>((m) => this.ensureWorker().postMessage(m));

  constructor(private readonly workerFile: string, private readonly log: (line: string) => void = () => {}) {}

  /** Starts the worker ahead of the first request (its start-up then costs the first open nothing). */
  start(): void {
    this.ensureWorker();
  }

  private ensureWorker(): Worker {
    if (this.worker) return this.worker;
    const w = new Worker(this.workerFile);
    w.on('message', (m: FromWorker) => this.client.receive(m));
    w.on('error', (e) => {
      this.log(`engine worker failed: ${e.stack ?? e.message}`);
      this.client.failAll(new RequestError(`The analysis engine stopped: ${e.message}`, { details: e.stack }));
      this.worker = undefined;
    });
    w.on('exit', (code) => {
      if (this.worker === w) this.worker = undefined;
      if (this.client.waiting) this.client.failAll(new RequestError(`The analysis engine exited (code ${code})`));
    });
    w.unref();
    this.worker = w;
    return w;
  }

  request<K extends WorkerMethod>(method: K, params: Params<WorkerMethods, K>, opts: RequestOptions = {}): Promise<Result<WorkerMethods, K>> {
    return this.client.request(method, params, opts);
  }

  dispose(): void {
    this.client.failAll(new RequestError('The extension is shutting down', { cancelled: true }));
    void this.worker?.terminate();
    this.worker = undefined;
  }
}
