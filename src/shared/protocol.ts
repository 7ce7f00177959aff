// The one message protocol between the extension host and the model view (webview).
// Imported by both sides. Requests carry an id and get exactly one response with that id;
// events flow host → view unprompted. The view never receives the model itself: only the
// summaries, pages of rows, histograms and reports it displays.

import { CRITERIA, CRITERION_LABELS, isCriterion, type Criterion } from '../engine/analysis/criteria.ts';
import type { PruningPlan } from '../engine/prune/types.ts';

export { CRITERIA, CRITERION_LABELS, isCriterion, type Criterion };

// ---------- data shown by the view ----------

export interface TensorSig { name: string; elemType: string; shape: (number | string)[] }

export interface ViewSummary {
  file: string;
  fileName: string;
  sizeOnDisk: number;
  irVersion: number;
  opsets: { domain: string; version: number }[];
  producer: string;
  inputs: TensorSig[];
  outputs: TensorSig[];
  params: number;
  macs: number;
  /** A symbolic batch dimension was counted as 1 for MACs. */
  batchAssumed: boolean;
  nodeCount: number;
  layerCount: number;
  prunableLayerCount: number;
  groupCount: number;
  prunableGroupCount: number;
  bnCount: number;
  /** Convolutions present but no BatchNormalization: BN was folded at export. */
  bnFused: boolean;
  advice: string[];
  /** Execution providers this machine offers for validation, e.g. ['cpu'] or ['cuda', 'cpu']. */
  providers: string[];
  /** The workspace is trusted: pruning and running models are offered (inspection works either way). */
  trusted: boolean;
  /**
   * Channels are scored: the rows carry score statistics, and histograms, channel scores and plan
   * previews can be asked for. Before, the rows show the structure only (a big model's table
   * shows while its channels are scored); `getSummary` with `waitScored` answers once scored.
   */
  scored: boolean;
  /** When this model was written by ONNX Pruner: the original it came from and per-layer widths before/after. */
  prunedFrom?: { source: string; widths: Record<string, [number, number]>; criterion?: string };
}

export interface ScoreStats {
  min: number; q1: number; median: number; q3: number; max: number; mean: number;
  /** Counts of channels with score below 1e-3, 1e-2, 5e-2. */
  below: { '1e-3': number; '1e-2': number; '5e-2': number };
}

export interface LayerRow {
  name: string;
  op: string;
  channels: number;
  params: number;
  macs: number;
  groupId: number | null;
  prunable: boolean;
  frozenReason?: string;
  /** Name of the BatchNormalization after this layer, if any. */
  bn?: string;
  /** No BN follows: norms are of BN-folded weights. */
  bnFused: boolean;
  stats: Partial<Record<Criterion, ScoreStats>>;
}

export type SortKey = 'name' | 'op' | 'channels' | 'params' | 'macs' | 'group' | `${Criterion}.${keyof Omit<ScoreStats, 'below'>}` | `${Criterion}.below`;

export interface LayerQuery {
  offset: number;
  limit: number;
  sort?: { key: SortKey; descending: boolean };
  /** Case-insensitive substring of the layer name or op. */
  filter?: string;
}

export interface LayerPage { total: number; offset: number; rows: LayerRow[] }

/** Rows per page of the layer table. */
export const LAYER_PAGE = 100;
/** The table's first query when the view has no saved sort or filter: heaviest layers first. */
export const FIRST_LAYER_QUERY: LayerQuery = { offset: 0, limit: LAYER_PAGE, sort: { key: 'macs', descending: true } };

export interface Histogram { edges: number[]; counts: number[]; log: boolean }

export interface GroupInfo {
  id: number;
  channels: number;
  prunable: boolean;
  reason?: string;
  layers: string[];
  members: { node: string; op: string; role: string }[];
}

export interface LayerDetail {
  name: string;
  op: string;
  channels: number;
  /** Every channel's score per criterion (index = channel). */
  scores: Partial<Record<Criterion, number[]>>;
  /** Channels the given plan removes from this layer (empty without a plan). */
  removed: number[];
  group: GroupInfo | null;
}

/** Plan as edited in the view: the engine's PruningPlan document without its version and model name. */
export type ViewPlan = Omit<PruningPlan, 'version' | 'model'>;

export interface PlanPreview {
  params: { before: number; after: number };
  macs: { before: number; after: number };
  layers: { name: string; channelsBefore: number; channelsAfter: number }[];
}

/** The prune report as the engine returns it (JSON object; see README for its keys). */
export type PruneReportView = Record<string, unknown> & {
  output: string;
  params: { before: number; after: number };
  macs: { before: number; after: number };
};

/** The validation report as the engine returns it (JSON object). */
export type ValidationView = Record<string, unknown> & { provider: string };

// ---------- requests: view → host, each answered once ----------

export interface RequestMap {
  /** The summary now; with `waitScored`, once the channels are scored. */
  getSummary: { params: { waitScored?: boolean }; result: ViewSummary };
  getLayers: { params: LayerQuery; result: LayerPage };
  getHistogram: { params: { criterion: Criterion; layer?: string; log?: boolean; bins?: number }; result: Histogram | null };
  getLayerDetail: { params: { layer: string; plan?: ViewPlan }; result: LayerDetail };
  previewPlan: { params: { plan: ViewPlan }; result: PlanPreview };
  /** Runs the surgery (and validation when asked); progress arrives as events with this request's id. */
  prune: { params: { plan: ViewPlan; validate: boolean }; result: { report: PruneReportView } };
  validate: { params: { pruned: string }; result: ValidationView };
  /** Opens a file (a pruned model) in VS Code. */
  openFile: { params: { path: string }; result: null };
}

