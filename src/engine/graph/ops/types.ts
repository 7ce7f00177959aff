// The shape of an operator's entry in the registry (graph/operators.ts): every fact the engine
// knows about one ONNX operator type, as data. The registry sits in graph/, the lowest layer that
// needs it, so it cannot hold the functions of the layers above (the channel rules of analysis/,
// the constant propagation of prune/): it names them by a `kind` (with the parameters that kind
// takes), and each layer keeps one table from kind to code, which the compiler checks is complete
// (`{ [K in ChannelRule['kind']]: ... }`). A fact that is plain arithmetic on a value (an
// activation's function, a weight's output axis) is held here as a function of graph/ types.
// Adding an operator that behaves like one already known is one entry; a new kind of behaviour
// adds the kind here and its code in the layer that interprets it.
import type { NodeProto } from '../../onnx/proto.ts';
import type { Graph } from '../graph.ts';

/**
 * How the channel layout of the inputs becomes the layout of the outputs (analysis/rules.ts). An
 * operator without one is not modelled: a channel space reaching it is frozen, the reason naming it.
 */
export type ChannelRule =
  /** Element-wise unary: the channel index passes through unchanged. */
  | { kind: 'passThrough' }
  /** Element-wise with extra inputs that must be constants (Clip's min and max). */
  | { kind: 'constantInputs' }
  /** A constant slope broadcast per channel or per tensor (PRelu). */
  | { kind: 'slope' }
  /** Per-channel vector parameters at `params` along axis 1 (`batchNorm`: its γ also scores the group). */
  | { kind: 'perChannelParams'; params: readonly number[]; batchNorm?: boolean }
  | { kind: 'pool' }
  | { kind: 'globalPool' }
  | { kind: 'pad' }
  /** Resize (`upsample`: Upsample's scales attribute before opset 9, input from 9). */
  | { kind: 'resize'; upsample?: boolean }
  /** N-ary element-wise with numpy broadcasting (residual connections, gates). */
  | { kind: 'elementwise' }
  | { kind: 'conv'; transposed: boolean }
  | { kind: 'gemm' }
  | { kind: 'matmul' }
  | { kind: 'qlinearConv' }
  | { kind: 'qlinearMatmul' }
  | { kind: 'flatten' }
  | { kind: 'reshape' }
  | { kind: 'transpose' }
  | { kind: 'squeeze' }
  | { kind: 'unsqueeze' }
  /** Reduction over `axes` (an attribute before opset `axesInputSince`, an input from it). */
  | { kind: 'reduce'; axesInputSince: number }
  /**
   * Normalises along one axis (`axis` attribute, default `defaultAxis`): fine unless that is the channel axis.
   * `coercedBefore`: before that opset the input is coerced to 2-D at the axis (default 1), as Softmax did.
   */
  | { kind: 'alongAxis'; defaultAxis: number; coercedBefore?: number }
  | { kind: 'concat' }
  | { kind: 'split' }
  | { kind: 'slice' }
  | { kind: 'gather' }
  /** Reads only the shape of its input: constrains nothing. */
  | { kind: 'shapeOnly' }
  /** QuantizeLinear / DequantizeLinear of an activation. */
  | { kind: 'quantize' };

/** How static shape inference computes the outputs (graph/shapes.ts). Without one the operator is listed as not understood. */
export type ShapeRule =
  /**
   * The first output has the shape of the first input. `values`: 'keep' passes tracked values (Identity),
   * 'cast' converts them to the `to` type (Cast). `extra`: 'mask' (Dropout's boolean mask output),
   * 'channelStats' (BatchNormalization's training outputs, one value per channel).
   */
  | { kind: 'same'; values?: 'keep' | 'cast'; extra?: 'mask' | 'channelStats' }
  /** Numpy broadcasting of every input. `result`: 'bool' (comparisons), 'second' (Where: the type of input 1). `arithmetic`: tracked values computed. */
  | { kind: 'broadcast'; result?: 'bool' | 'second'; arithmetic?: Arithmetic }
  | { kind: 'conv' }
  | { kind: 'convTranspose' }
  | { kind: 'pool' }
  | { kind: 'globalPool' }
  | { kind: 'flatten' }
  | { kind: 'reshape' }
  | { kind: 'transpose' }
  | { kind: 'concat' }
  | { kind: 'split' }
  | { kind: 'slice' }
  | { kind: 'gather' }
  | { kind: 'shape' }
  | { kind: 'size' }
  | { kind: 'squeeze' }
  | { kind: 'unsqueeze' }
  | { kind: 'resize'; upsample?: boolean }
  | { kind: 'pad' }
  | { kind: 'gemm' }
  | { kind: 'matmul' }
  | { kind: 'reduce'; axesInputSince: number }
  | { kind: 'argReduce' }
  | { kind: 'expand' }
  | { kind: 'tile' }
  | { kind: 'constantOfShape' }
  | { kind: 'range' }
  | { kind: 'topK' }
  | { kind: 'nonMaxSuppression' }
  | { kind: 'nonZero' }
  /** DepthToSpace (`toSpace`) and SpaceToDepth. */
  | { kind: 'depthSpace'; toSpace: boolean };

