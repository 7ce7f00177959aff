// One request/response layer for both hops: extension host ↔ engine worker, and model view ↔
// extension host. A protocol is a map from method names to `{ params; result }` (declared once);
// the client gets typed `request`s with progress and cancellation, the server a handler table
// the compiler checks is complete, and a hop that receives untrusted messages (the view's) adds
// a validator table, complete too, whose validators build new objects from known keys only.
// Events flow server → client unprompted. No vscode, no Node, no DOM import: both ends of both
// hops (a worker thread, the extension host, a browser) use this file.

/** A protocol (an interface): every method's `{ params; result }`. */
export type Protocol<P> = { [M in keyof P]: { params: unknown; result: unknown } };
export type Method<P> = keyof P & string;
export type Params<P, M extends Method<P>> = P[M] extends { params: infer X } ? X : never;
export type Result<P, M extends Method<P>> = P[M] extends { result: infer X } ? X : never;

export interface ErrorInfo {
  message: string;
  details?: string;
  cancelled?: boolean;
  /** A problem the user caused (bad file, bad plan) rather than a bug. */
  user?: boolean;
}

export type RequestMessage<P extends Protocol<P>> = { [M in Method<P>]: { kind: 'request'; id: number; method: M; params: Params<P, M> } }[Method<P>];

/** What a client sends. */
export type ClientMessage<P extends Protocol<P>> = RequestMessage<P> | { kind: 'cancel'; id: number };

/** What a server sends: one response per request, progress of a request, events. */
export type ServerMessage<E> =
  | { kind: 'response'; id: number; ok: true; result: unknown }
  | { kind: 'response'; id: number; ok: false; error: ErrorInfo }
  | { kind: 'progress'; id: number; stage: string; fraction?: number }
  | { kind: 'event'; event: E };

export type ProgressFn = (stage: string, fraction?: number) => void;

export class RequestError extends Error {
  readonly details?: string;
  readonly cancelled: boolean;
  readonly user: boolean;
  constructor(message: string, opts: Omit<ErrorInfo, 'message'> = {}) {
    super(message);
    this.name = 'RequestError';
    this.details = opts.details;
    this.cancelled = opts.cancelled ?? false;
    this.user = opts.user ?? false;
  }
}

export interface CallOptions {
  signal?: AbortSignal;
  onProgress?: ProgressFn;
}

export interface RequestHandle<T> {
  id: number;
  result: Promise<T>;
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: Error): void;
  onProgress?: ProgressFn;
}

/** The calling end: typed requests, progress, cancellation, events. */
export class RpcClient<P extends Protocol<P>, E = never> {
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(e: E) => void>();

  constructor(private readonly send: (m: ClientMessage<P>) => void) {}

