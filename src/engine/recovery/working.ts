// The model recovery works on, and the runs it makes through ONNX Runtime.
//
// `WorkingModel` is a private, editable copy of a model's structure (its own node and initializer
// lists; tensor bytes are shared with the source and never written): recovery replaces weights,
// biases and BatchNormalization statistics in it, layer by layer, and runs it again.
//
// Statistics come from ONNX Runtime, never from a JavaScript forward pass: `probeModel` turns the
// working model into a model whose outputs are the intermediate tensors a method needs (a layer's
// input, a BN's input, a layer's output), keeping only the nodes those tensors depend on (a probe of
// early layers runs a fraction of the network). `streamProbe` feeds the calibration inputs through it
// batch by batch and hands each batch's tensors to a callback that folds them into statistics, so
// memory depends on the batch, not on the number of inputs. Nothing is written to disk: the probe
// is built and run in memory, and cancelling simply stops between batches.
import * as os from 'node:os';
import { PrunerError, throwIfAborted } from '../errors.ts';
import { Graph } from '../graph/graph.ts';
import { floatType, segmentModel, type SampledOutput } from '../graph/segment.ts';
import { floatTensor } from '../onnx/tensors.ts';
import { tensorDims, tensorToFloat32, type OnnxModel } from '../onnx/model.ts';
import type { ModelProto, NodeProto } from '../onnx/proto.ts';
import { createSession, shortenError, type OrtModule } from '../runtime/session.ts';
import type { ExecutionProvider, ExecutionProviderChoice } from '../runtime/types.ts';
import type { InputSet } from '../data/types.ts';

/** An editable copy of a model's structure; see the file comment. */
export class WorkingModel {
  readonly proto: ModelProto;
  readonly model: OnnxModel;
  graph: Graph;
  private readonly unnamed: Set<NodeProto>;
  private fresh = 0;

  constructor(base: OnnxModel, proto: ModelProto) {
    const g = proto.graph!;
    const node = g.node.map((n) => ({ ...n, input: [...n.input], output: [...n.output] }));
    this.proto = { ...proto, graph: { ...g, node, initializer: [...g.initializer] } };
    this.model = { ...base, proto: this.proto };
    this.graph = new Graph(this.model);
    this.unnamed = new Set(this.graph.synthesizedNames);
  }

  node(name: string): NodeProto | undefined {
    return this.graph.byName.get(name);
  }

  /** A constant input's values as float32 (a copy or a read-only view). */
  floats(value: string): Float32Array | undefined {
    const t = this.graph.constantTensor(value);
    return t ? tensorToFloat32(this.model, t) : undefined;
  }

  /** Element type of a node input's constant, or undefined when it is not a constant. */
  constantType(node: NodeProto, inputIndex: number): number | undefined {
    const v = node.input[inputIndex];
    return v ? this.graph.constantTensor(v)?.data_type : undefined;
  }

  /**
   * Sets input `inputIndex` of `node` to a new float constant. The tensor is replaced in place when
   * this slot is its only use; otherwise (shared, behind an Identity, a Constant node, or absent) a new
   * initializer is added and the slot points to it, so other users keep their values.
   */
  setConstant(node: NodeProto, inputIndex: number, dims: number[], values: ArrayLike<number>): void {
    const old = node.input[inputIndex];
    const t = floatTensor('', dims, values);
    const g = this.proto.graph!;
    if (old && this.graph.initializers.has(old) && this.uses(old) === 1) {
      t.name = old;
      const i = g.initializer.findIndex((x) => x.name === old);
      g.initializer[i] = t;
      this.graph.initializers.set(old, t);
      return;
    }
    const name = this.freshName(`${node.name ?? 'node'}_${inputIndex}__recovered`);
    t.name = name;
    g.initializer.push(t);
    this.graph.initializers.set(name, t);
    while (node.input.length <= inputIndex) node.input.push('');
    node.input[inputIndex] = name;
    this.graph.consumers.set(name, [node]);
  }

  private uses(value: string): number {
    let n = 0;
    for (const c of this.graph.consumersOf(value)) for (const i of c.input) if (i === value) n++;
    return n + (this.graph.outputNames.has(value) ? 1 : 0);
  }

  private freshName(base: string): string {
    for (;;) {
      const n = `${base}${this.fresh++ ? `_${this.fresh}` : ''}`;
      if (!this.graph.initializers.has(n) && !this.graph.producer.has(n)) return n;
    }
  }

  /** The edited model to save: nodes that had no name in the file go out unnamed again. */
  result(): ModelProto {
    const g = this.proto.graph!;
    const node = g.node.map((n) => {
      if (!this.unnamed.has(n)) return n;
      const copy: NodeProto = { ...n };
      delete copy.name;
      return copy;
    });
    return { ...this.proto, graph: { ...g, node } };
  }
}


