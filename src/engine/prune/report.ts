// The report of one pruning run: plain JSON-serialisable data, printed by `onnx-pruner prune --json`
// and shown by the extension. Every key is documented here; add keys, never change their meaning.
import type { BlockReport } from './blocks.ts';
import type { CompensationSummary } from './compensate.ts';
import type { PrunedLayer } from './surgery.ts';
import type { PlanCriterion, PruningPlan } from './types.ts';
import type { ValidationReport } from '../runtime/types.ts';
import type { RecoveryReport } from '../recovery/types.ts';

export interface BeforeAfter {
  before: number;
  after: number;
}

/** One pruned layer (a weighted layer whose output channels lost channels): the surgery's record of it. */
export type PrunedLayerReport = PrunedLayer;

export interface PruneReport {
  /** Version of this report format. */
  reportVersion: 1;
  /** Absolute path of the original model (never modified). */
  input: string;
  /** Absolute path of the written pruned model. */
  output: string;
  /** Absolute path of the external-data file written beside the output, when the model uses one. */
  externalData?: string;
  /** The plan as applied (after validation), so the run can be repeated with `--plan`. */
  plan: PruningPlan;
  /** The importance criterion (same as plan.criterion). */
  criterion: PlanCriterion;
  /** Parameters (weights, biases, BN scale and shift: PyTorch's count) before and after. */
  params: BeforeAfter;
  /** Multiply-accumulates at batch 1 before and after; `complete: false` when they are not those of a real input (the warnings say why). */
  macs: BeforeAfter & { complete?: false };
  /** Bytes on disk (model file plus external data) before and after. */
  size: BeforeAfter;
  /** Channel groups: prunable ones, pruned ones, frozen ones (with why, in the analysis). */
  groups: { total: number; prunable: number; pruned: number; frozen: number };
  /** Whole residual blocks removed before the channels were pruned (when the plan has `removeBlocks`), weakest first. */
  removedBlocks?: BlockReport[];
  /** Per pruned layer, in graph order. */
  layers: PrunedLayerReport[];
  /** What compensation did: which layers absorbed removed channels, exact or approximate and why, what it could not follow. */
  compensation: CompensationSummary;
  /** What recovery ran after the surgery (and why), per layer: bias correction, BN recalibration, least-squares reconstruction. */
  recovery: RecoveryReport;
  /** Things the user should know (plan warnings, compensation limits, ...). */
  warnings: string[];
  /** ONNX Runtime comparison of the pruned model with the original, when validation ran. */
  validation?: ValidationReport;
  /** Milliseconds per stage. */
  timings: Record<string, number>;
}
