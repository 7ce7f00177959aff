// The importance criteria: their ids, in the order every list shows them, and their labels.
// The one home of this list: the plan format, the statistics, the CLI, the commands' quick
// picks and the model view all read it from here.

export type Criterion = 'bn-gamma' | 'l1' | 'l2' | 'fpgm';

export const CRITERIA: readonly Criterion[] = ['bn-gamma', 'l1', 'l2', 'fpgm'];

/** Criteria measured on calibration inputs (src/engine/recovery/criteria.ts): a plan using one needs calibration data. */
export type DataCriterion = 'activation' | 'apoz' | 'thinet';
export const DATA_CRITERIA: readonly DataCriterion[] = ['activation', 'apoz', 'thinet'];
/**
 * Every criterion a plan can rank by: the weight criteria above (scored whenever a model is opened,
 * shown by inspection and the view), `sketch` (data-free, computed when a plan asks for it) and the
 * data criteria.
 */
export type PlanCriterion = Criterion | 'sketch' | DataCriterion;
export const PLAN_CRITERIA: readonly PlanCriterion[] = [...CRITERIA, 'sketch', ...DATA_CRITERIA];

export interface CriterionLabels {
  /** A table column's or chart's label. */
  short: string;
  /** A choice in a list (quick pick, select). */
  name: string;
  /** One sentence: what it measures and where it comes from. */
  help: string;
}

export const CRITERION_LABELS: Readonly<Record<Criterion, CriterionLabels>> = {
  'bn-gamma': { short: 'BN |γ|', name: 'BN γ (Network Slimming)', help: 'Network Slimming: |γ| of the BatchNorm after each layer' },
  l1: { short: 'L1 norm', name: 'L1 norm of filters', help: 'L1 norm of each filter (Li et al. 2017)' },
  l2: { short: 'L2 norm', name: 'L2 norm of filters', help: 'L2 norm of each filter (Soft Filter Pruning)' },
  fpgm: { short: 'FPGM distance', name: 'Geometric median (FPGM)', help: 'Distance to the other filters: the geometric median (FPGM)' },
};

/** Labels of the plan-time criteria: computed when a plan ranks by them (src/engine/recovery/criteria.ts). */
export const PLAN_CRITERION_LABELS: Readonly<Record<PlanCriterion, CriterionLabels>> = {
  ...CRITERION_LABELS,
  sketch: { short: 'FilterSketch', name: 'Filter covariance (FilterSketch selection)', help: 'Data-free: keeps the filters that carry most of the layer\'s filter covariance (ridge leverage; FilterSketch as a selection)' },
  activation: { short: 'mean |activation|', name: 'Mean activation (calibration data)', help: 'Mean |a| of each channel at the next layers\' inputs, measured on the calibration inputs' },
  apoz: { short: '1 − APoZ', name: 'Share of non-zero activations (APoZ)', help: 'How often each channel is non-zero after its activation (1 − APoZ, Hu et al. 2016), measured on the calibration inputs' },
  thinet: { short: 'ThiNet order', name: 'ThiNet greedy choice (calibration data)', help: 'ThiNet (Luo et al. 2017): channels whose removal changes the next layer\'s sampled output least go first, measured on the calibration inputs' },
};

export function isPlanCriterion(v: unknown): v is PlanCriterion {
  return typeof v === 'string' && (PLAN_CRITERIA as readonly string[]).includes(v);
}

export function isDataCriterion(v: unknown): v is DataCriterion {
  return typeof v === 'string' && (DATA_CRITERIA as readonly string[]).includes(v);
}

export function isCriterion(v: unknown): v is Criterion {
  return typeof v === 'string' && (CRITERIA as readonly string[]).includes(v);
}