/**
 * The bytes of a model whose outputs are `values` (intermediate tensors of `w`), with only the nodes
 * they depend on and the initializers those use (external data read inline). With `from` (value →
 * dims of one sample), those values are the model's inputs instead of being computed: a segment of
 * the network that starts at tensors already computed (the model's own input is kept only when a
 * node of the segment reads it). Values in `sampled` are returned at fed positions only
 * (segmentModel's sampled outputs).
 */
export function probeModel(
  w: { model: OnnxModel; graph: Graph; proto: ModelProto },
  values: readonly string[],
  from?: ReadonlyMap<string, readonly number[]>,
  sampled?: ReadonlyMap<string, SampledOutput>,
): Uint8Array {
  const cut = new Map([...(from ?? [])].map(([v, dims]) => [v, floatType(dims)] as const));
  return segmentModel(w.model, w.graph, w.proto, values, cut, from ? 'used' : 'all', sampled).bytes;
}

export interface ProbeRunOptions {
  ep?: ExecutionProviderChoice;
  threads?: number;
  /** Samples per ONNX Runtime run (default: chosen from the input size). */
  batchSize?: number;
  signal?: AbortSignal;
  ort?: OrtModule;
  /** Called after each batch with the share of the set done. */
  onBatch?: (fraction: number) => void;
  /**
   * Whole tensors ([N, ...], every calibration input) fed to the probe's inputs of the same name
   * (a segment model, see `probeModel`'s `from`); the calibration inputs are read only when the
   * probe still has the model's own input.
   */
  cut?: ReadonlyMap<string, BatchedTensor>;
  /** More int32 inputs per batch (the positions of sampled outputs, see `probeModel`), by input name. */
  feeds?: (offset: number, count: number) => ReadonlyMap<string, { data: Int32Array; dims: number[] }>;
}

/** Batches of sample indices without data (a segment that does not read the model's input). */
async function* offsets(count: number, batch: number): AsyncGenerator<{ data?: Float32Array; offset: number; count: number }> {
  for (let offset = 0; offset < count; offset += batch) yield { offset, count: Math.min(batch, count - offset) };
}

/** One probe output of one batch: float32 values and their dims (batch first). */
export interface ProbeTensor {
  data: Float32Array;
  dims: number[];
}

/**
 * A tensor for every calibration input ([N, ...]), kept as the batches a probe produced them in (no
 * copy into one array: the arrays ONNX Runtime returned are kept), and served by batch: a batch of
 * the same offset and count is the kept array itself, any other range is assembled.
 */
export class BatchedTensor {
  private readonly batches = new Map<number, Float32Array>();
  /** Floats per input. */
  readonly per: number;

  constructor(readonly dims: readonly number[]) {
    this.per = dims.slice(1).reduce((a, b) => a * b, 1);
  }

  /** Bytes when every input is in. */
  get bytes(): number {
    return this.dims[0] * this.per * 4;
  }

  /** Keeps `data` (the values of inputs offset … offset + data.length / per − 1; not copied). */
  set(offset: number, data: Float32Array): void {
    this.batches.set(offset, data);
  }

  /** The values of inputs offset … offset + count − 1. */
  slice(offset: number, count: number): Float32Array {
    const per = this.per;
    const same = this.batches.get(offset);
    if (same && same.length === count * per) return same;
    const out = new Float32Array(count * per);
    for (const [at, data] of this.batches) {
      const from = Math.max(at, offset);
      const to = Math.min(at + data.length / per, offset + count);
      if (from < to) out.set(data.subarray((from - at) * per, (to - at) * per), (from - offset) * per);
    }
    return out;
  }
}

/** Default threads for recovery's ONNX Runtime runs: every core, at most 4. */
export function defaultRecoveryThreads(): number {
  return Math.max(1, Math.min(4, os.availableParallelism()));
}

/** Samples per run: about 4 M input values per batch (at least 1, at most 256). */
export function defaultBatchSize(sampleSize: number): number {
  return Math.max(1, Math.min(256, Math.floor((1 << 22) / Math.max(1, sampleSize))));
}

/**
 * The model's one data input (recovery and the scan feed a single input): its name and whether its
 * batch dimension is free. `use` names what feeds it, for the errors.
 */
export function dataInput(graph: Graph, where: string, use = 'recovery'): { name: string; dynamicBatch: boolean } {
  if (graph.inputs.length !== 1) throw new PrunerError(`${where}: ${use} with calibration data needs a model with one input (this one has ${graph.inputs.length})`, { subject: where });
  const v = graph.inputs[0];
  const d0 = v.type?.tensor_type?.shape?.dim?.[0];
  const fixed = d0?.dim_value !== undefined && d0?.dim_value !== null && Number(d0.dim_value) > 0 ? Number(d0.dim_value) : undefined;
  if (fixed !== undefined && fixed !== 1) throw new PrunerError(`${where}: input ${v.name} has a fixed batch of ${fixed}; ${use} feeds one input at a time or a free batch`, { subject: where });
  return { name: v.name ?? '', dynamicBatch: fixed === undefined };
}

