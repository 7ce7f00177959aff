// Normalisation: per-channel affine normalisations (their parameters lose the removed channels),
// normalisations along one axis (fine unless that axis holds the channels), and the ones that mix
// channels or are not modelled (shape inference only: a channel space reaching them is frozen).
import type { OperatorTable } from './types.ts';

const same = { kind: 'same' } as const;
/** Softmax-like: opset 13 normalises along `axis` (default -1); before, the input was coerced to 2-D at `axis` (default 1). */
const softmax = { channel: { kind: 'alongAxis', defaultAxis: -1, coercedBefore: 13 }, shape: same } as const;

export const NORMALIZATION: OperatorTable = {
  BatchNormalization: { channel: { kind: 'perChannelParams', params: [1, 2, 3, 4], batchNorm: true }, shape: { kind: 'same', extra: 'channelStats' }, cost: 'batchNorm' },
  InstanceNormalization: { channel: { kind: 'perChannelParams', params: [1, 2] }, shape: same },
  Softmax: softmax,
  LogSoftmax: softmax,
  Hardmax: { shape: same },
  // Divides each vector along `axis` (default -1) by its L1 or L2 norm (F.normalize, l2_normalize).
  LpNormalization: { channel: { kind: 'alongAxis', defaultAxis: -1 }, shape: same },
  // LRN sums over neighbouring channels; the others normalise over the channel axis with other axes.
  LRN: { shape: same },
  LayerNormalization: { shape: same },
  GroupNormalization: { shape: same },
  MeanVarianceNormalization: { shape: same },
};
