// The one message protocol between the extension host and the model view (webview): the view's
// requests (ViewMethods: each names its parameters and result once), their validators (the
// host trusts nothing the view sends), and the events the host pushes. Carried by
// src/shared/rpc.ts, like the host ↔ worker hop. The view never receives the model itself: only
// the summaries, pages of rows, histograms and reports it displays.
//
// Adding a view request: its entry in ViewMethods, its validator in VIEW_VALIDATORS (the
// compiler insists), and its handler in the host's table (src/extension/modelEditor.ts, the
// compiler insists too).

import { CRITERIA, CRITERION_LABELS, isCriterion, type Criterion } from '../engine/analysis/criteria.ts';
import { DEFAULT_PLAN, planOf, type PruningPlan } from '../engine/prune/types.ts';
import type { PruneReport, ValidationReport } from '../engine/index.ts';
import {
  isBool, isIndex, isNum, isObj, isStr, pick, type ClientMessage, type ErrorInfo, type Params, type Result, type RequestMessage, type ServerMessage,
  type Validator, type Validators,
} from './rpc.ts';

export { CRITERIA, CRITERION_LABELS, isCriterion, type Criterion, type ErrorInfo, type PruneReport, type ValidationReport };

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
   * shows while its channels are scored); the `scored` event says when they are.
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

export { DEFAULT_PLAN };

/** A view plan from its fields, built by the engine's one plan builder (neutral values left out). */
export function viewPlanOf(fields: ViewPlan): ViewPlan {
  const { version: _v, model: _m, ...plan } = planOf(fields);
  return plan;
}

export interface PlanPreview {
  params: { before: number; after: number };
  macs: { before: number; after: number };
  layers: { name: string; channelsBefore: number; channelsAfter: number }[];
}

// ---------- requests: view → host, each answered once ----------

export interface ViewMethods {
  getLayers: { params: LayerQuery; result: LayerPage };
  getHistogram: { params: { criterion: Criterion; layer?: string; log?: boolean; bins?: number }; result: Histogram | null };
  getLayerDetail: { params: { layer: string; plan?: ViewPlan }; result: LayerDetail };
  previewPlan: { params: { plan: ViewPlan }; result: PlanPreview };
  /** Runs the surgery (and validation when asked); progress arrives with this request's id. */
  prune: { params: { plan: ViewPlan; validate: boolean }; result: { report: PruneReport } };
  validate: { params: { pruned: string }; result: ValidationReport };
  /** Opens a file (a pruned model) in VS Code. */
  openFile: { params: { path: string }; result: null };
}

export type RequestName = keyof ViewMethods;
export type RequestParams<K extends RequestName> = Params<ViewMethods, K>;
export type RequestResult<K extends RequestName> = Result<ViewMethods, K>;
export type ViewRequest = RequestMessage<ViewMethods>;

export type FromWebview =
  | ClientMessage<ViewMethods>
  /** The view (re)started: a view reloaded after being hidden gets its first screen again. */
  | { kind: 'ready' }
  /** The plan currently set in the view's plan panel, so host commands (Export Pruning Plan…) can use it. */
  | { kind: 'planState'; plan: ViewPlan };

// ---------- host → view ----------

export type ViewEvent =
  | { type: 'loading'; stage: string; fraction?: number }
  | { type: 'loadFailed'; error: ErrorInfo }
  /**
   * What a view shows first, sent by the host once the model's structure is loaded, without
   * waiting to be asked (VS Code holds it until the view has loaded); sent again to a view that
   * reloads (its `ready`). `defaultPlan` is the plan of the user's onnxPruner.* settings.
   */
  | { type: 'firstScreen'; summary: ViewSummary; query: LayerQuery; page: LayerPage; defaultPlan: ViewPlan }
  /** Progress of phase 2 (channel scores), after the rows are shown. */
  | { type: 'scoring'; stage: string; fraction?: number }
  /** The channels are scored: the summary with `scored: true` (rows, histograms and previews now have scores). */
  | { type: 'scored'; summary: ViewSummary }
  /** The user's onnxPruner.* settings changed: the plan a view starts from. */
  | { type: 'defaultPlan'; plan: ViewPlan }
  | { type: 'revealLayer'; layer: string }
  | { type: 'trustGranted' };

export type ToWebview = ServerMessage<ViewEvent>;

// ---------- validation of what the view sends (the host trusts nothing) ----------