export type Arithmetic = 'add' | 'sub' | 'mul' | 'div' | 'max' | 'min';

/**
 * MACs beyond the weighted layers (graph/cost.ts and the plan preview, ptflops' convention):
 * 'activation' one per output element, 'pool' one per input element, 'batchNorm' two per element
 * (and its scale and bias, inputs 1 and 2, are parameters). Without one: no MACs.
 */
export type CostRule = 'activation' | 'pool' | 'batchNorm';

/** A layer with a weight tensor: its MACs are counted and its output channels can be pruned. */
export interface WeightedFacts {
  /** The arithmetic: sliding window (conv), transposed window, matrix product with Gemm's attributes, plain matrix product. */
  kind: 'conv' | 'convTranspose' | 'gemm' | 'matmul';
  /** Input index of the weight. */
  weight: number;
  /** Input index of the bias, or -1 when it has none. */
  bias: number;
  /** Integer operator: 'integer' (ConvInteger, MatMulInteger: not scored), 'qlinear' (scored on the dequantised weight). */
  quantized?: 'integer' | 'qlinear';
  /** Axis of the weight holding the output channels. */
  outAxis(node: NodeProto): number;
  /**
   * How a weight of shape `dims` holds the layer's filters (scoring views them as a matrix, recovery
   * refits them), or undefined for a rank the layer's weight cannot have.
   */
  layout(node: NodeProto, dims: readonly number[]): WeightLayout | undefined;
  /** The factor the layer applies to its bias input (Gemm's β); 1 when absent. */
  biasScale?(node: NodeProto): number;
}

/**
 * How a weighted layer's weight holds its filters (one per output channel) and each filter's inputs.
 * With groups, one of the two axes holds one group's channels only: Conv's weight [C_out, C_in/g, k…]
 * (filter o reads the inputs of its group), ConvTranspose's [C_in, C_out/g, k…] (input rows of group
 * gi feed outputs gi·C_out/g … (gi+1)·C_out/g − 1).
 */
export interface WeightLayout {
  /** Axis of the filters: the output channels (of one group when `outChannels` is dims[outAxis] × groups). */
  outAxis: number;
  /** Axis of each filter's input channels (of one group when `inChannels` is dims[inAxis] × groups). */
  inAxis: number;
  /** The layer's group count (Conv and ConvTranspose `group`; 1 for the matrix products). */
  groups: number;
  /** Output channels of the layer. */
  outChannels: number;
  /** Input channels the layer reads. */
  inChannels: number;
}

/** An element-wise activation's value for one input value (compensation follows constants and distributions through it). */
export type ActivationFn = (x: number, node: NodeProto, graph: Graph) => number;

/** How a removed channel's constant (or its distribution) passes through the operator (prune/compensate.ts). Without one it stops there, and the report says so. */
export type ConstantRule =
  /**
   * Element-wise: the value is f(value); a distribution's mean and spread by integration, in closed form
   * when `clip` gives the bounds of an activation that is clip(x, lo, hi) (Relu, Clip).
   */
  | { kind: 'activation'; f: ActivationFn; clip?: (node: NodeProto, graph: Graph) => [number, number] }
  /** Moves values without changing them (identity, max pooling, resampling, reshaping): mean and spread pass. */
  | { kind: 'move' }
  /** Averages a uniform plane to itself; inexact at the borders when zero padding is counted. */
  | { kind: 'averagePool' }
  /** Keeps the values, adds borders (constant borders make it inexact). */
  | { kind: 'pad' }
  /** Joins channels: one constant input passes. */
  | { kind: 'concat' }
  /** A depthwise convolution maps a uniform plane to const · Σ W + b. */
  | { kind: 'depthwise' }
  /** Add / Sub / Mul / Div with another removed channel or a scalar or per-channel constant. */
  | { kind: 'arithmetic'; op: 'Add' | 'Sub' | 'Mul' | 'Div' }
  /** Quantises the activation: the constant is rounded, so it is not followed (QDQ models). */
  | { kind: 'quantize' };

/** Everything the engine knows about one operator type (default ONNX domain). */
export interface OperatorFacts {
  channel?: ChannelRule;
  shape?: ShapeRule;
  cost?: CostRule;
  weighted?: WeightedFacts;
  constant?: ConstantRule;
  /** An output channel passes unchanged between a layer and its BatchNormalization, so that BN's γ still scores the layer. */
  transparentToBn?: boolean;
}

/** One family's entries, by operator type. */
export type OperatorTable = Readonly<Record<string, OperatorFacts>>;
