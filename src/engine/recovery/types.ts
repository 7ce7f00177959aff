// Recovery without fine-tuning: which method runs after the surgery.
//   none  the pruned weights as cut
//   bias  bias correction: the expected value of each removed channel folded into the next layer
//         (data-free), or the measured mean shift per output channel (with calibration data)
//   bn    re-estimate every remaining BatchNormalization's statistics on the calibration inputs
//   ls    least-squares reconstruction of every layer that lost input channels
//   auto  the best the available data allows (the report says what ran and why)
export const RECOVER_MODES = ['none', 'bias', 'bn', 'ls', 'auto'] as const;
export type RecoverMode = (typeof RECOVER_MODES)[number];

/**
 * One step recovery can run:
 *   compensation  data-free: removed channels' expected outputs folded into the next layers (done by the surgery)
 *   bias          measured mean shift per output channel of every layer that lost input channels
 *   bn            BatchNormalization running statistics re-estimated
 *   ls            least-squares reconstruction of every layer that lost input channels
 */
export type RecoveryStep = 'compensation' | 'bias' | 'bn' | 'ls';

/** What one step did to one layer (a Conv/Gemm/MatMul, or a BatchNormalization for `bn`). */
export interface RecoveredLayer {
  name: string;
  op: string;
  step: Exclude<RecoveryStep, 'compensation'>;
  /** `refit`: new values written; `skipped`: left as pruned (see `reason`). */
  status: 'refit' | 'skipped';
  reason?: string;
  /** ls: unknowns per output channel (inputs × kernel + bias) and sampled rows they were fitted on. */
  unknowns?: number;
  rows?: number;
  /** ls: ridge λ used (absolute), and how often it had to be raised to factorise. */
  lambda?: number;
  /** ls: relative squared error ‖Y − XW‖² / ‖Y‖² on the calibration rows, with the weights as cut and as refitted (when cheap to compute). */
  errorBefore?: number;
  errorAfter?: number;
  /** bias / bn: largest absolute change made to a bias or running mean. */
  maxShift?: number;
}

/** The recovery section of a prune report. */
export interface RecoveryReport {
  /** What the user asked for. */
  requested: RecoverMode;
  /** Steps that ran, in order. */
  steps: RecoveryStep[];
  /** Why these steps (e.g. what `auto` chose and why). */
  why: string;
  /** The calibration inputs used, when any. */
  calibration?: { source: string; count: number };
  /** Execution provider of the statistics runs. */
  provider?: 'cuda' | 'cpu';
  fallbackReason?: string;
  /** ONNX Runtime passes over the calibration inputs (probe models, most of them covering part of the network). */
  passes: number;
  layers: RecoveredLayer[];
  /** Milliseconds spent in recovery (statistics, solves, writes to the in-memory model). */
  ms: number;
}
