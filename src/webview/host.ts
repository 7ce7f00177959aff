// The view's side of the protocol: typed requests with ids (answered once), cancel,
// host events, and the saved UI state (the view is not kept alive while hidden).
import type { ErrorInfo, FromWebview, RequestName, RequestParams, RequestResult, SortKey, ToWebview, ViewEvent, ViewPlan } from '../shared/protocol.ts';

interface VsCodeApi {
  postMessage(msg: unknown): void;
  getState(): unknown;
  setState(state: unknown): void;
}

declare function acquireVsCodeApi(): VsCodeApi;

/** What the view remembers across being hidden and shown again. */
export interface UiState {
  sort?: { key: SortKey; descending: boolean };
  filter?: string;
  expanded?: string[];
  plan?: ViewPlan;
  scrollTop?: number;
  histCriterion?: string;
  histLog?: boolean;
}

export class RequestError extends Error {
  readonly details?: string;
  readonly cancelled: boolean;
  constructor(info: ErrorInfo) {
    super(info.message);
    this.details = info.details;
    this.cancelled = !!info.cancelled;
  }
}

interface Pending {
  resolve(v: unknown): void;
  reject(e: RequestError): void;
  onProgress?: (stage: string, fraction?: number) => void;
}

export interface RequestHandle<T> {
  id: number;
  result: Promise<T>;
}

export class HostClient {
  private readonly api: VsCodeApi;
  private nextId = 1;
  private readonly pending = new Map<number, Pending>();
  private readonly listeners = new Set<(e: ViewEvent) => void>();
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
  private state: UiState;

  constructor(api: VsCodeApi = acquireVsCodeApi(), target: Window = window) {
    this.api = api;
    const saved = api.getState();
    this.state = saved && typeof saved === 'object' ? (saved as UiState) : {};
    target.addEventListener('message', (e: MessageEvent) => this.receive(e.data as ToWebview));
  }

  /** Sends a request; progress events carrying its id go to onProgress. */
  start<K extends RequestName>(method: K, params: RequestParams<K>, onProgress?: Pending['onProgress']): RequestHandle<RequestResult<K>> {
    const id = this.nextId++;
    const result = new Promise<RequestResult<K>>((resolve, reject) => {
      this.pending.set(id, { resolve: resolve as (v: unknown) => void, reject, onProgress });
    });
    this.post({ kind: 'request', id, method, params } as FromWebview);
    return { id, result };
  }

  request<K extends RequestName>(method: K, params: RequestParams<K>, onProgress?: Pending['onProgress']): Promise<RequestResult<K>> {
    return this.start(method, params, onProgress).result;
  }

  cancel(id: number): void {
    if (this.pending.has(id)) this.post({ kind: 'cancel', id });
  }

  onEvent(l: (e: ViewEvent) => void): () => void {
    this.listeners.add(l);
    return () => this.listeners.delete(l);
  }

  ready(): void {
    this.post({ kind: 'ready' });
  }

  sendPlan(plan: ViewPlan): void {
    this.post({ kind: 'planState', plan });
  }

  get ui(): Readonly<UiState> {
    return this.state;
  }

  /** Merges into the saved UI state: at once, except scroll positions (at most every 200 ms). */
  save(patch: Partial<UiState>): void {
    this.state = { ...this.state, ...patch };
    clearTimeout(this.saveTimer);
    if (Object.keys(patch).every((k) => k === 'scrollTop')) this.saveTimer = setTimeout(() => this.api.setState(this.state), 200);
    else this.api.setState(this.state);
  }

  private post(m: FromWebview): void {
    this.api.postMessage(m);
  }

  private receive(m: ToWebview): void {
    if (!m || typeof m !== 'object') return;
    if (m.kind === 'response') {
      const p = this.pending.get(m.id);
      if (!p) return;
      this.pending.delete(m.id);
      if (m.ok) p.resolve(m.result);
      else p.reject(new RequestError(m.error));
    } else if (m.kind === 'event') {
      const e = m.event;
      if (e.type === 'progress') this.pending.get(e.requestId)?.onProgress?.(e.stage, e.fraction);
      for (const l of this.listeners) l(e);
    }
  }
}
