// The cost model: parameters and multiply-accumulates (MACs) of a model, per weighted layer and in total.
//
// Parameters are the learnable tensors as a framework counts them: weights and biases of
// Conv/ConvTranspose/Gemm/MatMul, and the scale and bias of BatchNormalization (not its running
// mean and variance). A weight or bias dequantised from an integer constant (QDQ models) counts
// its integer tensor's elements; quantisation scales and zero points are not parameters. A tensor shared by several nodes (squeezenet's zero biases, shared through
// Identity nodes) is counted once. For a PyTorch export this equals `sum(p.numel() for p in
// model.parameters())`.
//
// MACs follow the convention of ptflops / Torch-Pruning's op counter, so figures compare with
// what those tools print: resnet18 1,822,177,768 exactly; mobilenet_v2 0.02% above, because
// torchvision calls its final average pool as a function there, which the counter cannot see.
//   - Conv:          N·C_out·∏(out spatial) · (C_in/group)·∏(kernel), plus one per output element for the bias;
//   - ConvTranspose: N·C_in·∏(in spatial) · (C_out/group)·∏(kernel), plus the bias per output element
//                    (ptflops counts that bias per *input* position; transposed convs are rare in the CNNs pruned here);
//   - Gemm / MatMul: N·in·out (product of the output dims times the reduced dim), plus the bias per output;
//   - BatchNormalization: 2 per element (scale and shift); ReLU-like activations (Relu, Clip, LeakyRelu,
//     PRelu, HardSwish, ...) 1 per output element; MaxPool/AveragePool/Global*Pool: 1 per *input* element;
//   - Add/Mul/Concat/reshaping and everything else: 0 (ptflops does not count functional ops either).
// Which operators are weighted layers (and where their weight and bias are) and which get an
// activation, normalisation or pooling term is each operator's entry in the registry
// (graph/operators.ts: `weighted`, `cost`); the formulas above are here.
// `LayerCost.macs` is the layer's own multiply-adds (weights and bias); `macs` in the summary adds the
// activation, normalisation and pooling terms (`elementwiseMacs`).
import type { NodeProto } from '../onnx/proto.ts';
import { tensorDims } from '../onnx/model.ts';
import { type Graph, attrInt } from './graph.ts';
import { isBatchNorm, nodeFacts, weightedFacts } from './operators.ts';
import { type Dim, type InputShapes, type ShapeInference, inferShapes, inputShapeMismatch, valueInfoShape } from './shapes.ts';
import { storedTensor } from './quant.ts';

export interface LayerCost {
  /** Node name (unnamed nodes get `<op>_<index>`). */
  name: string;
  op: string;
  /** Shape of the weight tensor as stored. */
  weightShape: number[];
  group: number;
  /** Input and output activation shapes; symbolic names (the batch) kept. */
  inputShape: Dim[];
  outputShape: Dim[];
  /** Weight + bias elements of this layer (shared tensors are counted at their first use only). */
  params: number;
  /** Multiply-accumulates of this layer at batch 1 (bias adds included, see the module comment). */
  macs: number;
  /** The BatchNormalization node that directly consumes this layer's output, if any. */
  bn?: string;
}

export interface CostOptions {
  /** Values for symbolic input dimensions; by default a symbolic batch (first) dimension counts as 1. */
  dims?: Record<string, number>;
  /** Whole shapes of graph inputs by name (sizes for unnamed dynamic dims too; see ShapeOptions). */
  inputShapes?: InputShapes;
  /** Shape inference already run with the same options (reused instead of running again). */
  shapes?: ShapeInference;
}

