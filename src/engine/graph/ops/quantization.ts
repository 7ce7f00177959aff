// Quantisation of activations (QDQ): the channel index passes through; per-channel scales lose
// the removed channels. A removed channel's constant is not followed through a QuantizeLinear
// (the rounding makes any fold inexact). The quantised layers are in weighted.ts.
import type { OperatorTable } from './types.ts';

export const QUANTIZATION: OperatorTable = {
  QuantizeLinear: { channel: { kind: 'quantize' }, shape: { kind: 'same' }, constant: { kind: 'quantize' } },
  DequantizeLinear: { channel: { kind: 'quantize' }, shape: { kind: 'same' } },
};
