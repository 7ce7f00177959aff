// The view's side of the protocol: typed requests with ids (answered once), cancel,
// host events (src/shared/rpc.ts), and the saved UI state (the view is not kept alive while hidden).
import type { FromWebview, RequestName, RequestParams, RequestResult, SortKey, ToWebview, ViewEvent, ViewMethods, ViewPlan } from '../shared/protocol.ts';
import { RequestError, RpcClient, type ProgressFn, type RequestHandle } from '../shared/rpc.ts';

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

export { RequestError };

export type { RequestHandle };

/** The view's end of the protocol (src/shared/rpc.ts) over VS Code's webview messaging, plus the saved UI state. */
export class HostClient {
  private readonly api: VsCodeApi;
  private readonly client: RpcClient<ViewMethods, ViewEvent>;
  private saveTimer: ReturnType<typeof setTimeout> | undefined;
  private state: UiState;

  constructor(api: VsCodeApi = acquireVsCodeApi(), target: Window = window) {
    this.api = api;
    this.client = new RpcClient<ViewMethods, ViewEvent>((m) => this.post(m));
    const saved = api.getState();
    this.state = saved && typeof saved === 'object' ? (saved as UiState) : {};
    target.addEventListener('message', (e: MessageEvent) => this.client.receive(e.data as ToWebview));
  }

  /** Sends a request; progress carrying its id goes to onProgress. */
  start<K extends RequestName>(method: K, params: RequestParams<K>, onProgress?: ProgressFn): RequestHandle<RequestResult<K>> {
    return this.client.start(method, params, { onProgress });
  }

  request<K extends RequestName>(method: K, params: RequestParams<K>, onProgress?: ProgressFn): Promise<RequestResult<K>> {
    return this.start(method, params, onProgress).result;
  }

  cancel(id: number): void {
    this.client.cancel(id);
  }

  onEvent(l: (e: ViewEvent) => void): () => void {
    return this.client.onEvent(l);
  }

  /** Tells the host this view (re)started: a reloaded view gets its first screen again. */
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
}
