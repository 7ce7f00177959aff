// Reductions: fine while they leave the channel axis alone. Their axes are an attribute before
// the opset given, an input from it (ReduceSum moved at 13, the others at 18).
import type { OperatorFacts, OperatorTable } from './types.ts';

const reduce = (axesInputSince: number, modelled = true): OperatorFacts => ({
  ...(modelled ? { channel: { kind: 'reduce', axesInputSince } } : {}),
  shape: { kind: 'reduce', axesInputSince },
});

export const REDUCTION: OperatorTable = {
  ReduceMean: reduce(18),
  ReduceMax: reduce(18),
  ReduceMin: reduce(18),
  ReduceSum: reduce(13),
  ReduceL1: reduce(18),
  ReduceL2: reduce(18),
  ReduceSumSquare: reduce(18),
  ReduceLogSumExp: reduce(18),
  ReduceProd: reduce(18),
  ReduceLogSum: reduce(18, false),
  ArgMax: { shape: { kind: 'argReduce' } },
  ArgMin: { shape: { kind: 'argReduce' } },
};
