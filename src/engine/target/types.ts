// Pruning to a target: the sensitivity scan (how much each channel group tolerates) and the
// budgets a plan is searched for. scan.ts produces a SensitivityScan; allocate.ts turns a scan
// and a Budget into per-group ratios (a plan with overrides) that meet the budget.

import type { PlanCriterion } from '../analysis/criteria.ts';
import type { RecoverMode } from '../recovery/types.ts';

/** One ratio tried on one group, the rest of the model unpruned. */
export interface SensitivityPoint {
  /** Fraction of the group's channels removed. */
  ratio: number;
  /** Channels the group keeps at this ratio (after rounding and the minimum). */
  kept: number;
  /**
   * The loss, in points (0–100): accuracy lost when the scan had labels (top-1 of the original
   * minus top-1 of the pruned, on the scan inputs), else top-1 agreement lost (100 − agreement %).
   */
  loss: number;
  /** Top-1 agreement with the original on the scan inputs, in [0, 1]. */
  agreement: number;
  /** Top-1 accuracy of the pruned model on the scan inputs, when labels were given. */
  accuracy?: number;
  /** Mean relative L2 drift of the first output: ‖y' − y‖ / ‖y‖. */
  drift: number;
  /** MACs and parameters of the whole model with this group alone pruned at this ratio. */
  macs: number;
  params: number;
}

/** The sensitivity of one prunable channel group. */
export interface GroupSensitivity {
  /** The group's id in the dependency analysis. */
  group: number;
  /** Weighted layers whose output channels the group is (the first one names the group in plans). */
  layers: string[];
  /** Channels of the group, unpruned. */
  channels: number;
  /** Points in increasing ratio. Ratios after an early stop are absent. */
  points: SensitivityPoint[];
  /** The scan stopped along this group's ratios because the loss passed `breakLoss`. */
  stoppedEarly?: boolean;
}

/** What a scan measured, and on what: the cache key is built from these. */
export interface ScanSettings {
  criterion: PlanCriterion;
  recover: RecoverMode;
  /** Ratios tried per group, increasing. */
  ratios: number[];
  /** Number of inputs the losses were measured on. */
  inputs: number;
  /** A short description of the data (file or folder name, count), for reports. */
  data: string;
  /** Whether losses are accuracy losses (labels given) or agreement losses. */
  labelled: boolean;
  /** A group's scan stops once its loss exceeds this many points. */
  breakLoss: number;
  /** Channel counts kept are multiples of this (1 = any). */
  roundTo: number;
}

export interface SensitivityScan {
  /** SHA-256 of the model file (and its external data), hex. */
  modelHash: string;
  settings: ScanSettings;
  /** Unpruned model on the scan inputs. */
  baseline: { macs: number; params: number; accuracy?: number };
  groups: GroupSensitivity[];
  /** True when the scan was cancelled or cut short: some groups or ratios are missing. */
  partial: boolean;
  /** Seconds the scan took (0 when read from the cache). */
  seconds: number;
  /** Where the scan came from. */
  source: 'computed' | 'cache';
}

/** What a plan must meet. Fractions are of the unpruned model (0.5 = half). */
export type Budget =
  | { kind: 'macs'; fraction?: number; absolute?: number }
  | { kind: 'params'; fraction?: number; absolute?: number }
  /** Milliseconds per inference, measured in ONNX Runtime on this machine. */
  | { kind: 'latency'; ms: number }
  /** Points of accuracy (labels) or agreement lost at most. */
  | { kind: 'loss'; points: number };

/** A plan found for a budget, and whether the budget was met. */
export interface TargetResult {
  budget: Budget;
  /** Ratio per group id. */
  ratios: Map<number, number>;
  /** Predicted from the scan (sum of per-group losses) and computed (MACs, params) for the chosen ratios. */
  predicted: { macs: number; params: number; loss: number };
  /** Whether the prediction meets the budget; measured results are checked after the real prune. */
  met: boolean;
  /** When the budget cannot be met: the best reachable value, in the budget's unit. */
  bestReachable?: number;
  /** Which allocation produced the ratios ('level' = binary search over a common loss level, 'greedy'). */
  method: 'level' | 'greedy';
}
