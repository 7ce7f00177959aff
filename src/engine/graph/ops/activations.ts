// Activations: element-wise, the channel index passes through. Each says whether ptflops counts it
// (cost 'activation': one MAC per output element), the function compensation follows a removed
// channel's constant or distribution through, and whether the BatchNormalization after it still
// scores the layer before it.
import { attrFloat, type Graph } from '../graph.ts';
import type { NodeProto } from '../../onnx/proto.ts';
import type { OperatorFacts, OperatorTable } from './types.ts';

/** The bounds of a Clip node (±Infinity where absent; NaN where not a constant). */
export function clipBounds(n: NodeProto, g: Graph): [number, number] {
  if (g.opset() < 11) return [attrFloat(n, 'min', -Infinity), attrFloat(n, 'max', Infinity)];
  return [n.input[1] ? (g.constantFloats(n.input[1])?.[0] ?? NaN) : -Infinity, n.input[2] ? (g.constantFloats(n.input[2])?.[0] ?? NaN) : Infinity];
}

/** Abramowitz-Stegun 7.1.26 (|error| < 1.5e-7). */
function erf(x: number): number {
  const s = Math.sign(x);
  const a = Math.abs(x);
  const t = 1 / (1 + 0.3275911 * a);
  const y = 1 - ((((1.061405429 * t - 1.453152027) * t + 1.421413741) * t - 0.284496736) * t + 0.254829592) * t * Math.exp(-a * a);
  return s * y;
}

const same = { kind: 'same' } as const;
const passThrough = { kind: 'passThrough' } as const;

/** A channel-preserving activation; `f` when compensation follows values through it. */
function activation(f?: (x: number, n: NodeProto, g: Graph) => number, more: OperatorFacts = {}): OperatorFacts {
  return { channel: passThrough, shape: same, cost: 'activation', ...(f ? { constant: { kind: 'activation', f } } : {}), ...more };
}

export const ACTIVATIONS: OperatorTable = {
  Relu: activation(undefined, { constant: { kind: 'activation', f: (x) => Math.max(x, 0), clip: () => [0, Infinity] }, transparentToBn: true }),
  Clip: activation(undefined, {
    channel: { kind: 'constantInputs' },
    constant: {
      kind: 'activation',
      f: (x, n, g) => {
        const [lo, hi] = clipBounds(n, g);
        return Math.min(hi, Math.max(lo, x));
      },
      clip: clipBounds,
    },
    transparentToBn: true,
  }),
  LeakyRelu: activation((x, n) => (x >= 0 ? x : attrFloat(n, 'alpha', 0.01) * x), { transparentToBn: true }),
  PRelu: activation(undefined, { channel: { kind: 'slope' }, transparentToBn: true }),
  Sigmoid: activation((x) => 1 / (1 + Math.exp(-x)), { transparentToBn: true }),
  HardSigmoid: activation((x, n) => Math.min(1, Math.max(0, attrFloat(n, 'alpha', 0.2) * x + attrFloat(n, 'beta', 0.5)))),
  HardSwish: activation((x) => x * Math.min(1, Math.max(0, x / 6 + 0.5)), { transparentToBn: true }),
  Tanh: activation((x) => Math.tanh(x), { transparentToBn: true }),
  Elu: activation((x, n) => (x >= 0 ? x : attrFloat(n, 'alpha', 1) * (Math.exp(x) - 1)), { transparentToBn: true }),
  Selu: activation((x, n) => attrFloat(n, 'gamma', 1.0507009873554805) * (x > 0 ? x : attrFloat(n, 'alpha', 1.6732632423543772) * (Math.exp(x) - 1)), { transparentToBn: true }),
  Celu: activation(),
  Softplus: activation((x) => Math.log1p(Math.exp(x))),
  Mish: activation((x) => x * Math.tanh(Math.log1p(Math.exp(x)))),
  Gelu: activation((x) => 0.5 * x * (1 + erf(x / Math.SQRT2))),
  // Not counted by ptflops, and not followed by compensation:
  Softsign: { channel: passThrough, shape: same },
  ThresholdedRelu: { channel: passThrough, shape: same },
  Shrink: { channel: passThrough, shape: same },
};
