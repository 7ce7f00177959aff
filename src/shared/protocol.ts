// The one message protocol between the extension host and the model view (webview): the view's
// requests (ViewMethods: each names its parameters and result once), their validators (the
// host trusts nothing the view sends), and the events the host pushes. Carried by
// src/shared/rpc.ts, like the host ↔ worker hop. The view never receives the model itself: only
// the summaries, pages of rows, histograms and reports it displays.
//
// Adding a view request: its entry in ViewMethods, its validator in VIEW_VALIDATORS (the
// compiler insists), and its handler in the host's table (src/extension/modelEditor.ts, the
// compiler insists too).

import {
  CRITERIA, CRITERION_LABELS, DATA_CRITERIA, PLAN_CRITERIA, PLAN_CRITERION_LABELS, isCriterion, isDataCriterion, isPlanCriterion, type Criterion, type DataCriterion, type PlanCriterion,
} from '../engine/analysis/criteria.ts';
import { DEFAULT_PLAN, planOf, type PruningPlan } from '../engine/prune/types.ts';
import type { PruneReport, ValidationReport } from '../engine/index.ts';
import { PRESET_NAMES, describePreprocess, type Preprocess, type PresetName } from '../engine/data/preprocess.ts';
import { RECOVER_MODES, type RecoverMode } from '../engine/recovery/types.ts';
import type { LatencyStats } from '../engine/runtime/types.ts';
import {
  isBool, isNum, isObj, type ClientMessage, type ErrorInfo, type Params, type Result, type RequestMessage, type ServerMessage,
  type Validator, type Validators,
} from './rpc.ts';

export { CRITERIA, CRITERION_LABELS, isCriterion, type Criterion, type ErrorInfo, type PruneReport, type ValidationReport };
export { DATA_CRITERIA, PLAN_CRITERIA, PLAN_CRITERION_LABELS, isDataCriterion, isPlanCriterion, type DataCriterion, type PlanCriterion };
export { PRESET_NAMES, RECOVER_MODES, describePreprocess, type Preprocess, type PresetName, type RecoverMode, type LatencyStats };

// ---------- data shown by the view ----------

export interface TensorSig { name: string; elemType: string; shape: (number | string)[] }

/** Concrete shapes of model inputs, by input name. */
export type InputShapes = Record<string, number[]>;

/** Sizes the view may give: each at most this, and at most MAX_INPUT_ELEMENTS elements per input (validation allocates them). */
export const MAX_INPUT_SIZE = 16384;
export const MAX_INPUT_ELEMENTS = 1 << 28;

/** Input sizes from the view, rebuilt (own keys only, positive integers within bounds); undefined when malformed. */
export function parseInputShapes(v: unknown): InputShapes | undefined {
  if (!isObj(v)) return undefined;
  const keys = Object.keys(v);
  if (keys.length > 256) return undefined;
  const out: InputShapes = {};
  for (const k of keys) {
    const shape = v[k];
    if (!isStr(k, 1000) || !Array.isArray(shape) || shape.length > 16) return undefined;
    if (!shape.every((d) => isInt(d, MAX_INPUT_SIZE) && d >= 1)) return undefined;
    if ((shape as number[]).reduce((a, b) => a * b, 1) > MAX_INPUT_ELEMENTS) return undefined;
    Object.defineProperty(out, k, { value: [...(shape as number[])], enumerable: true, writable: true, configurable: true });
  }
  return out;
}

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
  /** False when some layer's MACs are unknown (a symbolic size not given): `macs` is then a lower bound. */
  macsComplete: boolean;
  /**
   * The sizes the analysis uses for inputs with symbolic sizes, as whole shapes by input name
   * (given in the view, remembered per model); empty when none was given. `inputs` keep the
   * shapes the file declares (`?` for a size without a name).
   */
  inputShapes: InputShapes;
  /** Sizes proposed for the inputs whose size beyond the batch is symbolic (the metadata's hint, else 224×224). */
  proposedShapes?: InputShapes;
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
  /** Residual blocks (an Add of an activation and a branch computed from it), and how many of them can be removed whole. */
  blockCount?: number;
  removableBlockCount?: number;
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
  /**
   * No BN right after the layer, but these BNs of its channel group scale its channels elsewhere
   * (DenseNet's BN → ReLU → Conv after a Concat): its γ statistics are the group's mean |γ| over them.
   */
  gammaFrom?: string[];
  /** No BN scores this layer (none after it, none in its group): norms may be of BN-folded weights. */
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