export interface CostSummary {
  /** Learnable parameters (weights, biases, BN scale and bias), each distinct tensor once. */
  params: number;
  /** Total MACs at batch 1: weighted layers plus the elementwise terms. */
  macs: number;
  /** MACs of the weighted layers only. */
  layerMacs: number;
  /** MACs of BatchNormalization, activations and pooling (ptflops convention). */
  elementwiseMacs: number;
  layers: LayerCost[];
  /** True when a symbolic batch dimension was counted as 1. */
  symbolicBatch: boolean;
  /** False when some layer's MACs could not be computed (counted as 0; see `notes`). */
  macsComplete: boolean;
  /** How many layers' MACs could not be computed. */
  unknownMacLayers: number;
  /** Anything the figures could not take into account, for people. */
  notes: string[];
}

/** Product of the dims, symbolic dims counting as 1 (callers bind the batch before). */
function prod(shape: readonly Dim[]): number {
  let n = 1;
  for (const d of shape) if (typeof d === 'number') n *= d;
  return n;
}

function isNumeric(shape: readonly Dim[] | undefined): shape is number[] {
  return !!shape && shape.every((d) => typeof d === 'number');
}

/** Symbolic first dims of the graph inputs, bound to 1 unless `dims` says otherwise. */
export function batchBinding(graph: Graph, dims: Record<string, number> = {}, inputShapes: InputShapes = {}): { dims: Record<string, number>; symbolicBatch: boolean } {
  const out = { ...dims };
  let symbolicBatch = false;
  for (const inp of graph.inputs) {
    const declared = valueInfoShape(inp);
    const given = Object.hasOwn(inputShapes, inp.name ?? '') ? inputShapes[inp.name ?? ''] : undefined;
    // an input given a whole shape that fits has its batch too
    if (declared && given && !inputShapeMismatch(inp.name ?? '', declared, given)) {
      if (typeof declared[0] === 'string' && declared[0] !== '?') out[declared[0]] ??= given[0]!;
      continue;
    }
    const first = declared?.[0];
    if (typeof first === 'string' && !(first in out)) {
      out[first] = 1;
      symbolicBatch = true;
    }
  }
  return { dims: out, symbolicBatch };
}

/**
 * Parameters and MACs of the model. Shapes for display keep the symbolic batch; the MACs are
 * computed on shapes with the batch bound to 1 (or `opts.dims`).
 */
export function computeCost(graph: Graph, opts: CostOptions = {}): CostSummary {
  const notes: string[] = [];
  const display = opts.shapes ?? inferShapes(graph, { dims: opts.dims, inputShapes: opts.inputShapes });
  const bound = batchBinding(graph, opts.dims, opts.inputShapes);
  const numeric = bound.symbolicBatch ? inferShapes(graph, { dims: bound.dims, inputShapes: opts.inputShapes }) : display;
  if (bound.symbolicBatch) notes.push('MACs are for batch 1: the symbolic batch dimension was counted as 1.');

  const counted = new Set<string>();
  /**
   * Elements of a constant not counted yet. The key is the value name the node reads: one name
   * read by two nodes is one tied parameter, but each Identity in front of a deduplicated
   * initializer stands for a parameter of its own (PyTorch's exporter merges equal tensors,
   * such as squeezenet's zero biases, behind Identity nodes; PyTorch counts each of them).
   */
  const take = (value: string | undefined): number => {
    if (!value || counted.has(value)) return 0;
    const t = storedTensor(graph, value);
    if (!t) return 0;
    counted.add(value);
    return tensorDims(t).reduce((a, b) => a * b, 1);
  };

  const layers: LayerCost[] = [];
  let params = 0;
  let layerMacs = 0;
  let elementwiseMacs = 0;
  let unknownMacs = 0;
  for (const node of graph.order) {
    const facts = nodeFacts(node);
    if (!facts) continue;
    if (facts.weighted) {
      const layer = weightedLayer(graph, node, display, numeric, take);
      if (!layer) continue;
      if (Number.isNaN(layer.macs)) {
        unknownMacs++;
        layer.macs = 0;
      }
      layers.push(layer);
      params += layer.params;
      layerMacs += layer.macs;
    } else if (facts.cost === 'batchNorm') {
      params += take(node.input[1]) + take(node.input[2]);
      const s = numeric.shapes.get(node.output[0]);
      if (isNumeric(s)) elementwiseMacs += 2 * prod(s);
    } else if (facts.cost === 'activation') {
      const s = numeric.shapes.get(node.output[0]);
      if (isNumeric(s)) elementwiseMacs += prod(s);
    } else if (facts.cost === 'pool') {
      const s = numeric.shapes.get(node.input[0]);
      if (isNumeric(s)) elementwiseMacs += prod(s);
    }
  }
  if (unknownMacs) notes.push(`MACs of ${unknownMacs} layer(s) are unknown (their shapes depend on symbolic dimensions or could not be inferred) and counted as 0; give the symbolic input dimensions values to count them.`);
  if (numeric.unsupportedOps.length) notes.push(`Operators not understood by shape inference: ${numeric.unsupportedOps.join(', ')}.`);
  return { params, macs: layerMacs + elementwiseMacs, layerMacs, elementwiseMacs, layers, symbolicBatch: bound.symbolicBatch, macsComplete: unknownMacs === 0, unknownMacLayers: unknownMacs, notes };
}

