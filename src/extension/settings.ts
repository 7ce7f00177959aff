// The extension's settings (contributes.configuration in package.json), read in one place.
import * as vscode from 'vscode';
import { DATA_LIMITS, DEFAULT_PLAN, RECOVER_MODES, viewPlanOf, type Criterion, type RecoverMode, type ViewPlan } from '../shared/protocol.ts';

export interface Settings {
  criterion: Criterion;
  ratio: number;
  scope: 'uniform' | 'global';
  roundTo: number;
  minChannels: number;
  compensate: boolean;
  validateAfterPrune: boolean;
  executionProvider: 'auto' | 'cuda' | 'cpu';
  outputName: string;
  /** Recovery after pruning when the view runs Prune (the engine's --recover). */
  recover: RecoverMode;
  /** Calibration inputs used at most (the first ones of the chosen data). */
  calibrationCount: number;
  /** Validation: timed runs per model and inputs per run. */
  validationRuns: number;
  validationBatch: number;
}

const bounded = (v: number, max: number, fallback: number) => (Number.isInteger(v) && v >= 1 && v <= max ? v : fallback);

export function readSettings(scope?: vscode.Uri): Settings {
  const c = vscode.workspace.getConfiguration('onnxPruner', scope);
  return {
    criterion: c.get<Criterion>('criterion', DEFAULT_PLAN.criterion),
    ratio: c.get<number>('ratio', DEFAULT_PLAN.ratio!),
    scope: c.get<'uniform' | 'global'>('scope', DEFAULT_PLAN.scope),
    roundTo: c.get<number>('roundTo', 1),
    minChannels: c.get<number>('minChannels', 1),
    compensate: c.get<boolean>('compensate', DEFAULT_PLAN.compensate!),
    validateAfterPrune: c.get<boolean>('validateAfterPrune', true),
    executionProvider: c.get<'auto' | 'cuda' | 'cpu'>('executionProvider', 'auto'),
    outputName: c.get<string>('outputName', '${name}.pruned.onnx'),
    recover: (RECOVER_MODES as readonly string[]).includes(c.get<string>('recover', 'auto')) ? c.get<RecoverMode>('recover', 'auto') : 'auto',
    calibrationCount: bounded(c.get<number>('calibrationCount', 512), DATA_LIMITS.calibCount, 512),
    validationRuns: bounded(c.get<number>('validationRuns', 20), DATA_LIMITS.runs, 20),
    validationBatch: bounded(c.get<number>('validationBatch', 8), DATA_LIMITS.batch, 8),
  };
}

/** The plan of the user's settings (the model view's default plan, the commands' defaults), with `overrides` applied. */
export function planFromSettings(s: Settings, overrides: Partial<ViewPlan> = {}): ViewPlan {
  return viewPlanOf({ criterion: s.criterion, ratio: s.ratio, scope: s.scope, roundTo: s.roundTo, minChannels: s.minChannels, compensate: s.compensate, ...overrides });
}
