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

export function isCriterion(v: unknown): v is Criterion {
  return typeof v === 'string' && (CRITERIA as readonly string[]).includes(v);
}