/** Cost of one weighted node, or undefined when its weight is not a constant (activation × activation MatMul). */
function weightedLayer(graph: Graph, node: NodeProto, display: ShapeInference, numeric: ShapeInference, take: (v: string | undefined) => number): LayerCost | undefined {
  const op = node.op_type ?? '';
  const facts = weightedFacts(op)!;
  let wIdx = facts.weight;
  let w = storedTensor(graph, node.input[wIdx]);
  let xIdx = 0;
  if (!w && !facts.quantized && (facts.kind === 'matmul' || facts.kind === 'gemm')) {
    // a constant on the left: y = W·x
    w = storedTensor(graph, node.input[0]);
    if (w) [wIdx, xIdx] = [0, 1];
  }
  if (!w) return undefined;
  const weightShape = tensorDims(w);
  const group = facts.kind === 'conv' || facts.kind === 'convTranspose' ? attrInt(node, 'group', 1) : 1;
  const x = node.input[xIdx] ?? '';
  const y = node.output[0] ?? '';
  const inputShape = display.shapes.get(x) ?? [];
  const outputShape = display.shapes.get(y) ?? [];
  const inN = numeric.shapes.get(x);
  const outN = numeric.shapes.get(y);
  const bIdx = facts.bias;
  const hasBias = bIdx >= 0 && !!node.input[bIdx];
  const params = take(node.input[wIdx]) + (hasBias ? take(node.input[bIdx]) : 0);

  let macs = NaN;
  const perWeight = weightShape.reduce((a, b) => a * b, 1);
  if (facts.kind === 'convTranspose') {
    // every input element is multiplied by (C_out/group)·∏k weights
    if (isNumeric(inN)) macs = prod(inN) * (perWeight / (weightShape[0] || 1));
  } else if (facts.kind === 'conv') {
    if (isNumeric(outN)) macs = prod(outN) * (perWeight / (weightShape[0] || 1));
  } else if (isNumeric(outN)) {
    // Gemm / MatMul: every output element reduces over the shared dimension
    let reduced: number;
    if (facts.kind === 'gemm' && wIdx === 1) reduced = attrInt(node, 'transB', 0) ? weightShape[1] : weightShape[0];
    else if (facts.kind === 'gemm') reduced = attrInt(node, 'transA', 0) ? weightShape[0] : weightShape[1];
    else if (wIdx === 0) reduced = weightShape[weightShape.length - 1];
    else reduced = weightShape.length === 1 ? weightShape[0] : weightShape[weightShape.length - 2];
    macs = prod(outN) * reduced;
  }
  if (hasBias && isNumeric(outN)) macs += prod(outN);

  const layer: LayerCost = { name: node.name ?? '', op, weightShape, group, inputShape, outputShape, params, macs };
  const next = graph.consumersOf(y);
  if (next.length === 1 && isBatchNorm(next[0].op_type)) layer.bn = next[0].name;
  return layer;
}