/**
 * Runs every calibration input through a probe model, batch by batch, and calls `onBatch` with that
 * batch's probe tensors (by value name) and the batch's first sample index. Returns the provider used.
 */
export async function streamProbe(
  bytes: Uint8Array,
  name: string,
  inputName: string,
  dynamicBatch: boolean,
  data: InputSet,
  onBatch: (outputs: Map<string, ProbeTensor>, offset: number, count: number) => void | Promise<void>,
  opts: ProbeRunOptions = {},
): Promise<{ provider: ExecutionProvider; fallbackReason?: string }> {
  const created = await createSession({ bytes, name }, opts.ep ?? 'auto', { threads: opts.threads ?? defaultRecoveryThreads(), ...(opts.ort ? { ort: opts.ort } : {}) });
  const { session, ort } = created;
  try {
    const sampleSize = data.sampleShape.reduce((a, b) => a * b, 1);
    const batch = dynamicBatch ? opts.batchSize ?? defaultBatchSize(sampleSize) : 1;
    const cut = opts.cut;
    const reads = !cut || session.inputNames.includes(inputName);
    const batches = reads ? data.batches(batch, opts.signal) : offsets(data.count, batch);
    for await (const b of batches) {
      throwIfAborted(opts.signal);
      const feed: Record<string, unknown> = {};
      if (reads) feed[inputName] = new ort.Tensor('float32', b.data!, [b.count, ...data.sampleShape]);
      if (cut)
        for (const [v, t] of cut) {
          if (!session.inputNames.includes(v)) continue;
          feed[v] = new ort.Tensor('float32', t.slice(b.offset, b.count), [b.count, ...t.dims.slice(1)]);
        }
      for (const [v, t] of opts.feeds?.(b.offset, b.count) ?? []) feed[v] = new ort.Tensor('int32', t.data, t.dims);
      let results: Record<string, unknown>;
      try {
        results = await session.run(feed as never);
      } catch (e) {
        throw new PrunerError(`${name}: ONNX Runtime failed on calibration inputs ${b.offset}–${b.offset + b.count - 1} of ${data.source} (${shortenError(e)})`, { subject: data.source, cause: e });
      }
      const out = new Map<string, ProbeTensor>();
      for (const [k, v] of Object.entries(results)) {
        const t = v as { data: unknown; dims: readonly number[]; dispose?: () => void };
        if (!(t.data instanceof Float32Array)) throw new PrunerError(`${name}: tensor ${k} is not float32; recovery needs float activations`, { subject: k });
        out.set(k, { data: t.data, dims: [...t.dims] });
      }
      await onBatch(out, b.offset, b.count);
      opts.onBatch?.((b.offset + b.count) / data.count);
    }
    return created.fallbackReason ? { provider: created.provider, fallbackReason: created.fallbackReason } : { provider: created.provider };
  } finally {
    await session.release();
  }
}

/** Per-channel running sums over every axis but axis 1 ([N, C, ...] tensors), in float64. */
export class ChannelMoments {
  readonly sum: Float64Array;
  readonly sumSq: Float64Array;
  /** Number of values summed per channel. */
  n = 0;
  /** Values that were zero (share of zeros after an activation, APoZ). */
  readonly zeros: Float64Array;
  /** Sum of |x| (mean absolute activation). */
  readonly sumAbs: Float64Array;

  constructor(readonly channels: number) {
    this.sum = new Float64Array(channels);
    this.sumSq = new Float64Array(channels);
    this.zeros = new Float64Array(channels);
    this.sumAbs = new Float64Array(channels);
  }

  add(t: ProbeTensor): void {
    const [N, C] = t.dims;
    if (C !== this.channels) throw new Error(`channel moments: ${C} channels, expected ${this.channels}`);
    const inner = t.dims.slice(2).reduce((a, b) => a * b, 1);
    const d = t.data;
    for (let b = 0; b < N; b++)
      for (let c = 0; c < C; c++) {
        let s = 0;
        let q = 0;
        let z = 0;
        let a = 0;
        const base = (b * C + c) * inner;
        for (let i = 0; i < inner; i++) {
          const v = d[base + i];
          s += v;
          q += v * v;
          a += Math.abs(v);
          if (v === 0) z++;
        }
        this.sum[c] += s;
        this.sumSq[c] += q;
        this.zeros[c] += z;
        this.sumAbs[c] += a;
      }
    this.n += N * inner;
  }

  mean(): Float64Array {
    return this.sum.map((s) => s / Math.max(1, this.n));
  }

  /** Unbiased variance (PyTorch's running_var update). */
  variance(): Float64Array {
    const n = this.n;
    return this.sum.map((s, c) => {
      const m = s / n;
      const v = (this.sumSq[c] / n - m * m) * (n > 1 ? n / (n - 1) : 1);
      return Math.max(0, v);
    });
  }
}

export { tensorDims };
