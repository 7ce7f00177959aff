// The extension's settings (contributes.configuration in package.json), read in one place.
import * as vscode from 'vscode';
import type { Criterion, ViewPlan } from '../shared/protocol.ts';

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
    criterion: c.get<Criterion>('criterion', 'bn-gamma'),
    ratio: c.get<number>('ratio', 0.5),
    scope: c.get<'uniform' | 'global'>('scope', 'uniform'),
    roundTo: c.get<number>('roundTo', 1),
    minChannels: c.get<number>('minChannels', 1),
    compensate: c.get<boolean>('compensate', true),
    validateAfterPrune: c.get<boolean>('validateAfterPrune', true),
    executionProvider: c.get<'auto' | 'cuda' | 'cpu'>('executionProvider', 'auto'),
    outputName: c.get<string>('outputName', '${name}.pruned.onnx'),
  };
}

export function planFromSettings(s: Settings, overrides: Partial<ViewPlan> = {}): ViewPlan {
  return {
    criterion: s.criterion,
    ratio: s.ratio,
    scope: s.scope,
    roundTo: s.roundTo > 1 ? s.roundTo : undefined,
    minChannels: s.minChannels > 1 ? s.minChannels : undefined,
    compensate: s.compensate,
    ...overrides,
  };
}
