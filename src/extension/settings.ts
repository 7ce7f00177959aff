// The extension's settings (contributes.configuration in package.json), read in one place.
import * as vscode from 'vscode';
import { DEFAULT_PLAN, viewPlanOf, type Criterion, type ViewPlan } from '../shared/protocol.ts';

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
}

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
  };
}

/** The plan of the user's settings (the model view's default plan, the commands' defaults), with `overrides` applied. */
export function planFromSettings(s: Settings, overrides: Partial<ViewPlan> = {}): ViewPlan {
  return viewPlanOf({ criterion: s.criterion, ratio: s.ratio, scope: s.scope, roundTo: s.roundTo, minChannels: s.minChannels, compensate: s.compensate, ...overrides });
}
