// Pruning plans (a JSON document a user can save, edit and load) and the report of a run.
import type { Preprocess } from '../data/preprocess.ts';

import type { Criterion, PlanCriterion } from '../analysis/criteria.ts';

// The criteria live in analysis/ (where they are computed); re-exported for the plan's users.
export { CRITERIA, DATA_CRITERIA, PLAN_CRITERIA, type Criterion, type DataCriterion, type PlanCriterion } from '../analysis/criteria.ts';

export interface LayerOverride {
  /** Prune this ratio of the layer's group instead of the plan's. */
  ratio?: number;
  /** Keep exactly these output-channel indices of the layer's group. */
  keep?: number[];
}

export interface PruningPlan {
  /** Format version of this document. */
  version: 1;
  criterion: PlanCriterion;
  /** Fraction of channels to remove, in [0, 1). Exactly one of ratio / threshold. */
  ratio?: number;
  /** Remove channels whose score is below this value (global scope). */
  threshold?: number;
  /** 'uniform': the same ratio in every prunable group; 'global': one ranking over all groups. */
  scope: 'uniform' | 'global';
  /** Normalise scores per layer before a global ranking (default: true for norms, false for bn-gamma). */
  normalize?: boolean;
  /** Keep a multiple of this many channels per group (e.g. 8). */
  roundTo?: number;
  /** Never keep fewer than this many channels in a group (default 1). */
  minChannels?: number;
  /** Layers whose name matches any of these patterns (glob with * or /regex/) are left alone. */
  exclude?: string[];
  /** Per-layer overrides, keyed by layer (node) name. */
  overrides?: Record<string, LayerOverride>;
  /** Fold removed channels' constant outputs into the consumers' biases (default true). */
  compensate?: boolean;
  /** File the plan was made for (informational). */
  model?: string;
  /**
   * Whole residual blocks to remove before pruning channels (prune/blocks.ts): every removable block
   * whose last BatchNormalization has all |γ| below `threshold`, the `count` weakest removable blocks,
   * or the blocks whose Add nodes `names` lists.
   */
  removeBlocks?: BlockSelection;
  /** How calibration images were turned into model inputs (saved so a run can be repeated; see data/preprocess.ts). */
  preprocess?: Preprocess;
}

/**
 * Which residual blocks a plan removes: by a |γ| threshold on the branch's last BN, the N weakest by
 * that γ, or the blocks named (their Add nodes; e.g. the weakest by a data ranking, or chosen in the view).
 */
export type BlockSelection = { threshold: number } | { count: number } | { names: string[] };

/** A plan resolved against one model: kept channel indices (sorted) per prunable group id. */
export interface ResolvedPlan {
  plan: PruningPlan;
  kept: Map<number, number[]>;
}

/** The plan a new model view and the settings start from (package.json's onnxPruner.* defaults say the same). */
export const DEFAULT_PLAN: Readonly<Omit<PruningPlan, 'version' | 'model' | 'criterion'> & { criterion: Criterion }> = { criterion: 'bn-gamma', ratio: 0.5, scope: 'uniform', compensate: true };

/**
 * The one plan builder: a plan document from its fields, with the neutral values left out
 * (round-to 1, minimum 1 channel, no exclusions, no overrides), so equal plans serialise equally.
 */
export function planOf(fields: Omit<PruningPlan, 'version'>): PruningPlan {
  const plan: PruningPlan = { version: 1, criterion: fields.criterion, scope: fields.scope };
  if (fields.ratio !== undefined) plan.ratio = fields.ratio;
  if (fields.threshold !== undefined) plan.threshold = fields.threshold;
  if (fields.normalize !== undefined) plan.normalize = fields.normalize;
  if (fields.roundTo !== undefined && fields.roundTo > 1) plan.roundTo = fields.roundTo;
  if (fields.minChannels !== undefined && fields.minChannels > 1) plan.minChannels = fields.minChannels;
  if (fields.exclude?.length) plan.exclude = fields.exclude;
  if (fields.overrides && Object.keys(fields.overrides).length) plan.overrides = fields.overrides;
  if (fields.compensate !== undefined) plan.compensate = fields.compensate;
  if (fields.model) plan.model = fields.model;
  if (fields.removeBlocks) plan.removeBlocks = fields.removeBlocks;
  return plan;
}
