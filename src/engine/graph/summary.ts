// What `inspect` shows about a model, as one JSON-serialisable object: file facts, inputs and
// outputs with their shapes, parameters and MACs, and one entry per weighted layer. The CLI
// prints it and the extension sends it to its view; later analyses add fields to it.
import * as path from 'node:path';
import { throwIfAborted } from '../errors.ts';
import type { OnnxModel } from '../onnx/model.ts';
import { DataType, toNumber, type ValueInfoProto } from '../onnx/proto.ts';
import { Graph } from './graph.ts';
import { type CostSummary, type LayerCost, computeCost } from './cost.ts';
import { type Dim, type ShapeInference, inferShapes, valueInfoShape } from './shapes.ts';

export interface TensorSummary {
  name: string;
  /** Element type in lower case, e.g. `float32`, `int64`. */
  elemType: string;
  /** Shape with symbolic names kept (`["N", 3, 224, 224]`). */
  shape: Dim[];
}

export interface ModelSummary {
  /** Absolute path of the model file, and its base name. */
  file: string;
  name: string;
  /** Bytes on disk, external data included. */
  sizeOnDisk: number;
  irVersion: number;
  /** Operator set per domain (`""` is written as `ai.onnx`). */
  opsets: Record<string, number>;
  producer: { name: string; version: string };
  inputs: TensorSummary[];
  outputs: TensorSummary[];
  /** Learnable parameters (weights, biases, BN scale and bias), as PyTorch counts them. */
  params: number;
  /** MACs at batch 1 (see cost.ts for the convention). */
  macs: number;
  /** MACs of the weighted layers only, and of BN/activations/pooling. */
  layerMacs: number;
  elementwiseMacs: number;
  /** True when a symbolic batch dimension was counted as 1 for `macs`. */
  batchAssumed: boolean;
  /** False when some layer's MACs are unknown (symbolic spatial dims, shapes not inferred): `macs` is a lower bound. */
  macsComplete: boolean;
  nodes: number;
  /** Node count per operator type. */
  opCounts: Record<string, number>;
  weightedLayers: number;
  bnCount: number;
  /** No BatchNormalization although there are convolutions: BN was folded at export. */
  bnFused: boolean;
  /** What to do about something found, for people (e.g. how to re-export with BN kept). */
  advice: string[];
  /** Limits of the figures (assumed batch, unknown shapes), for people. */
  notes: string[];
  /** Operator types shape inference does not know (their outputs' shapes are unknown). */
  unsupportedOps: string[];
  layers: LayerCost[];
}

export interface SummaryOptions {
  /** Values for symbolic input dimensions (e.g. `{ N: 8, height: 48 }`). */
  dims?: Record<string, number>;
  /** Whole shapes of inputs by name (sizes without a name too; see ShapeOptions). */
  inputShapes?: Record<string, number[]>;
  /** Shapes and cost already computed for these dims (an AnalysedModel's), so they are not computed twice. */
  shapes?: ShapeInference;
  cost?: CostSummary;
  signal?: AbortSignal;
}

export const BN_FUSED_ADVICE =
  'BatchNormalization was folded into the convolutions at export, so BN γ is not available to rank channels. ' +
  'Re-export from PyTorch with torch.onnx.export(..., training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False) to keep it.';

const TYPE_NAMES: Record<number, string> = Object.fromEntries(
  Object.entries(DataType).map(([k, v]) => [v, k === 'FLOAT' ? 'float32' : k === 'DOUBLE' ? 'float64' : k === 'FLOAT16' ? 'float16' : k.toLowerCase()]),
);

function tensorSummary(v: ValueInfoProto, inferred: Dim[] | undefined): TensorSummary {
  const et = v.type?.tensor_type?.elem_type ?? 0;
  return { name: v.name ?? '', elemType: TYPE_NAMES[et] ?? `type ${et}`, shape: inferred ?? valueInfoShape(v) ?? [] };
}

/** The summary of a loaded model (the graph index is built when not given). */
export function summarizeModel(model: OnnxModel, graph?: Graph, opts: SummaryOptions = {}): ModelSummary {
  throwIfAborted(opts.signal);
  const g = graph ?? new Graph(model);
  throwIfAborted(opts.signal);
  const shapes = opts.shapes ?? inferShapes(g, { dims: opts.dims, inputShapes: opts.inputShapes });
  throwIfAborted(opts.signal);
  const cost: CostSummary = opts.cost ?? computeCost(g, { dims: opts.dims, inputShapes: opts.inputShapes, shapes });
  throwIfAborted(opts.signal);

  const opCounts: Record<string, number> = {};
  for (const n of g.nodes) {
    const key = n.domain && n.domain !== 'ai.onnx' ? `${n.domain}.${n.op_type}` : (n.op_type ?? '?');
    opCounts[key] = (opCounts[key] ?? 0) + 1;
  }
  const bnCount = opCounts.BatchNormalization ?? 0;
  const convs = (opCounts.Conv ?? 0) + (opCounts.ConvTranspose ?? 0);
  const bnFused = bnCount === 0 && convs > 0;
  const opsets: Record<string, number> = {};
  for (const [domain, version] of g.opsets) opsets[domain === '' ? 'ai.onnx' : domain] = version;
  const p = model.proto;
  const notes = [...cost.notes];
  if (shapes.unknown.length) notes.push(`${shapes.unknown.length} tensor shape(s) could not be inferred.`);
  return {
    file: model.path,
    name: path.basename(model.path),
    sizeOnDisk: model.sizeOnDisk,
    irVersion: toNumber(p.ir_version),
    opsets,
    producer: { name: p.producer_name ?? '', version: p.producer_version ?? '' },
    inputs: g.inputs.map((v) => tensorSummary(v, shapes.shapes.get(v.name ?? ''))),
    outputs: g.outputs.map((v) => tensorSummary(v, shapes.shapes.get(v.name ?? ''))),
    params: cost.params,
    macs: cost.macs,
    layerMacs: cost.layerMacs,
    elementwiseMacs: cost.elementwiseMacs,
    batchAssumed: cost.symbolicBatch,
    macsComplete: cost.macsComplete,
    nodes: g.nodes.length,
    opCounts,
    weightedLayers: cost.layers.length,
    bnCount,
    bnFused,
    advice: bnFused ? [BN_FUSED_ADVICE] : [],
    notes,
    unsupportedOps: shapes.unsupportedOps,
    layers: cost.layers,
  };
}