/** One channel group in the list of every group: its weighted layers, its other members, and why it is frozen. */
export interface GroupListEntry extends GroupInfo {
  /** For a grouped convolution: channels go in this many equal blocks. */
  divisor?: number;
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

/**
 * A plan as the view edits it: the engine's PruningPlan document without its version, model name and
 * preprocessing (the data options carry that). Any plan criterion: the weight criteria (scored when the
 * model opens), `sketch` (data-free, computed when a plan asks for it) and the data criteria (measured
 * on the chosen calibration inputs when a plan asks for them).
 */
export type ViewPlan = Omit<PruningPlan, 'version' | 'model' | 'preprocess'>;

export { DEFAULT_PLAN };

/** A view plan from its fields, built by the engine's one plan builder (neutral values left out). */
export function viewPlanOf(fields: ViewPlan): ViewPlan {
  const { version: _v, model: _m, ...plan } = planOf(fields);
  return { ...plan, criterion: fields.criterion };
}

export interface PlanPreview {
  params: { before: number; after: number };
  /** `complete: false`: not the MACs of a real input (input sizes the model leaves symbolic were not given). */
  macs: { before: number; after: number; complete?: false };
  layers: { name: string; channelsBefore: number; channelsAfter: number }[];
  /** Layer groups the plan cuts down to the least they can keep (pruning asks for confirmation first). */
  atMinimum?: { layer: string; channelsBefore: number; channelsAfter: number }[];
  /** Residual blocks the plan removes whole (their Add nodes); their layers are listed with 0 channels after. */
  removedBlocks?: string[];
}

// ---------- whole residual blocks ----------

/** How much the output changes without one block, measured on the calibration inputs. */
export interface BlockDataView { loss: number; agreement: number; drift: number; accuracy?: number }

/** One residual block as the view lists it. */
export interface ViewBlock {
  /** The block's Add node: plans name blocks by it. */
  name: string;
  /** Nodes of the branch (removed with the block), parameters they hold. */
  nodes: number;
  params: number;
  lastBn?: string;
  /** Max |γ| of the branch's last BatchNorm (null without one). */
  gamma: number | null;
  shortcut: 'identity' | 'projection';
  channels: number;
  removable: boolean;
  reason?: string;
  /** The output change without the block (after a measure on calibration data). */
  data?: BlockDataView;
}

/** The model's residual blocks, weakest first: by the data score when measured, else by γ. */
export interface ViewBlocks {
  blocks: ViewBlock[];
  /** What the data scores were measured on, when they were. */
  measured?: { data: string; inputs: number; labelled: boolean; seconds: number };
}

// ---------- calibration, evaluation and validation data ----------

/**
 * The data a prune run reads, chosen in the view's plan panel (a picker the host runs) and
 * remembered per model by the host. The files stay on the host (in a remote workspace, on the
 * remote machine): the view sees their names and counts only.
 *   calibration  inputs for recovery (statistics, reconstruction) and data criteria
 *   evaluation   a separate set for the report's accuracy (with labels) or agreement
 *   labels       labels of the evaluation set (.npy/.npz of integers or .u8), instead of its folder layout
 *   inputs       inputs for validation's comparison and timing (else the evaluation or calibration set's first batch)
 */
export const DATA_ROLES = ['calibration', 'evaluation', 'labels', 'inputs'] as const;
export type DataRole = (typeof DATA_ROLES)[number];

export interface DataSetInfo {
  /** The file or folder name, without its directory. */
  name: string;
  /** An image folder, or an array file (.npy, .npz, .f32). */
  kind: 'images' | 'array';
  /** Samples used (calibration: at most the calibration count). */
  count: number;
  /** Samples in the file or folder. */
  total: number;
  /** One sample's shape, as fed to the model (without the batch axis). */
  sampleShape: number[];
  /** Where the labels come from (a file name, or the folder layout), when the set has labels. */
  labels?: string;
  /** Classes of an ImageFolder layout (its sub-folders). */
  classes?: number;
}

/** One array of a chosen .npz file, as the view lists it. */
export interface NpzArrayInfo {
  name: string;
  shape: number[];
  /** NumPy's dtype, e.g. `<f4`, `|u1`. */
  dtype: string;
  /** An integer array of one value per sample: usable as labels. */
  labels: boolean;
}

/** A chosen .npz file: its arrays, and which one is read. */
export interface NpzChoice {
  /** The file name, without its directory. */
  file: string;
  arrays: NpzArrayInfo[];
  /** The array read as the inputs. */
  array: string;
  /** Evaluation only: the array of the same file read as labels, when one is chosen. */
  labels?: string;
}

/** The data roles whose file may be a .npz of several arrays. */
export const ARRAY_ROLES = ['calibration', 'evaluation', 'inputs'] as const;
export type ArrayRole = (typeof ARRAY_ROLES)[number];

/** The options of the data a prune run uses: what the view sets (validated by the host). */
export interface DataOptions {
  /** Image preprocessing preset; `auto` = the one proposed from the model's input; `custom` = `custom`'s fields. */
  preset: PresetName | 'auto' | 'custom';
  /** The preprocessing the user edited (used when `preset` is `custom`; kept when another preset is chosen). */
  custom?: Preprocess;
  recover: RecoverMode;
  /** Use at most this many calibration inputs (the first ones). */
  calibCount: number;
  /** Validation: timed runs per model, and inputs per run. */
  runs: number;
  batch: number;
}

/** What the view shows of the chosen data. */
export interface DataState extends DataOptions {
  /** Why data cannot feed this model (e.g. two inputs, an integer input), when it cannot. */
  unavailable?: string;
  /** The model's input is an image input: image folders and preprocessing apply. */
  imageInput: boolean;
  /** The model fixes its batch size (validation runs that many inputs at once). */
  fixedBatch?: number;
  calibration?: DataSetInfo;
  evaluation?: DataSetInfo;
  inputs?: DataSetInfo;
  /** Name of the labels file, when one is chosen. */
  labelsFile?: string;
  /** Each chosen .npz file's arrays (with their shapes) and the one read, by role. */
  npz?: Partial<Record<ArrayRole, NpzChoice>>;
  /**
   * The model input's sizes beyond the batch are symbolic and no input size is given: a raw .f32
   * file (which has no shape) cannot be cut into samples until it is (set the input size above).
   */
  f32NeedsSize?: string;
  /** The preprocessing proposed from the model's input, and the one image folders use. */
  proposed?: Preprocess;
  preprocess?: Preprocess;
  /** A chosen file or folder that cannot be used, naming it and why (nothing runs until it is fixed or cleared). */
  errors: string[];
  warnings: string[];
}

export const DATA_LIMITS = { calibCount: 100000, runs: 1000, batch: 1024 } as const;

/** The phases of a prune run the view shows, from the engine's progress stages. */
export const PRUNE_PHASES = ['preparing', 'statistics', 'reconstruction', 'writing', 'evaluation'] as const;
export type PrunePhase = (typeof PRUNE_PHASES)[number];
export const PRUNE_PHASE_LABELS: Record<PrunePhase, string> = {
  preparing: 'Planning and cutting channels',
  statistics: 'Statistics on the calibration inputs',
  reconstruction: 'Reconstruction (least squares)',
  writing: 'Writing the pruned model',
  evaluation: 'Validation and evaluation',
};

/** The phase an engine progress stage belongs to. */
export function prunePhase(stage: string): PrunePhase {
  const s = stage.toLowerCase();
  if (/reconstruct/.test(s)) return 'reconstruction';
  if (/^recovery|statistic|calibration|bias correction|activation|original outputs/.test(s)) return 'statistics';
  if (/^writing|saving/.test(s)) return 'writing';
  if (/validat|evaluat|timing|session|running both|done/.test(s)) return 'evaluation';
  return 'preparing';
}

/**
 * Whether a latency difference is within the run-to-run spread (p90 − min of either model): such a
 * difference is noise, not a speed-up or a slow-down.
 */
export function latencyWithinNoise(a: LatencyStats, b: LatencyStats): boolean {
  const spread = Math.max(a.p90Ms - a.minMs, b.p90Ms - b.minMs);
  return a.runs < 2 || b.runs < 2 || Math.abs(b.medianMs - a.medianMs) <= spread;
}

// ---------- pruning to a target: the sensitivity scan and the plan for a budget ----------

/** One ratio tried on one group (the rest of the model whole). */
export interface ScanPointView { ratio: number; kept: number; loss: number; agreement: number; drift: number }

/** One group's sensitivity, as the view shows it. */
export interface ScanGroupView {
  group: number;
  /** The group's first weighted layer (names it in plans), and how many layers it holds. */
  layer: string;
  layers: number;
  channels: number;
  points: ScanPointView[];
  stoppedEarly?: boolean;
}

/** A sensitivity scan for the view: per group, the loss at each ratio (from the engine's SensitivityScan). */
export interface ViewScan {
  criterion: string;
  recover: string;
  ratios: number[];
  inputs: number;
  data: string;
  /** Losses are accuracy lost (labels given), else top-1 agreement lost. */
  labelled: boolean;
  breakLoss: number;
  baseline: { macs: number; params: number };
  groups: ScanGroupView[];
  partial: boolean;
  seconds: number;
  source: 'computed' | 'cache';
}

/**
 * A budget the view can ask a plan for: a fraction of the model's MACs or parameters, a latency in
 * milliseconds (median in ONNX Runtime on this machine, as `prune --target-latency`), or a maximum
 * loss in points (as `--max-loss`: measured on the evaluation data, else the calibration data).
 */
export type ViewBudget =
  | { kind: 'macs' | 'params'; fraction: number }
  | { kind: 'latency'; ms: number }
  | { kind: 'loss'; points: number };

/** The scan's settings the view may change (each absent: the command line's default). */
export interface ViewScanSettings {
  /** Ratios tried per group, in (0, 1), distinct. */
  ratios?: number[];
  /** Calibration inputs the losses are measured on. */
  inputs?: number;
  /** A group's scan stops once its loss passes this many points. */
  breakLoss?: number;
}

/** The command line's scan defaults (`onnx-pruner scan`), the view's too. */
export const SCAN_DEFAULTS = { ratios: [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9], inputs: 64, breakLoss: 30 } as const;

/** A latency measured in ONNX Runtime on this machine (median of `runs` after warm-up). */
export interface LatencyView {
  medianMs: number; minMs: number; p90Ms: number; runs: number; provider: string; threads: number;
  /** The input shapes timed (a symbolic size at the size given, or the data's). */
  inputs?: Record<string, number[]>;
}

/** The target checked on a written model (as the command line checks it). */
export interface TargetCheck {
  budget: ViewBudget;
  /** The target and the written model's value, in the budget's unit. */
  unit: 'MACs' | 'parameters' | 'ms' | 'points';
  target: number;
  value: number;
  met: boolean;
  /** value − target (≤ 0 when met), and relative to the target. */
  miss: number;
  missFraction: number;
  /** Latency: both models timed again. */
  latency?: { original: LatencyView; pruned: LatencyView };
  /** Loss: where it was measured and on what. */
  loss?: { on: 'evaluation' | 'calibration'; unit: 'accuracy' | 'agreement'; count: number };
}

/** The plan found for a budget, with what the scan predicts for it. */
export interface FoundPlan {
  /** The plan: the view's plan with uniform ratio 0 and one override per narrowed group. */
  plan: ViewPlan;
  budget: ViewBudget;
  /** The budget in its unit (MACs or parameters). */
  target: number;
  baseline: { macs: number; params: number };
  /** MACs and parameters counted on the plan; loss: the sum of the groups' scanned losses, in points. */
  predicted: { macs: number; params: number; loss: number };
  met: boolean;
  /** When not met: the least MACs or parameters the scanned widths reach (the plan reaches it). */
  bestReachable?: number;
  /** Ratio chosen per group (by group id). */
  ratios: { group: number; layer: string; ratio: number; loss: number }[];
  notes: string[];
  /** A latency budget: the original and the chosen candidate, timed. */
  latency?: { original: LatencyView; plan: LatencyView };
  /** A loss budget: the chosen candidate's loss, measured (pruned and recovered in memory). */
  measuredLoss?: { points: number; on: 'evaluation' | 'calibration' };
}

// ---------- requests: view → host, each answered once ----------

export interface ViewMethods {
  getLayers: { params: LayerQuery; result: LayerPage };
  getHistogram: { params: { criterion: Criterion; layer?: string; log?: boolean; bins?: number }; result: Histogram | null };
  getLayerDetail: { params: { layer: string; plan?: ViewPlan }; result: LayerDetail };
  /**
   * What the plan removes. A plan ranked by a data criterion measures it first on the chosen
   * calibration inputs (progress arrives with this request's id; cancelling every request waiting
   * for it stops the measurement); `sketch` is computed on first use.
   */
  previewPlan: { params: { plan: ViewPlan }; result: PlanPreview };
  /** Runs the surgery (and validation when asked); progress arrives with this request's id. */
  prune: { params: { plan: ViewPlan; validate: boolean; target?: ViewBudget }; result: { report: PruneReport; target?: TargetCheck } };
  validate: { params: { pruned: string }; result: ValidationReport };
  /** Opens a file (a pruned model) in VS Code. */
  openFile: { params: { path: string }; result: null };
  /** The data chosen for this model (remembered by the host), described. */
  getData: { params: Record<string, never>; result: DataState };
  /** The host shows a file or folder picker for a data role; the state after (unchanged when dismissed). */
  chooseData: { params: { role: DataRole; pick: 'file' | 'folder' }; result: DataState };
  clearData: { params: { role: DataRole }; result: DataState };
  setDataOptions: { params: Partial<DataOptions>; result: DataState };
  /**
   * Chooses the array of a chosen .npz file a role reads (`labels`: the array of the evaluation
   * file read as its labels); the state after.
   */
  chooseArray: { params: { role: ArrayRole | 'labels'; array: string }; result: DataState };
  /**
   * Sets the sizes of the inputs with symbolic sizes (`{}` forgets them), remembered for this model:
   * the model is analysed again with them (shapes, MACs, groups, preview, prune, validation); the
   * answer is the new summary, not scored yet (the `scored` event follows).
   */
  setInputShapes: { params: { inputShapes: InputShapes }; result: ViewSummary };
  /** Every channel group, with its members, whether it is prunable and why not. */
  getGroups: { params: Record<string, never>; result: GroupListEntry[] };
  /**
   * The sensitivity scan on the chosen calibration data, with the plan's criterion, compensation
   * and minimum width and the data options' recovery (cached beside the model); progress arrives
   * with this request's id. `cachedOnly`: answer the cached scan or null, never compute.
   */
  scan: { params: { plan: ViewPlan; cachedOnly: boolean; settings?: ViewScanSettings }; result: ViewScan | null };
  /** The plan meeting a budget (MACs, parameters: least predicted loss; latency, loss: candidates measured), from the (cached) scan. */
  findPlan: { params: { plan: ViewPlan; budget: ViewBudget; settings?: ViewScanSettings }; result: FoundPlan };
  /** The model's latency in ONNX Runtime on this machine, as a latency target measures it. */
  measureLatency: { params: Record<string, never>; result: LatencyView };
  /**
   * The residual blocks, ranked; `measure`: each removable block removed alone and run on the chosen
   * calibration inputs (trusted workspaces; progress arrives with this request's id), else by γ
   * (with the data scores of the last measure on the same data, when there is one).
   */
  getBlocks: { params: { measure: boolean }; result: ViewBlocks };
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

// Every validator builds a new object from the keys it knows: nothing else the view sends (an
// `out` path, a prototype key) ever reaches the host's code. Numbers are finite and bounded.
const isInt = (v: unknown, max = Number.MAX_SAFE_INTEGER): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= max;
const isStr = (v: unknown, max = 4096): v is string => typeof v === 'string' && v.length <= max && !v.includes('\0');
const own = (o: Record<string, unknown>, k: string): unknown => (Object.prototype.hasOwnProperty.call(o, k) ? o[k] : undefined);
/** Channel counts and indices: far above any real layer, far below what could exhaust memory. */
const MAX_CHANNELS = 1 << 24;
/** A file the view may name: no NUL, no `..` segment, with one of the given extensions. */
const isFilePath = (v: unknown, exts: RegExp): v is string => isStr(v) && !v.split(/[\\/]/).includes('..') && exts.test(v);

/** A plan from the view, rebuilt from its known fields only; undefined when any field is malformed. */
export function parseViewPlan(v: unknown): ViewPlan | undefined {
  if (!isObj(v)) return undefined;
  const criterion = own(v, 'criterion');
  const scope = own(v, 'scope');
  if (!isPlanCriterion(criterion) || (scope !== 'uniform' && scope !== 'global')) return undefined;
  const out: ViewPlan = { criterion, scope };
  const ratio = own(v, 'ratio');
  if (ratio !== undefined) {
    if (!(isNum(ratio) && ratio >= 0 && ratio < 1)) return undefined;
    out.ratio = ratio;
  }
  const threshold = own(v, 'threshold');
  if (threshold !== undefined) {
    if (!(isNum(threshold) && threshold >= 0)) return undefined;
    out.threshold = threshold;
  }
  for (const k of ['normalize', 'compensate'] as const) {
    const b = own(v, k);
    if (b === undefined) continue;
    if (!isBool(b)) return undefined;
    out[k] = b;
  }
  for (const k of ['roundTo', 'minChannels'] as const) {
    const n = own(v, k);
    if (n === undefined) continue;
    if (!(isInt(n, MAX_CHANNELS) && n >= 1)) return undefined;
    out[k] = n;
  }
  const exclude = own(v, 'exclude');
  if (exclude !== undefined) {
    if (!(Array.isArray(exclude) && exclude.length <= 1000 && exclude.every((e) => isStr(e, 1000)))) return undefined;
    out.exclude = [...(exclude as string[])];
  }
  const overrides = own(v, 'overrides');
  if (overrides !== undefined) {
    if (!isObj(overrides) || Object.keys(overrides).length > 100000) return undefined;
    const o: NonNullable<ViewPlan['overrides']> = {};
    for (const [layer, ov] of Object.entries(overrides)) {
      if (!isStr(layer) || !isObj(ov)) return undefined;
      const r = own(ov, 'ratio');
      const keep = own(ov, 'keep');
      let value: { ratio: number } | { keep: number[] };
      if (r !== undefined && keep === undefined && isNum(r) && r >= 0 && r < 1) value = { ratio: r };
      else if (keep !== undefined && r === undefined && Array.isArray(keep) && keep.length <= MAX_CHANNELS && keep.every((i) => isInt(i, MAX_CHANNELS))) value = { keep: [...(keep as number[])] };
      else return undefined;
      // an own key even for a layer named __proto__ (an assignment would set the object's prototype)
      Object.defineProperty(o, layer, { value, enumerable: true, writable: true, configurable: true });
    }
    out.overrides = o;
  }
  const removeBlocks = own(v, 'removeBlocks');
  if (removeBlocks !== undefined) {
    // the view removes blocks it names (the threshold and count forms are the CLI's)
    const names = isObj(removeBlocks) && Object.keys(removeBlocks).length === 1 ? own(removeBlocks, 'names') : undefined;
    if (!(Array.isArray(names) && names.length <= 100000 && names.every((n) => isStr(n, 4096) && n !== '') && new Set(names).size === names.length)) return undefined;
    out.removeBlocks = { names: [...(names as string[])] };
  }
  return out;
}

/** Whether `v` is a well-formed plan (see parseViewPlan). */
export function isViewPlan(v: unknown): v is ViewPlan {
  return parseViewPlan(v) !== undefined;
}

/** One validator per view request: each checks the params and builds a new object of the known keys. */
export const VIEW_VALIDATORS: Validators<ViewMethods> = {
  getLayers: (p) => {
    if (!isObj(p)) return undefined;
    const offset = own(p, 'offset');
    const limit = own(p, 'limit');
    const filter = own(p, 'filter');
    const sort = own(p, 'sort');
    if (!isInt(offset, 1e9) || !isInt(limit, 10000)) return undefined;
    if (filter !== undefined && !isStr(filter, 1000)) return undefined;
    const q: LayerQuery = { offset, limit };
    if (filter !== undefined) q.filter = filter;
    if (sort !== undefined) {
      if (!isObj(sort)) return undefined;
      const key = own(sort, 'key');
      const descending = own(sort, 'descending');
      if (!isStr(key, 100) || !SORT_KEYS.has(key) || !isBool(descending)) return undefined;
      q.sort = { key: key as SortKey, descending };
    }
    return q;
  },
  getHistogram: (p) => {
    if (!isObj(p)) return undefined;
    const criterion = own(p, 'criterion');
    const layer = own(p, 'layer');
    const log = own(p, 'log');
    const bins = own(p, 'bins');
    if (!isCriterion(criterion)) return undefined;
    if ((layer !== undefined && !isStr(layer)) || (log !== undefined && !isBool(log)) || (bins !== undefined && !(isInt(bins, 1000) && bins >= 1))) return undefined;
    return { criterion, ...(layer !== undefined ? { layer: layer as string } : {}), ...(log !== undefined ? { log: log as boolean } : {}), ...(bins !== undefined ? { bins: bins as number } : {}) };
  },
  getLayerDetail: (p) => {
    if (!isObj(p)) return undefined;
    const layer = own(p, 'layer');
    const plan = own(p, 'plan') === undefined ? undefined : parseViewPlan(own(p, 'plan'));
    if (!isStr(layer) || (own(p, 'plan') !== undefined && !plan)) return undefined;
    return plan ? { layer, plan } : { layer };
  },
  previewPlan: (p) => {
    const plan = isObj(p) ? parseViewPlan(own(p, 'plan')) : undefined;
    return plan ? { plan } : undefined;
  },
  prune: (p) => {
    // Where the pruned model goes is the host's choice (settings and naming rules), never the view's.
    if (!isObj(p)) return undefined;
    const plan = parseViewPlan(own(p, 'plan'));
    const validate = own(p, 'validate');
    const t = own(p, 'target');
    const target = t === undefined ? undefined : parseViewBudget(t);
    if (t !== undefined && !target) return undefined;
    return plan && isBool(validate) ? { plan, validate, ...(target ? { target } : {}) } : undefined;
  },
  validate: (p) => {
    const pruned = isObj(p) ? own(p, 'pruned') : undefined;
    return isFilePath(pruned, /\.onnx$/i) ? { pruned } : undefined;
  },
  openFile: (p) => {
    const file = isObj(p) ? own(p, 'path') : undefined;
    return isFilePath(file, /\.(onnx|json)$/i) ? { path: file } : undefined;
  },
  getData: (p) => (p === undefined || isObj(p) ? {} : undefined),
  chooseData: (p) => {
    if (!isObj(p)) return undefined;
    const role = own(p, 'role');
    const pick = own(p, 'pick');
    if (!isDataRole(role) || (pick !== 'file' && pick !== 'folder')) return undefined;
    // only image data comes as a folder
    if (pick === 'folder' && role !== 'calibration' && role !== 'evaluation') return undefined;
    return { role, pick };
  },
  clearData: (p) => {
    const role = isObj(p) ? own(p, 'role') : undefined;
    return isDataRole(role) ? { role } : undefined;
  },
  setDataOptions: (p) => parseDataOptions(p),
  chooseArray: (p) => {
    if (!isObj(p)) return undefined;
    const role = own(p, 'role');
    const array = own(p, 'array');
    if (!(role === 'labels' || (typeof role === 'string' && (ARRAY_ROLES as readonly string[]).includes(role)))) return undefined;
    return isArrayName(array) ? { role: role as ArrayRole | 'labels', array } : undefined;
  },
  setInputShapes: (p) => {
    const inputShapes = isObj(p) ? parseInputShapes(own(p, 'inputShapes')) : undefined;
    return inputShapes ? { inputShapes } : undefined;
  },
  getGroups: (p) => (p === undefined || isObj(p) ? {} : undefined),
  scan: (p) => {
    if (!isObj(p)) return undefined;
    const plan = parseViewPlan(own(p, 'plan'));
    const cachedOnly = own(p, 'cachedOnly');
    const settings = own(p, 'settings') === undefined ? {} : parseScanSettings(own(p, 'settings'));
    return plan && isBool(cachedOnly) && settings ? { plan, cachedOnly, ...(Object.keys(settings).length ? { settings } : {}) } : undefined;
  },
  findPlan: (p) => {
    if (!isObj(p)) return undefined;
    const plan = parseViewPlan(own(p, 'plan'));
    const budget = parseViewBudget(own(p, 'budget'));
    const settings = own(p, 'settings') === undefined ? {} : parseScanSettings(own(p, 'settings'));
    return plan && budget && settings ? { plan, budget, ...(Object.keys(settings).length ? { settings } : {}) } : undefined;
  },
  getBlocks: (p) => {
    const measure = isObj(p) ? own(p, 'measure') : undefined;
    return isBool(measure) ? { measure } : undefined;
  },
  measureLatency: (p) => (p === undefined || isObj(p) ? {} : undefined),
};

/** A budget from the view: MACs or parameters, a fraction in (0, 1); a latency in (0, 1e6] ms; a loss in [0, 100] points; undefined when malformed. */
export function parseViewBudget(v: unknown): ViewBudget | undefined {
  if (!isObj(v)) return undefined;
  const kind = own(v, 'kind');
  if (kind === 'latency') {
    const ms = own(v, 'ms');
    return isNum(ms) && ms > 0 && ms <= 1e6 ? { kind, ms } : undefined;
  }
  if (kind === 'loss') {
    const points = own(v, 'points');
    return isNum(points) && points >= 0 && points <= 100 ? { kind, points } : undefined;
  }
  const fraction = own(v, 'fraction');
  if ((kind !== 'macs' && kind !== 'params') || !(isNum(fraction) && fraction > 0 && fraction < 1)) return undefined;
  return { kind, fraction };
}

/** Scan settings from the view: ratios distinct in (0, 1) (at most 32), inputs an integer in [2, 100000], break loss in (0, 100]; undefined when malformed. */
export function parseScanSettings(v: unknown): ViewScanSettings | undefined {
  if (!isObj(v)) return undefined;
  const out: ViewScanSettings = {};
  const ratios = own(v, 'ratios');
  if (ratios !== undefined) {
    if (!Array.isArray(ratios) || !ratios.length || ratios.length > 32 || !ratios.every((r) => isNum(r) && r > 0 && r < 1) || new Set(ratios).size !== ratios.length) return undefined;
    out.ratios = [...(ratios as number[])].sort((a, b) => a - b);
  }
  const inputs = own(v, 'inputs');
  if (inputs !== undefined) {
    if (!(isInt(inputs, 100_000) && inputs >= 2)) return undefined;
    out.inputs = inputs;
  }
  const breakLoss = own(v, 'breakLoss');
  if (breakLoss !== undefined) {
    if (!(isNum(breakLoss) && breakLoss > 0 && breakLoss <= 100)) return undefined;
    out.breakLoss = breakLoss;
  }
  return out;
}

const isDataRole = (v: unknown): v is DataRole => typeof v === 'string' && (DATA_ROLES as readonly string[]).includes(v);

/** Data options from the view: only known keys, each valid and bounded; undefined when any is malformed or none is given. */
export function parseDataOptions(v: unknown): Partial<DataOptions> | undefined {
  if (!isObj(v)) return undefined;
  const out: Partial<DataOptions> = {};
  const preset = own(v, 'preset');
  if (preset !== undefined) {
    if (!(preset === 'auto' || preset === 'custom' || (typeof preset === 'string' && (PRESET_NAMES as readonly string[]).includes(preset)))) return undefined;
    out.preset = preset as DataOptions['preset'];
  }
  const custom = own(v, 'custom');
  if (custom !== undefined) {
    const c = parseCustomPreprocess(custom);
    if (!c) return undefined;
    out.custom = c;
  }
  const recover = own(v, 'recover');
  if (recover !== undefined) {
    if (!(typeof recover === 'string' && (RECOVER_MODES as readonly string[]).includes(recover))) return undefined;
    out.recover = recover as RecoverMode;
  }
  for (const k of ['calibCount', 'runs', 'batch'] as const) {
    const n = own(v, k);
    if (n === undefined) continue;
    if (!(isInt(n, DATA_LIMITS[k]) && n >= 1)) return undefined;
    out[k] = n;
  }
  return Object.keys(out).length ? out : undefined;
}

/** An array name of a .npz file as the view sends it back: what `file.npz:NAME` can carry (no path separator, colon or NUL). */
const isArrayName = (v: unknown): v is string => isStr(v, 255) && v.length > 0 && !/[:\\/]/.test(v) && v !== '.' && v !== '..';

/** Bounds of the custom preprocessing fields (far beyond any real use; the engine checks the fit to the model). */
export const PREPROCESS_LIMITS = { size: MAX_INPUT_SIZE, scale: 1e6, mean: 1e6, channels: 4 } as const;
const PREPROCESS_KEYS = new Set(['preset', 'resize', 'crop', 'scale', 'mean', 'std', 'channels', 'layout']);

/**
 * A custom preprocessing from the view, rebuilt from its known fields: sizes positive integers up to
 * MAX_INPUT_SIZE, scale positive, mean finite and std positive (1 to 4 values each); undefined when
 * any field is malformed, missing (scale, mean, std, channels, layout) or unknown.
 */
export function parseCustomPreprocess(v: unknown): Preprocess | undefined {
  if (!isObj(v)) return undefined;
  if (Object.keys(v).some((k) => !PREPROCESS_KEYS.has(k))) return undefined;
  const size = (x: unknown): x is number => isInt(x, PREPROCESS_LIMITS.size) && x >= 1;
  const list = (x: unknown, positive: boolean): number[] | undefined =>
    Array.isArray(x) && x.length >= 1 && x.length <= PREPROCESS_LIMITS.channels && x.every((n) => isNum(n) && Math.abs(n) <= PREPROCESS_LIMITS.mean && (!positive || n > 0)) ? [...(x as number[])] : undefined;
  const scale = own(v, 'scale');
  const mean = list(own(v, 'mean'), false);
  const std = list(own(v, 'std'), true);
  const channels = own(v, 'channels');
  const layout = own(v, 'layout');
  if (!(isNum(scale) && scale > 0 && scale <= PREPROCESS_LIMITS.scale) || !mean || !std) return undefined;
  if ((channels !== 'rgb' && channels !== 'bgr') || (layout !== 'nchw' && layout !== 'nhwc')) return undefined;
  const out: Preprocess = { scale, mean, std, channels, layout };
  const preset = own(v, 'preset');
  if (preset !== undefined) {
    if (!(typeof preset === 'string' && (PRESET_NAMES as readonly string[]).includes(preset))) return undefined;
    out.preset = preset as PresetName;
  }
  const resize = own(v, 'resize');
  if (resize !== undefined) {
    if (!size(resize)) return undefined;
    out.resize = resize;
  }
  const crop = own(v, 'crop');
  if (crop !== undefined) {
    if (!(Array.isArray(crop) && crop.length === 2 && size(crop[0]) && size(crop[1]))) return undefined;
    out.crop = [crop[0] as number, crop[1] as number];
  }
  return out;
}

const METHODS: ReadonlySet<string> = new Set(Object.keys(VIEW_VALIDATORS));

const SORT_KEYS: ReadonlySet<string> = new Set([
  'name', 'op', 'channels', 'params', 'macs', 'group',
  ...CRITERIA.flatMap((c) => ['min', 'q1', 'median', 'q3', 'max', 'mean', 'below'].map((f) => `${c}.${f}`)),
]);

/** Returns a new, typed message built from the known keys of a well-formed one, else undefined. */
export function parseFromWebview(msg: unknown): FromWebview | undefined {
  if (!isObj(msg)) return undefined;
  const kind = own(msg, 'kind');
  if (kind === 'ready') return { kind: 'ready' };
  const id = own(msg, 'id');
  if (kind === 'cancel') return isInt(id) ? { kind: 'cancel', id } : undefined;
  if (kind === 'planState') {
    const plan = parseViewPlan(own(msg, 'plan'));
    return plan ? { kind: 'planState', plan } : undefined;
  }
  const method = own(msg, 'method');
  if (kind === 'request' && isInt(id) && typeof method === 'string' && METHODS.has(method)) {
    const params = (VIEW_VALIDATORS[method as RequestName] as Validator<unknown>)(own(msg, 'params'));
    if (params === undefined) return undefined;
    return { kind: 'request', id, method, params } as ViewRequest;
  }
  return undefined;
}

/** Each recovery mode as the view's data panel and the Prune Channels… command name and explain it. */
export const RECOVER_LABELS: Record<RecoverMode, { short: string; help: string }> = {
  auto: { short: 'auto', help: 'The best the data allows: least-squares reconstruction with calibration data, the data-free compensation without.' },
  none: { short: 'none', help: 'The pruned weights as cut (with the plan\'s compensation).' },
  bias: { short: 'bias', help: 'Bias correction: the measured mean shift of each layer that lost inputs (expected value without data).' },
  bn: { short: 'bn', help: 'Re-estimate every remaining BatchNorm\'s statistics on the calibration inputs.' },
  ls: { short: 'ls', help: 'Least-squares reconstruction of every layer that lost input channels, on the calibration inputs.' },
};