/** A plan from the view: a new object with the known keys only, or undefined. */
export function parseViewPlan(v: unknown): ViewPlan | undefined {
  if (!isObj(v) || !isCriterion(v.criterion)) return undefined;
  if (v.scope !== 'uniform' && v.scope !== 'global') return undefined;
  if (v.ratio !== undefined && !isNum(v.ratio)) return undefined;
  if (v.threshold !== undefined && !isNum(v.threshold)) return undefined;
  if (v.normalize !== undefined && !isBool(v.normalize)) return undefined;
  if (v.compensate !== undefined && !isBool(v.compensate)) return undefined;
  if (v.roundTo !== undefined && !(isIndex(v.roundTo) && v.roundTo <= 1 << 20)) return undefined;
  if (v.minChannels !== undefined && !(isIndex(v.minChannels) && v.minChannels <= 1 << 20)) return undefined;
  let exclude: string[] | undefined;
  if (v.exclude !== undefined) {
    if (!(Array.isArray(v.exclude) && v.exclude.length <= 1000 && v.exclude.every((x) => isStr(x, 1000)))) return undefined;
    exclude = [...(v.exclude as string[])];
  }
  let overrides: ViewPlan['overrides'];
  if (v.overrides !== undefined) {
    if (!isObj(v.overrides) || Object.keys(v.overrides).length > 100000) return undefined;
    overrides = {};
    for (const [layer, o] of Object.entries(v.overrides)) {
      if (!isStr(layer) || !isObj(o)) return undefined;
      if (o.ratio !== undefined && !isNum(o.ratio)) return undefined;
      if (o.keep !== undefined && !(Array.isArray(o.keep) && o.keep.length <= 1 << 20 && o.keep.every((k) => isIndex(k) && k < 1 << 24))) return undefined;
      Object.defineProperty(overrides, layer, { value: pick({ ratio: o.ratio as number | undefined, keep: o.keep ? [...(o.keep as number[])] : undefined }), enumerable: true, writable: true, configurable: true });
    }
  }
  return pick<ViewPlan>({
    criterion: v.criterion, scope: v.scope, ratio: v.ratio, threshold: v.threshold, normalize: v.normalize as boolean | undefined,
    compensate: v.compensate as boolean | undefined, roundTo: v.roundTo as number | undefined, minChannels: v.minChannels as number | undefined,
    exclude, overrides,
  });
}

export function isViewPlan(v: unknown): v is ViewPlan {
  return parseViewPlan(v) !== undefined;
}

const SORT_KEYS: ReadonlySet<string> = new Set([
  'name', 'op', 'channels', 'params', 'macs', 'group',
  ...CRITERIA.flatMap((c) => ['min', 'q1', 'median', 'q3', 'max', 'mean', 'below'].map((f) => `${c}.${f}`)),
]);

const parseQuery: Validator<LayerQuery> = (p) => {
  if (!isObj(p) || !isIndex(p.offset) || !isIndex(p.limit) || p.limit > 10000) return undefined;
  if (p.filter !== undefined && !isStr(p.filter, 1000)) return undefined;
  let sort: LayerQuery['sort'];
  if (p.sort !== undefined) {
    if (!isObj(p.sort) || !isStr(p.sort.key, 100) || !SORT_KEYS.has(p.sort.key) || !isBool(p.sort.descending)) return undefined;
    sort = { key: p.sort.key as SortKey, descending: p.sort.descending };
  }
  return pick<LayerQuery>({ offset: p.offset, limit: p.limit, filter: p.filter as string | undefined, sort });
};

/** One validator per view request: each checks the params and builds a new object of the known keys. */
export const VIEW_VALIDATORS: Validators<ViewMethods> = {
  getLayers: parseQuery,
  getHistogram: (p) => {
    if (!isObj(p) || !isCriterion(p.criterion)) return undefined;
    if (p.layer !== undefined && !isStr(p.layer)) return undefined;
    if (p.log !== undefined && !isBool(p.log)) return undefined;
    if (p.bins !== undefined && !(isIndex(p.bins) && p.bins <= 1000)) return undefined;
    return pick<Params<ViewMethods, 'getHistogram'>>({ criterion: p.criterion, layer: p.layer as string | undefined, log: p.log as boolean | undefined, bins: p.bins as number | undefined });
  },
  getLayerDetail: (p) => {
    if (!isObj(p) || !isStr(p.layer)) return undefined;
    const plan = p.plan === undefined ? undefined : parseViewPlan(p.plan);
    if (p.plan !== undefined && !plan) return undefined;
    return pick<Params<ViewMethods, 'getLayerDetail'>>({ layer: p.layer, plan });
  },
  previewPlan: (p) => {
    const plan = isObj(p) ? parseViewPlan(p.plan) : undefined;
    return plan && { plan };
  },
  prune: (p) => {
    const plan = isObj(p) ? parseViewPlan(p.plan) : undefined;
    return plan && isObj(p) && isBool(p.validate) ? { plan, validate: p.validate } : undefined;
  },
  validate: (p) => (isObj(p) && isStr(p.pruned) ? { pruned: p.pruned } : undefined),
  openFile: (p) => (isObj(p) && isStr(p.path) ? { path: p.path } : undefined),
};

const METHODS: ReadonlySet<string> = new Set(Object.keys(VIEW_VALIDATORS));

/** Returns a new, typed message when it is well-formed, else undefined. */
export function parseFromWebview(msg: unknown): FromWebview | undefined {
  if (!isObj(msg)) return undefined;
  if (msg.kind === 'ready') return { kind: 'ready' };
  if (msg.kind === 'cancel') return isIndex(msg.id) ? { kind: 'cancel', id: msg.id } : undefined;
  if (msg.kind === 'planState') {
    const plan = parseViewPlan(msg.plan);
    return plan && { kind: 'planState', plan };
  }
  if (msg.kind === 'request' && isIndex(msg.id) && typeof msg.method === 'string' && METHODS.has(msg.method)) {
    const method = msg.method as RequestName;
    const params = (VIEW_VALIDATORS[method] as Validator<unknown>)(msg.params);
    if (params === undefined) return undefined;
    return { kind: 'request', id: msg.id, method, params } as ViewRequest;
  }
  return undefined;
}
