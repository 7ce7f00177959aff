// The operator registry: every fact the engine knows about an ONNX operator type, found in one
// entry — its channel rule (analysis/rules.ts), its shape rule (graph/shapes.ts), its cost
// (graph/cost.ts and the plan preview), where a weighted layer's weight and bias are and which
// axis surgery slices (prune/surgery.ts, recovery), how a removed channel's constant passes
// through it (prune/compensate.ts), and whether a BatchNormalization after it still scores the
// layer before it (analysis/importance.ts). The entries live in graph/ops/, one file per family
// (activations, elementwise, normalization, pooling, weighted, reshaping, reduction, quantization);
// graph/ops/types.ts says what an entry holds.
//
// Why here: graph/ is the lowest layer any consumer sits in, and graph/ must not import
// analysis/ or prune/ (they build on it). So an entry holds data and kinds, and plain arithmetic
// on graph/ types; each higher layer keeps one table from a kind to its code, typed so that the
// compiler rejects a kind without code. Every consumer asks the registry, none keeps its own list
// of operator names. An operator absent from the registry (or from another domain) is unknown to
// the engine: shape inference lists it, the analysis freezes any channel space reaching it with
// a reason naming the node, and it has no cost.
//
// Adding an operator: one entry in its family with the kinds it shares with a known operator,
// and its tests (a model built with it, pruned, run in ONNX Runtime).
import type { NodeProto } from '../onnx/proto.ts';
import { ACTIVATIONS } from './ops/activations.ts';
import { ELEMENTWISE } from './ops/elementwise.ts';
import { NORMALIZATION } from './ops/normalization.ts';
import { POOLING } from './ops/pooling.ts';
import { QUANTIZATION } from './ops/quantization.ts';
import { REDUCTION } from './ops/reduction.ts';
import { RESHAPING } from './ops/reshaping.ts';
import type { OperatorFacts, OperatorTable, WeightedFacts, WeightLayout } from './ops/types.ts';
import { WEIGHTED } from './ops/weighted.ts';

export type { ActivationFn, ChannelRule, ConstantRule, CostRule, OperatorFacts, ShapeRule, WeightedFacts, WeightLayout } from './ops/types.ts';

function merge(tables: readonly OperatorTable[]): ReadonlyMap<string, OperatorFacts> {
  const all = new Map<string, OperatorFacts>();
  for (const t of tables) {
    for (const [op, facts] of Object.entries(t)) {
      if (all.has(op)) throw new Error(`operator ${op} has two entries in the registry`);
      all.set(op, facts);
    }
  }
  return all;
}

/** Every known operator of the default ONNX domain, by type. */
export const OPERATORS: ReadonlyMap<string, OperatorFacts> = merge([ACTIVATIONS, ELEMENTWISE, NORMALIZATION, POOLING, WEIGHTED, RESHAPING, REDUCTION, QUANTIZATION]);

/** The facts of an operator type, or undefined when the engine does not know it. */
export function operatorFacts(op: string | null | undefined): OperatorFacts | undefined {
  return op ? OPERATORS.get(op) : undefined;
}

/** The facts of a node's operator: undefined for an unknown type or another domain than ONNX's default. */
export function nodeFacts(node: NodeProto): OperatorFacts | undefined {
  const domain = node.domain ?? '';
  if (domain !== '' && domain !== 'ai.onnx') return undefined;
  return operatorFacts(node.op_type);
}

/** The weighted-layer facts of an operator type, or undefined when it carries no weight. */
export function weightedFacts(op: string | null | undefined): WeightedFacts | undefined {
  return operatorFacts(op)?.weighted;
}

/** True for a float weighted layer (Conv, ConvTranspose, Gemm, MatMul): the ones whose weights the criteria score as stored. */
export function isFloatWeighted(op: string | null | undefined): boolean {
  const w = weightedFacts(op);
  return !!w && !w.quantized;
}

/** True for a float convolution (Conv, ConvTranspose): the layers a BatchNormalization follows, or was folded into. */
export function isFloatConv(op: string | null | undefined): boolean {
  const w = weightedFacts(op);
  return !!w && !w.quantized && (w.kind === 'conv' || w.kind === 'convTranspose');
}

/** True for a BatchNormalization: the operator whose γ scores the channels of the layer before it (its channel rule says `batchNorm`). */
export function isBatchNorm(op: string | null | undefined): boolean {
  const c = operatorFacts(op)?.channel;
  return c?.kind === 'perChannelParams' && c.batchNorm === true;
}

/** Index of the weight input of a weighted operator (1 unless the registry says otherwise). */
export function weightInputIndex(op: string): number {
  return weightedFacts(op)?.weight ?? 1;
}

/** Index of the bias input of a weighted operator, or -1 when it has none. */
export function biasInputIndex(op: string): number {
  return weightedFacts(op)?.bias ?? -1;
}

/** Axis of a weighted layer's weight that holds its output channels (0 for an operator without weighted facts). */
export function weightOutAxis(node: NodeProto): number {
  return weightedFacts(node.op_type)?.outAxis(node) ?? 0;
}

/** How a weighted layer's weight of shape `dims` holds its filters: undefined for an operator without a weight, or a rank its weight cannot have. */
export function weightLayout(node: NodeProto, dims: readonly number[]): WeightLayout | undefined {
  return weightedFacts(node.op_type)?.layout(node, dims);
}

/** The factor a weighted layer applies to its bias input (Gemm's β); 1 for the others. */
export function biasScale(node: NodeProto): number {
  return weightedFacts(node.op_type)?.biasScale?.(node) ?? 1;
}
