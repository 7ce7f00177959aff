// The requests the extension host sends its engine worker thread. The worker runs every engine
// call that can take more than a few milliseconds (loading, analysis, surgery, ONNX Runtime), so
// the extension host's event loop never stalls. Carried by src/shared/rpc.ts.
import type { ClientMessage, ServerMessage } from '../shared/rpc.ts';
import type { DataJob } from './data.ts';
import type { InputShapes } from '../engine/index.ts';
import type {
  Criterion, DataState, FoundPlan, ViewBlocks, GroupListEntry, Histogram, LatencyView, LayerDetail, LayerPage, LayerQuery, PlanPreview, PruneReport, TargetCheck, ValidationReport, ViewBudget, ViewPlan, ViewScan, ViewScanSettings, ViewSummary,
} from '../shared/protocol.ts';

export interface PruneJob {
  path: string;
  plan: ViewPlan;
  out?: string;
  force?: boolean;
  outputName?: string;
  /** Write a plan that cuts some group to its minimum (the user confirmed). */
  allowMinimal?: boolean;
  validate: boolean;
  ep: 'auto' | 'cuda' | 'cpu';
  /** Calibration, evaluation and validation data, and the recovery mode (the view's choices). */
  data?: DataJob;
  /** Sizes of symbolic inputs when the model is not open in the worker (an open model prunes with its own). */
  inputShapes?: InputShapes;
}

export type { DataJob };

export interface LayerListEntry { name: string; op: string; channels: number; prunable: boolean }

export interface WorkerMethods {
  /**
   * Loads a model and finds its coupled channels (phase 1); keeps it in the worker until `close`.
   * With `inputShapes` (sizes of symbolic inputs, `{}` for none), a model already open with other
   * sizes is analysed again with these (not read again) and must be scored again (`score`).
   */
  open: { params: { path: string; inputShapes?: InputShapes }; result: ViewSummary };
  /** Scores the channels of an open model (phase 2); answers the summary once scored. */
  score: { params: { path: string }; result: ViewSummary };
  close: { params: { path: string }; result: null };
  getLayers: { params: { path: string; query: LayerQuery }; result: LayerPage };
  getHistogram: { params: { path: string; criterion: Criterion; layer?: string; log?: boolean; bins?: number }; result: Histogram | null };
  /** `data`: the calibration choice a plan ranked by a data criterion is measured on. */
  getLayerDetail: { params: { path: string; layer: string; plan?: ViewPlan; data?: DataJob }; result: LayerDetail };
  /**
   * What a plan removes. A plan-time criterion (sketch; a data criterion, on `data`'s calibration
   * inputs) is scored first, with progress; the measurement is shared by the requests waiting for it.
   */
  previewPlan: { params: { path: string; plan: ViewPlan; data?: DataJob }; result: PlanPreview };
  /** Every channel group of an open model (members, prunable or the reason it is frozen). */
  getGroups: { params: { path: string }; result: GroupListEntry[] };
  /** Layer names and per-layer widths (for quick picks and "Export Layer Widths"). */
  listLayers: { params: { path: string }; result: LayerListEntry[] };
  /** Prunes the open model the worker holds (nothing read or analysed again), else reads the file. */
  prune: { params: PruneJob; result: PruneReport };
  /** Runs both models on the same inputs (the chosen data, else random ones, of `inputShapes` where the inputs are symbolic). */
  validate: { params: { original: string; pruned: string; ep: 'auto' | 'cuda' | 'cpu'; data?: DataJob; inputShapes?: InputShapes }; result: ValidationReport };
  /** Opens the chosen data against the open model's input and describes it (names, counts, shapes, preprocessing). */
  describeData: { params: { path: string; data: DataJob }; result: DataState };
  providers: { params: Record<string, never>; result: string[] };
  /**
   * The sensitivity scan of an open model on the chosen calibration data, with the plan's criterion
   * and the data's recovery, cached beside the model; `cachedOnly`: the cached scan or null.
   */
  scan: { params: { path: string; plan: ViewPlan; data: DataJob; cachedOnly: boolean; settings?: ViewScanSettings; ep?: 'auto' | 'cuda' | 'cpu' }; result: ViewScan | null };
  /** The plan meeting a budget (MACs, parameters, latency, maximum loss), from the cached scan of the same choices. */
  findPlan: { params: { path: string; plan: ViewPlan; data: DataJob; budget: ViewBudget; settings?: ViewScanSettings }; result: FoundPlan };
  /** The open model's latency (CPU, 1 thread, median of 20 runs: as a latency target measures it), measured once per loaded model. */
  measureLatency: { params: { path: string }; result: LatencyView };
  /** A budget checked on a written model of the open one (MACs and parameters counted; latency and loss measured). */
  checkTarget: { params: { path: string; pruned: string; budget: ViewBudget; data: DataJob; macs: number; params: number }; result: TargetCheck };
  /**
   * The residual blocks of an open model, ranked by γ, or with `measure` each removed alone and run
   * on the calibration data of `data` (the data scores of the last measure on the same data are
   * kept and given with later answers).
   */
  getBlocks: { params: { path: string; measure: boolean; data?: DataJob; ep?: 'auto' | 'cuda' | 'cpu' }; result: ViewBlocks };
}

export type WorkerMethod = keyof WorkerMethods;
export type ToWorker = ClientMessage<WorkerMethods>;
export type FromWorker = ServerMessage<never>;
