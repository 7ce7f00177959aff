// Pooling: per channel (channel i stays at i), counted by ptflops as one MAC per input element.
// Max pooling and global pooling of a uniform plane return it (compensation passes the value);
// average pooling does too, except where zero padding is counted at the borders.
import type { OperatorFacts, OperatorTable } from './types.ts';

const windowed = (more: OperatorFacts = {}): OperatorFacts => ({ channel: { kind: 'pool' }, shape: { kind: 'pool' }, cost: 'pool', ...more });
const global = (more: OperatorFacts = {}): OperatorFacts => ({ channel: { kind: 'globalPool' }, shape: { kind: 'globalPool' }, cost: 'pool', ...more });

export const POOLING: OperatorTable = {
  MaxPool: windowed({ constant: { kind: 'move' } }),
  AveragePool: windowed({ constant: { kind: 'averagePool' } }),
  LpPool: windowed(),
  GlobalAveragePool: global({ constant: { kind: 'move' } }),
  GlobalMaxPool: global({ constant: { kind: 'move' } }),
  GlobalLpPool: global(),
};
