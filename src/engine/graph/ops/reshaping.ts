// Reshaping, joining, indexing and shape arithmetic: how the channel axis moves (or is frozen
// when it is moved or mixed), and the operators shape inference follows to compute shapes and the
// small integer tensors (Shape → Gather → Concat → Reshape) that PyTorch exports.
import type { OperatorTable } from './types.ts';

const move = { kind: 'move' } as const;

export const RESHAPING: OperatorTable = {
  Flatten: { channel: { kind: 'flatten' }, shape: { kind: 'flatten' }, constant: move },
  Reshape: { channel: { kind: 'reshape' }, shape: { kind: 'reshape' }, constant: move },
  Transpose: { channel: { kind: 'transpose' }, shape: { kind: 'transpose' } },
  Squeeze: { channel: { kind: 'squeeze' }, shape: { kind: 'squeeze' }, constant: move },
  Unsqueeze: { channel: { kind: 'unsqueeze' }, shape: { kind: 'unsqueeze' }, constant: move },
  Concat: { channel: { kind: 'concat' }, shape: { kind: 'concat' }, constant: { kind: 'concat' } },
  Split: { channel: { kind: 'split' }, shape: { kind: 'split' } },
  Slice: { channel: { kind: 'slice' }, shape: { kind: 'slice' } },
  Gather: { channel: { kind: 'gather' }, shape: { kind: 'gather' } },
  Pad: { channel: { kind: 'pad' }, shape: { kind: 'pad' }, constant: { kind: 'pad' } },
  Resize: { channel: { kind: 'resize' }, shape: { kind: 'resize' }, constant: move },
  Upsample: { channel: { kind: 'resize', upsample: true }, shape: { kind: 'resize', upsample: true }, constant: move },
  Shape: { channel: { kind: 'shapeOnly' }, shape: { kind: 'shape' } },
  Size: { channel: { kind: 'shapeOnly' }, shape: { kind: 'size' } },
  // Shape inference only:
  Expand: { shape: { kind: 'expand' } },
  Tile: { shape: { kind: 'tile' } },
  ConstantOfShape: { shape: { kind: 'constantOfShape' } },
  Range: { shape: { kind: 'range' } },
  TopK: { shape: { kind: 'topK' } },
  NonMaxSuppression: { shape: { kind: 'nonMaxSuppression' } },
  NonZero: { shape: { kind: 'nonZero' } },
  DepthToSpace: { shape: { kind: 'depthSpace', toSpace: true } },
  SpaceToDepth: { shape: { kind: 'depthSpace', toSpace: false } },
};