  start<M extends Method<P>>(method: M, params: Params<P, M>, opts: CallOptions = {}): RequestHandle<Result<P, M>> {
    const id = this.nextId++;
    const result = new Promise<Result<P, M>>((resolve, reject) => {
      if (opts.signal?.aborted) {
        reject(new RequestError('cancelled', { cancelled: true }));
        return;
      }
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress: opts.onProgress });
      opts.signal?.addEventListener('abort', () => this.cancel(id), { once: true });
      this.send({ kind: 'request', id, method, params } as RequestMessage<P>);
    });
    return { id, result };
  }

  request<M extends Method<P>>(method: M, params: Params<P, M>, opts: CallOptions = {}): Promise<Result<P, M>> {
    return this.start(method, params, opts).result;
  }

  cancel(id: number): void {
    if (this.pending.has(id)) this.send({ kind: 'cancel', id });
  }

  onEvent(l: (e: E) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  receive(m: ServerMessage<E>): void {
    if (!m || typeof m !== 'object') return;
    if (m.kind === 'event') {
      for (const l of this.listeners) l(m.event);
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
    else p.reject(new RequestError(m.error.message, m.error));
  }

  /** Fails every request still waiting (the other end went away). */
  failAll(e: Error): void {
    for (const p of this.pending.values()) p.reject(e);
    this.pending.clear();
  }

  get waiting(): number {
    return this.pending.size;
  }
}

export interface HandlerContext {
  signal: AbortSignal;
  progress: ProgressFn;
}

export type Handler<P extends Protocol<P>, M extends Method<P>> = (params: Params<P, M>, ctx: HandlerContext) => Result<P, M> | Promise<Result<P, M>>;
/** One handler per method: a method without one does not compile. */
export type Handlers<P extends Protocol<P>> = { [M in Method<P>]: Handler<P, M> };

/** Checks an untrusted value and returns a NEW object built from the known keys only, or undefined. */
export type Validator<T> = (v: unknown) => T | undefined;
/** One validator per method: a method without one does not compile. */
export type Validators<P extends Protocol<P>> = { [M in Method<P>]: Validator<Params<P, M>> };

/** The answering end: runs each request's handler, sends its progress and its one response; `cancel` aborts it. */
export class RpcServer<P extends Protocol<P>, E = never> {
  private readonly running = new Map<number, AbortController>();

  constructor(
    private readonly handlers: Handlers<P>,
    private readonly send: (m: ServerMessage<E>) => void,
    /** How an error becomes the response's ErrorInfo (default: message, stack as details). */
    private readonly describe: (e: unknown, cancelled: boolean) => ErrorInfo = defaultErrorInfo,
  ) {}

  /** Handles a message already known to be well-formed (validated when it came from an untrusted end). */
  async receive(m: ClientMessage<P>): Promise<void> {
    if (m.kind === 'cancel') {
      this.running.get(m.id)?.abort();
      return;
    }
    const controller = new AbortController();
    this.running.set(m.id, controller);
    const progress: ProgressFn = (stage, fraction) => this.send({ kind: 'progress', id: m.id, stage, fraction });
    try {
      const handler = this.handlers[m.method] as Handler<P, Method<P>> | undefined;
      if (!handler) throw new RequestError(`unknown method ${String(m.method)}`);
      const result = await handler(m.params, { signal: controller.signal, progress });
      this.send({ kind: 'response', id: m.id, ok: true, result });
    } catch (e) {
      const cancelled = controller.signal.aborted || (e as RequestError)?.cancelled === true || (e as Error)?.name === 'CancelledError';
      this.send({ kind: 'response', id: m.id, ok: false, error: this.describe(e, cancelled) });
    } finally {
      this.running.delete(m.id);
    }
  }

  event(e: E): void {
    this.send({ kind: 'event', event: e });
  }

  /** Aborts every running request (the other end went away). */
  cancelAll(): void {
    for (const c of this.running.values()) c.abort();
  }
}

function defaultErrorInfo(e: unknown, cancelled: boolean): ErrorInfo {
  const err = e as Partial<RequestError> | undefined;
  return {
    message: cancelled ? 'cancelled' : err?.message ?? String(e),
    details: err?.details ?? (e instanceof Error ? e.stack : undefined),
    cancelled,
    user: err?.user === true,
  };
}

// ---------- validator building blocks: each returns a new value or undefined ----------

export const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
export const isIndex = (v: unknown): v is number => typeof v === 'number' && Number.isSafeInteger(v) && v >= 0;
export const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
export const isStr = (v: unknown, max = 4096): v is string => typeof v === 'string' && v.length <= max;
export const isBool = (v: unknown): v is boolean => typeof v === 'boolean';

/** `v` when it is absent or passes `check`: `{ ok: false }` otherwise. */
export function optional<T>(v: unknown, check: (x: unknown) => x is T): { ok: true; value: T | undefined } | { ok: false } {
  if (v === undefined) return { ok: true, value: undefined };
  return check(v) ? { ok: true, value: v } : { ok: false };
}

/** An object of the given keys only, the undefined ones left out. */
export function pick<T extends object>(entries: { [K in keyof T]: T[K] | undefined }): T {
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(entries)) if (v !== undefined) out[k] = v;
  return out as T;
}