export type RequestName = keyof RequestMap;
export type RequestParams<K extends RequestName> = RequestMap[K]['params'];
export type RequestResult<K extends RequestName> = RequestMap[K]['result'];

export type RequestMessage = { [K in RequestName]: { kind: 'request'; id: number; method: K; params: RequestParams<K> } }[RequestName];

export type FromWebview =
  | RequestMessage
  | { kind: 'cancel'; id: number }
  /** The view is ready (it restores its own UI state with vscode.setState/getState). */
  | { kind: 'ready' }
  /** The plan currently set in the view's plan panel, so host commands (Export Pruning Plan…) can use it. */
  | { kind: 'planState'; plan: ViewPlan };

// ---------- host → view ----------

export interface ErrorInfo { message: string; details?: string; cancelled?: boolean }

export type ViewEvent =
  | { type: 'loading'; stage: string; fraction?: number }
  | { type: 'loaded' }
  | { type: 'loadFailed'; error: ErrorInfo }
  /**
   * What a new view shows first, sent by the host once the model's structure is loaded, without
   * waiting to be asked (VS Code holds it until the view has loaded): saves a round trip.
   */
  | { type: 'firstScreen'; summary: ViewSummary; query: LayerQuery; page: LayerPage }
  /** Progress of phase 2 (channel scores), after the rows are shown. */
  | { type: 'scoring'; stage: string; fraction?: number }
  | { type: 'progress'; requestId: number; stage: string; fraction?: number }
  | { type: 'revealLayer'; layer: string }
  | { type: 'theme'; kind: 'light' | 'dark' | 'high-contrast' | 'high-contrast-light' }
  | { type: 'planChanged'; plan: ViewPlan }
  | { type: 'trustGranted' };

export type ToWebview =
  | { kind: 'response'; id: number; ok: true; result: unknown }
  | { kind: 'response'; id: number; ok: false; error: ErrorInfo }
  | { kind: 'event'; event: ViewEvent };

// ---------- validation of what the view sends (the host trusts nothing) ----------

const METHODS: ReadonlySet<string> = new Set<RequestName>(['getSummary', 'getLayers', 'getHistogram', 'getLayerDetail', 'previewPlan', 'prune', 'validate', 'openFile']);

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0;
const isNum = (v: unknown): v is number => typeof v === 'number' && Number.isFinite(v);
const isStr = (v: unknown, max = 4096): v is string => typeof v === 'string' && v.length <= max;

export function isViewPlan(v: unknown): v is ViewPlan {
  if (!isObj(v) || !isCriterion(v.criterion)) return false;
  if (v.scope !== 'uniform' && v.scope !== 'global') return false;
  if (v.ratio !== undefined && !isNum(v.ratio)) return false;
  if (v.threshold !== undefined && !isNum(v.threshold)) return false;
  if (v.normalize !== undefined && typeof v.normalize !== 'boolean') return false;
  if (v.compensate !== undefined && typeof v.compensate !== 'boolean') return false;
  if (v.roundTo !== undefined && !isInt(v.roundTo)) return false;
  if (v.minChannels !== undefined && !isInt(v.minChannels)) return false;
  if (v.exclude !== undefined && !(Array.isArray(v.exclude) && v.exclude.length <= 1000 && v.exclude.every((s) => isStr(s, 1000)))) return false;
  if (v.overrides !== undefined) {
    if (!isObj(v.overrides)) return false;
    for (const o of Object.values(v.overrides)) {
      if (!isObj(o)) return false;
      if (o.ratio !== undefined && !isNum(o.ratio)) return false;
      if (o.keep !== undefined && !(Array.isArray(o.keep) && o.keep.every(isInt))) return false;
    }
  }
  return true;
}

function validParams(method: RequestName, p: unknown): boolean {
  if (!isObj(p)) return false;
  switch (method) {
    case 'getSummary': return p.waitScored === undefined || typeof p.waitScored === 'boolean';
    case 'getLayers':
      return isInt(p.offset) && isInt(p.limit) && p.limit <= 10000 &&
        (p.filter === undefined || isStr(p.filter, 1000)) &&
        (p.sort === undefined || (isObj(p.sort) && isStr(p.sort.key, 100) && typeof p.sort.descending === 'boolean'));
    case 'getHistogram':
      return isCriterion(p.criterion) && (p.layer === undefined || isStr(p.layer)) && (p.log === undefined || typeof p.log === 'boolean') && (p.bins === undefined || (isInt(p.bins) && p.bins <= 1000));
    case 'getLayerDetail': return isStr(p.layer) && (p.plan === undefined || isViewPlan(p.plan));
    case 'previewPlan': return isViewPlan(p.plan);
    case 'prune': return isViewPlan(p.plan) && typeof p.validate === 'boolean';
    case 'validate': return isStr(p.pruned);
    case 'openFile': return isStr(p.path);
  }
}

/** Returns the message typed when it is well-formed, else undefined. */
export function parseFromWebview(msg: unknown): FromWebview | undefined {
  if (!isObj(msg)) return undefined;
  if (msg.kind === 'ready') return { kind: 'ready' };
  if (msg.kind === 'cancel') return isInt(msg.id) ? { kind: 'cancel', id: msg.id } : undefined;
  if (msg.kind === 'planState') return isViewPlan(msg.plan) ? { kind: 'planState', plan: msg.plan } : undefined;
  if (msg.kind === 'request' && isInt(msg.id) && typeof msg.method === 'string' && METHODS.has(msg.method)) {
    const method = msg.method as RequestName;
    if (!validParams(method, msg.params)) return undefined;
    return msg as unknown as FromWebview;
  }
  return undefined;
}
