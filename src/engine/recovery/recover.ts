// Recovery after the surgery, on calibration inputs: empirical bias correction (`bias`), BatchNorm
// recalibration (`bn`) and least-squares reconstruction (`ls`); `auto` is `ls`, followed by `bn`
// when some layer could not be refit.
//
// Order and passes. Every method fixes layers in topological order with inputs measured in the
// pruned model *as already recovered upstream* (He et al. 2017; AIMET), so upstream error is absorbed.
// Layers are grouped into levels: a layer's level is one more than the highest level of the layers
// of the same method upstream of it. All layers of one level are measured in one pass of a probe
// model (working.ts) that stops at their inputs, then fixed together. The original model runs once,
// at the start, and the targets it gives (each layer's own output at the sampled positions, and its
// per-channel means) are kept: N·p·O floats per layer, independent of the batch.
//   - bias: E[y_original] − E[y_pruned] per output channel of each layer that lost input channels,
//     added to its bias (or subtracted from the running mean of the BN right after it).
//   - bn:   mean and variance (unbiased, as PyTorch's running_var) of each remaining BN's input over
//     every calibration input and position; BNs of one level share a pass, with the BNs before them
//     already recalibrated (so the result is exactly the statistics the recovered model produces).
//   - ls:   for each Conv (2-D, any group count: one solve per group, so depthwise convs solve per
//     channel), Gemm and MatMul whose inputs lost channels: rows X = the layer's input patches at
//     p sampled output positions per input (AIMET samples 10; more when a layer has more unknowns
//     than N·10 rows) plus a constant 1 for the bias, targets Y = the original layer's output at the
//     same positions for the kept output channels; (XᵀX + λI)W = XᵀY + λW₀ with W₀ the weights as
//     cut (linalg.ts), so what the data cannot determine stays as pruned. The bias goes to the
//     layer's bias, else to the running mean of the BN after it, else into a new bias.
// Any NaN or Infinity in a recovered value stops the run with the layer named.
import { PrunerError, throwIfAborted } from '../errors.ts';
import { attrFloat, attrInt, attrInts, attrString, type Graph } from '../graph/graph.ts';
import { tensorDims, type OnnxModel } from '../onnx/model.ts';
import { DataType, type ModelProto, type NodeProto } from '../onnx/proto.ts';
import { mapChannel, type ChannelGroup } from '../analysis/types.ts';
import { foldTarget } from '../prune/compensate.ts';
import { biasScale, weightedFacts, weightLayout, weightOutAxis } from '../graph/operators.ts';
import { SAMPLED_MIN_OPSET, unusedName, type SampledOutput } from '../graph/segment.ts';
import { mulberry32 } from '../runtime/inputs.ts';
import type { ExecutionProviderChoice } from '../runtime/types.ts';
import type { OrtModule } from '../runtime/session.ts';
import type { InputSet } from '../data/types.ts';
import { BatchedTensor, ChannelMoments, WorkingModel, dataInput, defaultBatchSize, defaultRecoveryThreads, probeModel, streamProbe, type ProbeTensor } from './working.ts';
import { GramAccumulator, ortProduct, ridgeSolve } from './linalg.ts';
import type { RecoverMode, RecoveredLayer, RecoveryReport, RecoveryStep } from './types.ts';

export interface RecoverOptions {
  mode: RecoverMode;
  calibration?: InputSet;
  ep?: ExecutionProviderChoice;
  threads?: number;
  batchSize?: number;
  /** Relative ridge for ls (λ = ridge · trace(XᵀX)/k; default 1e-3). */
  ridge?: number;
  /** Sampled output positions per input for ls (default 10, more when a layer needs them). */
  positions?: number;
  /** Whether the surgery folded removed channels' constants (data-free compensation) — reported. */
  compensated?: boolean;
  signal?: AbortSignal;
  ort?: OrtModule;
  onProgress?: (stage: string, fraction?: number) => void;
  /**
   * The original model's tensors on these calibration inputs, kept across several recoveries of
   * the same model on the same inputs (a sensitivity scan recovers one group at several ratios):
   * the original's targets, and the inputs of layers whose input is the original's activation with
   * the pruned channels taken out, are read from it instead of running ONNX Runtime again.
   */
  activations?: OriginalActivations;
  /**
   * Bytes of the pruned model's activations ls keeps between its probes (each probe then runs only
   * the segment of the network after the previous one; see `Cut`). Default 768 MiB; 0 runs every
   * probe from the model's input.
   */
  cutBytes?: number;
}

/** Bytes an OriginalActivations holds at most by default (a tensor that would pass it is not kept). */
const ACTIVATION_BYTES = 512 << 20;

/**
 * The original model's tensors (by value name) on one set of calibration inputs, each computed by
 * one ONNX Runtime pass of the original and kept whole ([N, ...] float32), so that recoveries of
 * several pruned variants of that model on those inputs read them instead of running again.
 * `passes` counts the passes made to fill it; `served` the probe passes it saved.
 */
export class OriginalActivations {
  private readonly store = new Map<string, ProbeTensor>();
  /** Values a pass computed that could not be kept (past `maxBytes`): never run again for the cache. */
  readonly tooBig = new Set<string>();
  private bytes = 0;
  private data: InputSet | undefined;
  passes = 0;
  served = 0;

  constructor(readonly maxBytes: number = ACTIVATION_BYTES) {}

  /** Whether this holds tensors of `data` (a cache filled on other inputs is not used). */
  fits(data: InputSet): boolean {
    if (!this.data) this.data = data;
    return this.data === data;
  }

  get(value: string): ProbeTensor | undefined {
    return this.store.get(value);
  }

  /** Keeps `t` (the whole set's tensor) unless it would pass `maxBytes`. */
  keep(value: string, t: ProbeTensor): boolean {
    if (this.bytes + t.data.byteLength > this.maxBytes) return false;
    this.store.set(value, t);
    this.bytes += t.data.byteLength;
    return true;
  }

  /** Samples [offset, offset + count) of a kept tensor (a view, no copy). */
  slice(value: string, offset: number, count: number): ProbeTensor {
    const t = this.store.get(value)!;
    const per = t.data.length / t.dims[0];
    return { data: t.data.subarray(offset * per, (offset + count) * per), dims: [count, ...t.dims.slice(1)] };
  }
}

/** One pruned group as the surgery applied it. */
export interface AppliedGroup {
  group: ChannelGroup;
  kept: readonly number[];
}

const DEFAULT_RIDGE = 1e-6;
const DEFAULT_POSITIONS = 10;
/** ls never samples more positions than this per input and layer (memory of the kept targets). */
const MAX_POSITIONS = 64;

/** Bytes of the original's per-layer outputs one batch of the targets pass may hold (ONNX Runtime's copy and ours). */
const TARGET_BATCH_BYTES = 128 << 20;

/** Calibration inputs each step needs at least. */
export const MIN_INPUTS: Record<'bias' | 'bn' | 'ls', number> = { bias: 1, bn: 2, ls: 2 };

/** The steps a mode runs given whether calibration data is available, and why. */
export function planRecovery(mode: RecoverMode, hasData: boolean): { steps: RecoveryStep[]; why: string } {
  switch (mode) {
    case 'none':
      return { steps: [], why: 'recovery off (--recover none)' };
    case 'auto':
      return hasData
        ? { steps: ['ls'], why: 'calibration inputs given: least-squares reconstruction of the layers that lost inputs (then BatchNorm recalibration if a layer could not be refit)' }
        : { steps: ['compensation'], why: 'no calibration inputs: data-free compensation only (give calibration inputs for reconstruction)' };
    case 'bias':
      return hasData ? { steps: ['bias'], why: 'measured bias correction on the calibration inputs' } : { steps: ['compensation'], why: 'no calibration inputs: data-free compensation' };
    case 'bn':
    case 'ls':
      return { steps: [mode], why: mode === 'bn' ? 'BatchNorm recalibration on the calibration inputs' : 'least-squares reconstruction on the calibration inputs' };
  }
}

interface Ctx {
  original: { model: OnnxModel; graph: Graph };
  w: WorkingModel;
  data: InputSet;
  input: { name: string; dynamicBatch: boolean };
  opts: RecoverOptions;
  report: RecoveryReport;
  /** Kept output indices (original numbering) of layers whose outputs were pruned. */
  keptOut: Map<string, number[]>;
  applied: readonly AppliedGroup[];
  /** The original's kept tensors, when the caller gave them for these inputs. */
  cache?: OriginalActivations;
}

/**
 * Runs the recovery steps of `opts.mode` on the pruned model and returns the recovered model with
 * the report section. `pruned` is not modified.
 */
export async function recoverPruned(
  original: { model: OnnxModel; graph: Graph },
  pruned: ModelProto,
  applied: readonly AppliedGroup[],
  opts: RecoverOptions,
): Promise<{ model: ModelProto; report: RecoveryReport }> {
  const t0 = performance.now();
  const data = opts.calibration;
  const { steps, why } = planRecovery(opts.mode, !!data && data.count > 0);
  const report: RecoveryReport = { requested: opts.mode, steps, why, passes: 0, layers: [], ms: 0 };
  if (data) report.calibration = { source: data.source, count: data.count };
  const dataSteps = steps.filter((s): s is 'bias' | 'bn' | 'ls' => s !== 'compensation');
  if (steps.includes('compensation') && opts.compensated === false) report.why += '; compensation is off in the plan, so nothing ran';
  if (!dataSteps.length) {
    report.ms = Math.round(performance.now() - t0);
    return { model: pruned, report };
  }
  if (!data || data.count === 0) throw new PrunerError(`--recover ${opts.mode} needs calibration inputs (give --calib)`);
  for (const s of dataSteps) {
    if (data.count < MIN_INPUTS[s]) throw new PrunerError(`${data.source}: --recover ${s} needs at least ${MIN_INPUTS[s]} calibration inputs, got ${data.count}`, { subject: data.source });
  }
  const w = new WorkingModel(original.model, pruned);
  const name = original.model.path;
  const input = dataInput(original.graph, name);
  const cache = opts.activations?.fits(data) ? opts.activations : undefined;
  const ctx: Ctx = { original, w, data, input, opts, report, keptOut: keptOutputs(applied), applied, ...(cache ? { cache } : {}) };
  for (const s of dataSteps) {
    throwIfAborted(opts.signal);
    if (s === 'ls') await leastSquares(ctx);
    else if (s === 'bias') await biasCorrection(ctx);
    else await bnRecalibration(ctx);
  }
  // auto: reconstruction makes each refit layer's output match the original's, so the BatchNorms
  // after it keep valid statistics (measured on the Fashion-MNIST models: ls then bn was no better
  // than ls alone, at twice the passes). Where ls skipped a layer, the BNs are recalibrated too.
  const skipped = report.layers.filter((l) => l.step === 'ls' && l.status === 'skipped');
  if (opts.mode === 'auto' && skipped.length) {
    report.steps.push('bn');
    report.why += `; BatchNorm recalibration because ${skipped.length} layer(s) could not be refit (${skipped[0].name}: ${skipped[0].reason})`;
    await bnRecalibration(ctx);
  }
  report.ms = Math.round(performance.now() - t0);
  return { model: w.result(), report };
}

/** Kept output-channel indices per layer (original numbering) from the pruned groups' out/depthwise members. */
function keptOutputs(applied: readonly AppliedGroup[]): Map<string, number[]> {
  const out = new Map<string, Set<number>>();
  for (const { group, kept } of applied) {
    for (const m of group.members) {
      if (m.role !== 'out' && m.role !== 'depthwise') continue;
      let s = out.get(m.node);
      if (!s) out.set(m.node, (s = new Set()));
      for (const c of kept) for (const i of mapChannel(m, c)) s.add(i);
    }
  }
  return new Map([...out].map(([k, s]) => [k, [...s].sort((a, b) => a - b)]));
}

// ---------- levels ----------

/** Level of each target node: 1 + the highest level of a target upstream of it (through any path). */
function levels(graph: Graph, targets: Set<NodeProto>): Map<NodeProto, number> {
  const lv = new Map<string, number>();
  const out = new Map<NodeProto, number>();
  for (const n of graph.order) {
    let l = 0;
    for (const i of n.input) if (i) l = Math.max(l, lv.get(i) ?? 0);
    if (targets.has(n)) {
      l += 1;
      out.set(n, l);
    }
    for (const o of n.output) if (o) lv.set(o, l);
  }
  return out;
}

function byLevel(graph: Graph, targets: NodeProto[]): NodeProto[][] {
  const lv = levels(graph, new Set(targets));
  const waves: NodeProto[][] = [];
  for (const n of targets) {
    const l = lv.get(n)! - 1;
    (waves[l] ??= []).push(n);
  }
  return waves.filter((x) => x && x.length);
}

async function runProbe(
  ctx: Ctx,
  model: { model: OnnxModel; graph: Graph; proto: ModelProto },
  values: string[],
  what: string,
  onBatch: (outs: Map<string, ProbeTensor>, offset: number, count: number) => void | Promise<void>,
  batchSize = ctx.opts.batchSize,
  sampling: Sampling = new Map(),
): Promise<void> {
  const bytes = probeModel(model, values, undefined, new Map([...sampling].map(([v, s]) => [v, s.names])));
  const res = await streamProbe(bytes, `${ctx.original.model.path} (${what})`, ctx.input.name, ctx.input.dynamicBatch, ctx.data, onBatch, {
    ep: ctx.opts.ep ?? 'auto',
    ...(ctx.opts.threads ? { threads: ctx.opts.threads } : {}),
    ...(batchSize ? { batchSize } : {}),
    ...(ctx.opts.signal ? { signal: ctx.opts.signal } : {}),
    ...(ctx.opts.ort ? { ort: ctx.opts.ort } : {}),
    ...(sampling.size ? { feeds: (offset: number, count: number) => positionFeeds(sampling, offset, count) } : {}),
  });
  ctx.report.passes++;
  ctx.report.provider = res.provider;
  if (res.fallbackReason) ctx.report.fallbackReason = res.fallbackReason;
}

/**
 * Values a probe returns at sampled positions only (see probeModel): per value, the names of the
 * segment's positions input and sampled output, its channels (axis 1), the positions per input and
 * the sampled positions of input `sample`.
 */
type Sampling = Map<string, { names: SampledOutput; channels: number; p: number; positions: (sample: number) => Int32Array }>;

/** The positions inputs of a batch: each input's positions, repeated for every channel ([count, C, P]). */
function positionFeeds(sampling: Sampling, offset: number, count: number): Map<string, { data: Int32Array; dims: number[] }> {
  const feeds = new Map<string, { data: Int32Array; dims: number[] }>();
  for (const s of sampling.values()) {
    const C = s.channels;
    const P = s.p;
    const data = new Int32Array(count * C * P);
    for (let b = 0; b < count; b++) {
      const pos = s.positions(offset + b);
      for (let c = 0; c < C; c++) data.set(pos, (b * C + c) * P);
    }
    feeds.set(s.names.positions, { data, dims: [count, C, P] });
  }
  return feeds;
}

/** Bytes of the working model's activations a `Cut` keeps at most (past it, probes run from the model's input). */
const CUT_BYTES = 768 << 20;

/**
 * Probes of the working model that start where the previous one stopped. Fixing layers level by
 * level, the probe of level L needs the network up to the inputs of level L's layers; everything
 * upstream of those inputs is final (only layers of level ≥ L change from then on). So each probe
 * also returns the *frontier*: the tensors it computed that the later levels still read (the
 * inputs of the layers just measured, a residual branch's input, ...), kept whole for every
 * calibration input, and the next probe is the segment of the network from that frontier on
 * (probeModel's `from`). Each node then runs about once over the whole of ls instead of once per
 * level below it. When a frontier would pass `maxBytes`, it is not kept and the next probe starts
 * from the model's input again.
 */
class Cut {
  /** Nodes whose outputs the frontier stands for (upstream of it, final). */
  private computed = new Set<NodeProto>();
  private state = new Map<string, BatchedTensor>();
  /** Per wave: the nodes the waves after it still need (their inputs' ancestors). */
  private readonly futures: Set<NodeProto>[];

  constructor(private readonly ctx: Ctx, waves: readonly (readonly string[])[], private readonly maxBytes = CUT_BYTES) {
    const later = new Set<NodeProto>();
    this.futures = new Array(waves.length);
    for (let i = waves.length - 1; i >= 0; i--) {
      this.futures[i] = new Set(later);
      for (const n of this.ancestors(waves[i], new Map())) later.add(n);
    }
  }

  /** Nodes computing `values`, stopping at the values in `stop` (and at constants). */
  private ancestors(values: readonly string[], stop: ReadonlyMap<string, unknown>): Set<NodeProto> {
    const graph = this.ctx.w.graph;
    const out = new Set<NodeProto>();
    const seen = new Set<string>();
    const stack = [...values];
    while (stack.length) {
      const v = stack.pop()!;
      if (!v || seen.has(v) || stop.has(v) || graph.constantTensor(v)) continue;
      seen.add(v);
      const p = graph.producer.get(v);
      if (!p || out.has(p)) continue;
      out.add(p);
      for (const i of p.input) if (i) stack.push(i);
    }
    return out;
  }

  /** One probe for wave `wave`: `values` of the working model for every calibration input, batch by batch. */
  async run(wave: number, values: string[], what: string, onBatch: (outs: Map<string, ProbeTensor>, offset: number, count: number) => void | Promise<void>): Promise<void> {
    const { ctx, state } = this;
    const graph = ctx.w.graph;
    const needed = this.ancestors(values, state);
    const computed = new Set([...this.computed, ...needed]);
    const future = this.futures[wave] ?? new Set<NodeProto>();
    const frontier = new Set<string>();
    for (const n of computed)
      for (const o of n.output) if (o && graph.consumersOf(o).some((c) => future.has(c) && !computed.has(c))) frontier.add(o);
    const run = values.filter((v) => !state.has(v));
    const fresh = [...frontier].filter((v) => !state.has(v) && !run.includes(v));
    const outputs = [...run, ...fresh];
    const N = ctx.data.count;
    const kept = new Map<string, BatchedTensor>();
    let bytes = 0;
    for (const v of frontier) {
      const t = state.get(v);
      if (t) {
        kept.set(v, t);
        bytes += t.bytes;
      }
    }
    let keep = bytes <= this.maxBytes;
    const serve = async (outs: Map<string, ProbeTensor>, offset: number, count: number) => {
      for (const v of values) {
        const t = state.get(v);
        if (t) outs.set(v, { data: t.slice(offset, count), dims: [count, ...t.dims.slice(1)] });
      }
      if (keep)
        for (const v of frontier) {
          if (state.has(v)) continue;
          const t = outs.get(v)!;
          let whole = kept.get(v);
          if (!whole) {
            whole = new BatchedTensor([N, ...t.dims.slice(1)]);
            bytes += whole.bytes;
            if (bytes > this.maxBytes) {
              keep = false;
              break;
            }
            kept.set(v, whole);
          }
          // the batch's own array, kept as it is (ONNX Runtime returns a new one for every run)
          whole.set(offset, t.data);
        }
      await onBatch(outs, offset, count);
    };
    if (!outputs.length) {
      const b = probeBatch(ctx);
      for (let offset = 0; offset < N; offset += b) {
        throwIfAborted(ctx.opts.signal);
        await serve(new Map(), offset, Math.min(b, N - offset));
      }
    } else {
      const from = new Map([...state].map(([v, t]) => [v, t.dims.slice(1)]));
      const bytesOf = probeModel(ctx.w, outputs, from);
      const res = await streamProbe(bytesOf, `${ctx.original.model.path} (${what})`, ctx.input.name, ctx.input.dynamicBatch, ctx.data, serve, {
        ep: ctx.opts.ep ?? 'auto',
        ...(ctx.opts.threads ? { threads: ctx.opts.threads } : {}),
        ...(ctx.opts.batchSize ? { batchSize: ctx.opts.batchSize } : {}),
        ...(ctx.opts.signal ? { signal: ctx.opts.signal } : {}),
        ...(ctx.opts.ort ? { ort: ctx.opts.ort } : {}),
        cut: state,
      });
      ctx.report.passes++;
      ctx.report.provider = res.provider;
      if (res.fallbackReason) ctx.report.fallbackReason = res.fallbackReason;
    }
    if (keep) {
      this.state = kept;
      this.computed = computed;
    } else {
      this.state = new Map();
      this.computed = new Set();
    }
  }
}

/** Samples per probe run, as streamProbe chooses them. */
function probeBatch(ctx: Ctx, batchSize = ctx.opts.batchSize): number {
  return ctx.input.dynamicBatch ? batchSize ?? defaultBatchSize(ctx.data.sampleShape.reduce((a, b) => a * b, 1)) : 1;
}

/**
 * Fills the cache with the original's `values` it lacks (one pass of the original). False when
 * there is no cache or some value could not be kept (it would pass the cache's size).
 */
async function fillOriginal(ctx: Ctx, values: readonly string[], batchSize?: number): Promise<boolean> {
  const cache = ctx.cache;
  if (!cache) return false;
  const missing = [...new Set(values)].filter((v) => !cache.get(v));
  if (!missing.length) return true;
  if (missing.some((v) => cache.tooBig.has(v))) return false;
  const o = ctx.original;
  const N = ctx.data.count;
  const whole = new Map<string, ProbeTensor | null>();
  await runProbe(ctx, { model: o.model, graph: o.graph, proto: o.model.proto }, missing, 'original activations', (outs, offset, count) => {
    for (const v of missing) {
      const t = outs.get(v)!;
      let w = whole.get(v);
      if (w === undefined) {
        const per = t.data.length / count;
        w = (N * per * 4 <= cache.maxBytes) ? { data: new Float32Array(N * per), dims: [N, ...t.dims.slice(1)] } : null;
        whole.set(v, w);
      }
      if (w) w.data.set(t.data, offset * (t.data.length / count));
    }
  }, batchSize);
  cache.passes++;
  let all = true;
  for (const v of missing) {
    const w = whole.get(v);
    if (!w || !cache.keep(v, w)) {
      all = false;
      cache.tooBig.add(v);
    }
  }
  return all;
}

/** Feeds `onBatch` from the cache in batches of `batchSize` (every value must be cached, or served by `extra`). */
async function serveCached(
  ctx: Ctx,
  cached: ReadonlyMap<string, number[] | undefined>,
  onBatch: (outs: Map<string, ProbeTensor>, offset: number, count: number) => void | Promise<void>,
  batchSize?: number,
): Promise<void> {
  const N = ctx.data.count;
  const b = probeBatch(ctx, batchSize);
  ctx.cache!.served++;
  for (let offset = 0; offset < N; offset += b) {
    throwIfAborted(ctx.opts.signal);
    const count = Math.min(b, N - offset);
    const outs = new Map<string, ProbeTensor>();
    for (const [v, kept] of cached) {
      const t = ctx.cache!.slice(v, offset, count);
      outs.set(v, kept ? selectChannels(t, kept) : t);
    }
    await onBatch(outs, offset, count);
  }
}

/**
 * Kept channels of `value` (original numbering) when the working model computes it as the
 * original's activation with the pruned channels taken out: it carries exactly one pruned group's
 * channels, and nothing upstream of it changed but by dropping channels (no node upstream reads a
 * pruned group's channels, every node upstream is the original's). Undefined otherwise.
 */
function slicedOriginal(ctx: Ctx, value: string): number[] | undefined {
  const orig = ctx.original.graph;
  const work = ctx.w.graph;
  const carrying = ctx.applied.filter((a) => a.group.values.includes(value));
  if (carrying.length !== 1) return undefined;
  const { group, kept } = carrying[0];
  if ((group.fold ?? 1) > 1) return undefined;
  const readers = new Set<string>();
  for (const a of ctx.applied) for (const m of a.group.members) if (m.role === 'in' || m.role === 'shape') readers.add(m.node);
  const seen = new Set<string>();
  const stack = [value];
  while (stack.length) {
    const v = stack.pop()!;
    if (!v || seen.has(v)) continue;
    seen.add(v);
    const p = work.producer.get(v);
    if (!p) {
      if (!orig.inputs.some((i) => i.name === v) && !work.constantTensor(v)) return undefined;
      continue;
    }
    if (work.constantTensor(v)) continue;
    const o = orig.byName.get(p.name ?? '');
    if (!o || o.op_type !== p.op_type || readers.has(p.name ?? '') || o.output[0] !== p.output[0]) return undefined;
    for (const i of p.input) if (i && !work.constantTensor(i)) stack.push(i);
  }
  return [...kept].sort((a, b) => a - b);
}

/**
 * A probe of the working model: values that are the original's activations with the pruned
 * channels taken out are read from the cache (filled by one pass of the original the first time);
 * the others (if any) run. `width` gives the channels the working model's value must have.
 */
async function workingProbe(
  ctx: Ctx,
  values: string[],
  width: (value: string) => number | undefined,
  what: string,
  onBatch: (outs: Map<string, ProbeTensor>, offset: number, count: number) => void | Promise<void>,
  cut?: { cut: Cut; wave: number },
): Promise<void> {
  const served = new Map<string, number[]>();
  if (ctx.cache) {
    for (const v of values) {
      const kept = slicedOriginal(ctx, v);
      if (kept && kept.length === width(v)) served.set(v, kept);
    }
    if (served.size && !(await fillOriginal(ctx, [...served.keys()]))) served.clear();
    for (const [v, kept] of served) {
      const t = ctx.cache.get(v)!;
      const C = t.dims[1];
      if (t.dims.length < 2 || kept.some((c) => c >= C) || C !== ctx.applied.find((a) => a.group.values.includes(v))!.group.channels) served.delete(v);
    }
  }
  const rest = values.filter((v) => !served.has(v));
  if (!rest.length) return serveCached(ctx, served, onBatch);
  const withServed = async (outs: Map<string, ProbeTensor>, offset: number, count: number) => {
    for (const [v, kept] of served) outs.set(v, selectChannels(ctx.cache!.slice(v, offset, count), kept));
    await onBatch(outs, offset, count);
  };
  if (cut) await cut.cut.run(cut.wave, rest, what, withServed);
  else await runProbe(ctx, ctx.w, rest, what, withServed);
}

// ---------- which layers ----------

/** The weighted layers ls and bias refit: float convolutions and matrix products by a constant matrix (not ConvTranspose). */
function refits(n: NodeProto, dims: readonly number[]): boolean {
  const f = weightedFacts(n.op_type);
  return !!f && !f.quantized && (f.kind === 'conv' || f.kind === 'gemm' || (f.kind === 'matmul' && dims.length === 2));
}

/** Input channels a layer that recovery refits reads (the registry's weight layout), or undefined. */
function inputWidth(graph: Graph, n: NodeProto): number | undefined {
  const t = n.input[1] ? graph.constantTensor(n.input[1]) : undefined;
  if (!t) return undefined;
  const d = tensorDims(t);
  return refits(n, d) ? weightLayout(n, d)?.inChannels : undefined;
}

/** Weighted layers of the working model whose input width shrank: the layers ls and bias fix. */
function layersThatLostInputs(ctx: Ctx): NodeProto[] {
  const out: NodeProto[] = [];
  for (const n of ctx.w.graph.order) {
    const o = ctx.original.graph.byName.get(n.name ?? '');
    if (!o) continue;
    const before = inputWidth(ctx.original.graph, o);
    const after = inputWidth(ctx.w.graph, n);
    if (before !== undefined && after !== undefined && after < before) out.push(n);
  }
  return out;
}

function skip(ctx: Ctx, n: NodeProto, step: RecoveredLayer['step'], reason: string): void {
  ctx.report.layers.push({ name: n.name ?? '', op: n.op_type ?? '', step, status: 'skipped', reason });
}

function allFinite(values: Float64Array): boolean {
  for (let i = 0; i < values.length; i++) if (!Number.isFinite(values[i])) return false;
  return true;
}

function checkFinite(values: ArrayLike<number>, n: NodeProto, what: string): void {
  for (let i = 0; i < values.length; i++)
    if (!Number.isFinite(values[i])) throw new PrunerError(`${n.name}: recovery produced a non-finite ${what} (NaN or Infinity); the layer cannot be recovered from these calibration inputs`, { subject: n.name });
}

/** Output channels of the original layer the pruned layer keeps (identity when its outputs were not pruned). */
function keptColumns(ctx: Ctx, name: string, prunedOut: number, originalOut: number): number[] | undefined {
  const k = ctx.keptOut.get(name);
  if (k) return k.length === prunedOut ? k : undefined;
  return prunedOut === originalOut ? Array.from({ length: prunedOut }, (_, i) => i) : undefined;
}

/**
 * Adds a per-output-channel shift to a layer's output: into its bias, else into the running mean of
 * the BatchNormalization right after it (BN(x + d) = BN(x) with μ − d), else into a new bias.
 */
function shiftOutput(ctx: Ctx, n: NodeProto, delta: Float64Array): void {
  const w = ctx.w;
  const target = foldTarget(w.graph, n);
  if (target.kind === 'bn') {
    const bn = target.bn;
    const mean = w.floats(bn.input[3])!;
    const next = Float64Array.from(mean, (m, i) => m - delta[i]);
    checkFinite(next, n, 'running mean');
    w.setConstant(bn, 3, [next.length], next);
    return;
  }
  const old = outputBias(ctx, n, delta.length);
  setBias(ctx, n, old.map((v, i) => v + delta[i]));
}

/** What a Conv/Gemm adds to each output channel: its bias (Gemm: β·C), zero without one. */
function outputBias(ctx: Ctx, n: NodeProto, channels: number): Float64Array {
  const out = new Float64Array(channels);
  const old = n.input[2] ? ctx.w.floats(n.input[2]) : undefined;
  if (!old) return out;
  const beta = biasScale(n);
  for (let i = 0; i < channels; i++) out[i] = beta * (old.length === 1 ? old[0] : old[i]);
  return out;
}

/** Sets what a Conv/Gemm adds to each output channel (Gemm: C = bias / β), creating the bias input when absent. */
function setBias(ctx: Ctx, n: NodeProto, bias: Float64Array): void {
  const w = ctx.w;
  checkFinite(bias, n, 'bias');
  const beta = biasScale(n);
  const next = beta !== 1 && beta !== 0 ? bias.map((v) => v / beta) : bias;
  const t = n.input[2] ? w.graph.constantTensor(n.input[2]) : undefined;
  const dims = t && tensorDims(t).length === 2 ? [1, next.length] : [next.length];
  w.setConstant(n, 2, dims, next);
}

// ---------- original targets ----------

interface LayerPlan {
  node: NodeProto;
  orig: NodeProto;
  /** Kept original output channels, in pruned order. */
  cols: number[];
  /** ls geometry, when the layer can be refit. */
  ls?: LsGeometry;
  /** Kept targets: rows [N·p, O'] (ls), and the original's per-channel output moments (bias). */
  y?: Float32Array;
  moments?: ChannelMoments;
  /** ls: the batch's rows of input patches, reused from batch to batch (released with `y`). */
  rows?: Float32Array;
}

interface LsGeometry {
  kind: 'conv' | 'gemm' | 'matmul';
  /** Conv: groups, kernel, strides, dilations, pads (top, left), and input channels per group. */
  groups: number;
  kh: number;
  kw: number;
  sh: number;
  sw: number;
  dh: number;
  dw: number;
  padTop: number;
  padLeft: number;
  padBottom: number;
  padRight: number;
  autoPad: string;
  cinG: number;
  /** Outputs (pruned). */
  outC: number;
  /** Unknowns per output: cinG·kh·kw (+1 with a bias column). */
  unknowns: number;
  bias: boolean;
  /** Sampled positions (rows) per input. */
  p: number;
}

function lsGeometry(ctx: Ctx, n: NodeProto): LsGeometry | string {
  const w = ctx.w;
  const op = n.op_type ?? '';
  const wt = n.input[1] ? w.graph.constantTensor(n.input[1]) : undefined;
  if (!wt) return 'its weight is not a constant';
  if (wt.data_type !== DataType.FLOAT) return 'its weight is not float32 (ls refits float32 weights only)';
  if (n.input[2]) {
    const bt = w.graph.constantTensor(n.input[2]);
    if (!bt) return 'its bias is not a constant';
    if (bt.data_type !== DataType.FLOAT) return 'its bias is not float32';
  }
  const d = tensorDims(wt);
  const base = { groups: 1, kh: 1, kw: 1, sh: 1, sw: 1, dh: 1, dw: 1, padTop: 0, padLeft: 0, padBottom: 0, padRight: 0, autoPad: 'NOTSET', p: 1 };
  // the refit's own arithmetic per kind (a sliding window's attributes, Gemm's transA); the weight's layout from the registry
  const f = weightedFacts(op);
  const kind = f && !f.quantized ? f.kind : undefined;
  const layout = weightLayout(n, d);
  if (kind === 'conv') {
    if (d.length !== 4 || !layout) return `only 2-D convolutions are refit (this one has a ${d.length - 2}-D kernel)`;
    const g = layout.groups;
    const strides = attrInts(n, 'strides') ?? [1, 1];
    const dil = attrInts(n, 'dilations') ?? [1, 1];
    const pads = attrInts(n, 'pads') ?? [0, 0, 0, 0];
    const autoPad = attrString(n, 'auto_pad', 'NOTSET');
    const cinG = d[layout.inAxis];
    return { ...base, kind: 'conv', groups: g, kh: d[2], kw: d[3], sh: strides[0], sw: strides[1], dh: dil[0], dw: dil[1], padTop: pads[0], padLeft: pads[1], padBottom: pads[2] ?? 0, padRight: pads[3] ?? 0, autoPad, cinG, outC: layout.outChannels, unknowns: cinG * d[2] * d[3] + 1, bias: true };
  }
  if (kind === 'gemm') {
    if (attrInt(n, 'transA', 0)) return 'Gemm with transA is not refit';
    if (!layout) return 'its weight is not a matrix';
    const bias = biasScale(n) !== 0;
    return { ...base, kind: 'gemm', cinG: layout.inChannels, outC: layout.outChannels, unknowns: layout.inChannels + (bias ? 1 : 0), bias };
  }
  if (kind === 'matmul') {
    if (d.length !== 2 || !layout) return 'only a MatMul by a constant matrix is refit';
    return { ...base, kind: 'matmul', cinG: layout.inChannels, outC: layout.outChannels, unknowns: layout.inChannels, bias: false };
  }
  return `${op} is not refit`;
}

/** Sampled positions for one input of one layer: `p` distinct indices in [0, m), the same for the original and the pruned run. */
function positionsFor(layerIndex: number, sample: number, m: number, p: number): Int32Array {
  const out = new Int32Array(p);
  if (p >= m) {
    for (let i = 0; i < p; i++) out[i] = i % m;
    return out;
  }
  const rnd = mulberry32((layerIndex + 1) * 1_000_003 + sample * 7919);
  const chosen = new Set<number>();
  let i = 0;
  while (i < p) {
    const v = Math.floor(rnd() * m);
    if (chosen.has(v)) continue;
    chosen.add(v);
    out[i++] = v;
  }
  return out;
}

/**
 * One pass of the original model: the kept targets of every layer in `plans` (ls rows and/or output
 * moments). For ls rows alone (`spatial`: each output's positions per input), a convolution's output
 * is returned at its sampled positions only, unless the cache holds it whole.
 */
async function originalTargets(ctx: Ctx, plans: LayerPlan[], wantRows: boolean, wantMoments: boolean, batchSize?: number, spatial?: ReadonlyMap<string, number>): Promise<void> {
  const values = plans.map((p) => p.orig.output[0]);
  const N = ctx.data.count;
  const o = ctx.original;
  for (const p of plans) {
    if (wantRows && p.ls) p.y = new Float32Array(N * p.ls.p * p.cols.length);
    if (wantMoments) p.moments = new ChannelMoments(p.cols.length);
  }
  const whole = await fillOriginal(ctx, values, batchSize);
  const sampling: Sampling = new Map();
  if (!whole && wantRows && !wantMoments && spatial && o.graph.opset() >= SAMPLED_MIN_OPSET)
    plans.forEach((p, li) => {
      const v = p.orig.output[0];
      const m = spatial.get(v);
      const wt = p.orig.input[1] ? o.graph.constantTensor(p.orig.input[1]) : undefined;
      if (p.ls?.kind !== 'conv' || !m || p.ls.p >= m || !wt) return;
      const P = p.ls.p;
      const names = { positions: unusedName(o.graph, `${v}_positions`), output: unusedName(o.graph, `${v}_sampled`) };
      sampling.set(v, { names, channels: tensorDims(wt)[0], p: P, positions: (sample) => positionsFor(li, sample, m, P) });
    });
  const onBatch = (outs: Map<string, ProbeTensor>, offset: number) => {
    plans.forEach((p, li) => {
      const sampled = sampling.get(p.orig.output[0]);
      const t = outs.get(sampled ? sampled.names.output : p.orig.output[0])!;
      const [B, C] = t.dims;
      const inner = t.dims.slice(2).reduce((a, b) => a * b, 1);
      const cols = p.cols;
      if (p.moments) p.moments.add(selectChannels(t, cols));
      if (p.y && p.ls) {
        const P = p.ls.p;
        const O = cols.length;
        if (sampled) {
          // [B, C, P]: input b's sampled positions of every channel, in order
          for (let b = 0; b < B; b++)
            for (let r = 0; r < P; r++) {
              const dst = ((offset + b) * P + r) * O;
              for (let j = 0; j < O; j++) p.y[dst + j] = t.data[(b * C + cols[j]) * P + r];
            }
          return;
        }
        if (p.ls.kind === 'matmul') {
          // rows = every leading position: [B, ..., C] with C the last axis.
          const last = t.dims[t.dims.length - 1];
          const m = t.data.length / (B * last);
          for (let b = 0; b < B; b++) {
            const pos = positionsFor(li, offset + b, m, P);
            for (let r = 0; r < P; r++) {
              const src = (b * m + pos[r]) * last;
              const dst = ((offset + b) * P + r) * O;
              for (let j = 0; j < O; j++) p.y[dst + j] = t.data[src + cols[j]];
            }
          }
          return;
        }
        for (let b = 0; b < B; b++) {
          const pos = positionsFor(li, offset + b, inner, P);
          for (let r = 0; r < P; r++) {
            const dst = ((offset + b) * P + r) * O;
            for (let j = 0; j < O; j++) p.y[dst + j] = t.data[(b * C + cols[j]) * inner + pos[r]];
          }
        }
      }
    });
  };
  if (whole) await serveCached(ctx, new Map(values.map((v) => [v, undefined])), onBatch, batchSize);
  else await runProbe(ctx, { model: o.model, graph: o.graph, proto: o.model.proto }, values, 'original', onBatch, batchSize, sampling);
}

/** The tensor restricted to channels `cols` of axis 1. */
function selectChannels(t: ProbeTensor, cols: number[]): ProbeTensor {
  const [B, C] = t.dims;
  if (cols.length === C) return t;
  const inner = t.dims.slice(2).reduce((a, b) => a * b, 1);
  const out = new Float32Array(B * cols.length * inner);
  for (let b = 0; b < B; b++) for (let j = 0; j < cols.length; j++) out.set(t.data.subarray((b * C + cols[j]) * inner, (b * C + cols[j] + 1) * inner), (b * cols.length + j) * inner);
  return { data: out, dims: [B, cols.length, ...t.dims.slice(2)] };
}

function planLayers(ctx: Ctx, step: 'ls' | 'bias'): LayerPlan[] {
  const plans: LayerPlan[] = [];
  for (const n of layersThatLostInputs(ctx)) {
    const orig = ctx.original.graph.byName.get(n.name ?? '')!;
    const wo = ctx.w.graph.constantTensor(n.input[1])!;
    const oo = ctx.original.graph.constantTensor(orig.input[1])!;
    const outAxis = weightOutAxis(n);
    const cols = keptColumns(ctx, n.name ?? '', tensorDims(wo)[outAxis], tensorDims(oo)[outAxis]);
    if (!cols) {
      skip(ctx, n, step, 'its kept output channels could not be matched with the original');
      continue;
    }
    if (ctx.original.graph.outputNames.has(orig.output[0]) && cols.length !== tensorDims(oo)[outAxis]) {
      skip(ctx, n, step, 'its output is a graph output');
      continue;
    }
    const plan: LayerPlan = { node: n, orig, cols };
    if (step === 'ls') {
      const g = lsGeometry(ctx, n);
      if (typeof g === 'string') {
        skip(ctx, n, 'ls', g);
        continue;
      }
      plan.ls = g;
    }
    plans.push(plan);
  }
  return plans;
}

// ---------- ls ----------

async function leastSquares(ctx: Ctx): Promise<void> {
  const plans = planLayers(ctx, 'ls');
  if (!plans.length) return;
  const N = ctx.data.count;
  const base = ctx.opts.positions ?? DEFAULT_POSITIONS;
  // With a cache: the layers' inputs that are the original's activations less the pruned channels
  // are kept in the same pass as the original's outputs.
  const sliced = ctx.cache ? plans.map((p) => p.node.input[0]).filter((v) => slicedOriginal(ctx, v)) : [];
  // Positions per input: enough rows for the unknowns (3× when possible), never more than the layer has.
  const { spatial, elements } = await outputSizes(ctx, plans, sliced);
  for (const p of plans) {
    const g = p.ls!;
    const m = spatial.get(p.orig.output[0]) ?? 1;
    g.p = Math.max(1, Math.min(m, MAX_POSITIONS, Math.max(base, Math.ceil((3 * g.unknowns) / N))));
    if (g.kind === 'gemm') g.p = 1;
  }
  ctx.opts.onProgress?.('recovery: original outputs', 0);
  // The original's pass outputs every target layer's whole output (tens of MB per input on a
  // ResNet-50 at 224×224): its batch is cut so that they stay within TARGET_BATCH_BYTES.
  const perSample = 4 * elements;
  const batch = ctx.input.dynamicBatch
    ? Math.max(1, Math.min(ctx.opts.batchSize ?? defaultBatchSize(ctx.data.sampleShape.reduce((a, b) => a * b, 1)), Math.floor(TARGET_BATCH_BYTES / Math.max(1, perSample))))
    : undefined;
  await originalTargets(ctx, plans, true, false, batch, spatial);
  const waves = byLevel(ctx.w.graph, plans.map((p) => p.node));
  const planOf = new Map(plans.map((p, i) => [p.node, { p, index: i }]));
  const cut = new Cut(ctx, waves.map((wave) => [...new Set(wave.map((n) => n.input[0]))]), ctx.opts.cutBytes ?? CUT_BYTES);
  let done = 0;
  for (const [wi, wave] of waves.entries()) {
    throwIfAborted(ctx.opts.signal);
    ctx.opts.onProgress?.('recovery: reconstruction', done / plans.length);
    const items = wave.map((n) => planOf.get(n)!);
    const accs = items.map(({ p }) => {
      const g = p.ls!;
      const k = g.unknowns;
      const groups = g.kind === 'conv' ? g.groups : 1;
      return Array.from({ length: groups }, () => new GramAccumulator(k, g.outC / groups));
    });
    const sumSq = items.map(({ p }) => new Float64Array(p.ls!.outC));
    const values = [...new Set(items.map(({ p }) => p.node.input[0]))];
    const width = (v: string) => {
      const ws = items.filter(({ p }) => p.node.input[0] === v).map(({ p }) => inputWidth(ctx.w.graph, p.node));
      return ws.every((x) => x === ws[0]) ? ws[0] : undefined;
    };
    await workingProbe(ctx, values, width, `reconstruction ${done + 1}–${done + items.length} of ${plans.length}`, async (outs, offset) => {
      for (let i = 0; i < items.length; i++) {
        const { p, index } = items[i];
        const x = outs.get(p.node.input[0])!;
        await accumulate(ctx, p, index, x, offset, accs[i], sumSq[i]);
      }
    }, { cut, wave: wi });
    for (let i = 0; i < items.length; i++) {
      await solveLayer(ctx, items[i].p, accs[i], sumSq[i]);
      // its targets and its patch rows are no longer needed
      items[i].p.y = undefined;
      items[i].p.rows = undefined;
    }
    done += items.length;
  }
}

/** Output spatial sizes (positions per input) of the original layers, from a one-input run. */
async function outputSizes(ctx: Ctx, plans: LayerPlan[], alsoKeep: readonly string[] = []): Promise<{ spatial: Map<string, number>; elements: number }> {
  const out = new Map<string, number>();
  let elements = 0;
  if (await fillOriginal(ctx, [...plans.map((p) => p.orig.output[0]), ...alsoKeep])) {
    // the original's outputs are kept whole: their shapes are known without a run
    for (const v of new Set(plans.map((p) => p.orig.output[0]))) {
      const t = ctx.cache!.get(v)!;
      elements += t.data.length / t.dims[0];
    }
    for (const p of plans) {
      const t = ctx.cache!.get(p.orig.output[0])!;
      out.set(p.orig.output[0], p.ls?.kind === 'matmul' ? t.data.length / t.dims[0] / t.dims[t.dims.length - 1] : t.dims.slice(2).reduce((a, b) => a * b, 1));
    }
    return { spatial: out, elements };
  }
  const first = ctx.data;
  const one: InputSet = {
    source: first.source,
    sampleShape: first.sampleShape,
    count: 1,
    async *batches(_size: number, signal?: AbortSignal) {
      for await (const b of first.batches(1, signal)) {
        yield { data: b.data, count: 1, offset: 0 };
        return;
      }
    },
  };
  const values = plans.map((p) => p.orig.output[0]);
  const bytes = probeModel({ model: ctx.original.model, graph: ctx.original.graph, proto: ctx.original.model.proto }, values);
  await streamProbe(bytes, `${ctx.original.model.path} (shapes)`, ctx.input.name, ctx.input.dynamicBatch, one, (outs) => {
    for (const t of outs.values()) elements += t.data.length;
    for (const p of plans) {
      const t = outs.get(p.orig.output[0])!;
      out.set(p.orig.output[0], p.ls?.kind === 'matmul' ? t.data.length / t.dims[t.dims.length - 1] : t.dims.slice(2).reduce((a, b) => a * b, 1));
    }
  }, { ep: ctx.opts.ep ?? 'auto', ...(ctx.opts.ort ? { ort: ctx.opts.ort } : {}), ...(ctx.opts.signal ? { signal: ctx.opts.signal } : {}) });
  return { spatial: out, elements };
}

/** Adds one batch's rows of one layer to its Gram accumulators (one per conv group). */
async function accumulate(ctx: Ctx, p: LayerPlan, layerIndex: number, x: ProbeTensor, offset: number, accs: GramAccumulator[], sumSq: Float64Array): Promise<void> {
  const g = p.ls!;
  const B = x.dims[0];
  const P = g.p;
  const O = g.outC;
  const rows = B * P;
  const k = g.unknowns;
  const y = p.y!.subarray(offset * P * O, (offset + B) * P * O);
  for (let r = 0; r < y.length; r += O)
    for (let j = 0; j < O; j++) {
      const v = y[r + j];
      sumSq[j] += v * v;
    }
  const threads = ctx.opts.threads ?? defaultRecoveryThreads();
  if (g.kind !== 'conv') {
    // Gemm: one row per input; MatMul: P sampled rows of its leading positions.
    const K = g.cinG;
    const X = patchRows(p, rows * k);
    const m = x.data.length / (B * K);
    for (let b = 0; b < B; b++) {
      const pos = g.kind === 'matmul' ? positionsFor(layerIndex, offset + b, m, P) : Int32Array.of(0);
      for (let r = 0; r < P; r++) {
        const src = (b * m + pos[r]) * K;
        const dst = (b * P + r) * k;
        X.set(x.data.subarray(src, src + K), dst);
        if (g.bias) X[dst + K] = 1;
      }
    }
    await accs[0].add(X, y, rows, threads);
    return;
  }
  const [, C, H, W] = x.dims;
  const { Ho, Wo, padTop, padLeft } = convOutput(g, H, W);
  const Og = O / g.groups;
  const X = patchRows(p, rows * k);
  const Yg = g.groups > 1 ? new Float32Array(rows * Og) : y;
  const kk = g.kh * g.kw;
  // Per image, the sampled positions whose patch lies inside the input (most of them) are copied
  // channel by channel: each channel's plane is read for all of them at once (the planes are far
  // apart in NCHW; a position at a time would touch every plane once per position).
  const inside = new Int32Array(P);
  const origin = new Int32Array(P);
  const data = x.data;
  for (let gi = 0; gi < g.groups; gi++) {
    if (gi > 0) X.fill(0, 0, rows * k);
    for (let b = 0; b < B; b++) {
      const pos = positionsFor(layerIndex, offset + b, Ho * Wo, P);
      let n = 0;
      for (let r = 0; r < P; r++) {
        const iy0 = Math.floor(pos[r] / Wo) * g.sh - padTop;
        const ix0 = (pos[r] % Wo) * g.sw - padLeft;
        if (iy0 >= 0 && iy0 + (g.kh - 1) * g.dh < H && ix0 >= 0 && ix0 + (g.kw - 1) * g.dw < W) {
          inside[n] = r;
          origin[n++] = iy0 * W + ix0;
        }
      }
      for (let c = 0; c < g.cinG; c++) {
        const plane = (b * C + gi * g.cinG + c) * H * W;
        for (let t = 0; t < n; t++) {
          let d = (b * P + inside[t]) * k + c * kk;
          const at = plane + origin[t];
          for (let a = 0; a < g.kh; a++) {
            let src = at + a * g.dh * W;
            for (let bb = 0; bb < g.kw; bb++, src += g.dw) X[d++] = data[src];
          }
        }
      }
      for (let t = 0; t < n; t++) X[(b * P + inside[t]) * k + k - 1] = 1;
      for (let r = 0, t = 0; r < P; r++) {
        if (t < n && inside[t] === r) {
          t++;
          continue;
        }
        const oy = Math.floor(pos[r] / Wo);
        const ox = pos[r] % Wo;
        const dst = (b * P + r) * k;
        for (let c = 0; c < g.cinG; c++) {
          const plane = (b * C + gi * g.cinG + c) * H * W;
          for (let a = 0; a < g.kh; a++) {
            const iy = oy * g.sh - padTop + a * g.dh;
            if (iy < 0 || iy >= H) continue;
            for (let bb = 0; bb < g.kw; bb++) {
              const ix = ox * g.sw - padLeft + bb * g.dw;
              if (ix < 0 || ix >= W) continue;
              X[dst + c * kk + a * g.kw + bb] = x.data[plane + iy * W + ix];
            }
          }
        }
        X[dst + k - 1] = 1;
      }
    }
    if (g.groups > 1) for (let r = 0; r < rows; r++) Yg.set(y.subarray(r * O + gi * Og, r * O + (gi + 1) * Og), r * Og);
    await accs[gi].add(X, Yg, rows, threads);
  }
}

/** The layer's reused row buffer, at least `length` long (its first `length` values zeroed). */
function patchRows(p: LayerPlan, length: number): Float32Array {
  if (!p.rows || p.rows.length < length) p.rows = new Float32Array(length);
  else p.rows.fill(0, 0, length);
  return p.rows;
}

function convOutput(g: LsGeometry, H: number, W: number): { Ho: number; Wo: number; padTop: number; padLeft: number } {
  const eh = (g.kh - 1) * g.dh + 1;
  const ew = (g.kw - 1) * g.dw + 1;
  if (g.autoPad === 'SAME_UPPER' || g.autoPad === 'SAME_LOWER') {
    const Ho = Math.ceil(H / g.sh);
    const Wo = Math.ceil(W / g.sw);
    const th = Math.max(0, (Ho - 1) * g.sh + eh - H);
    const tw = Math.max(0, (Wo - 1) * g.sw + ew - W);
    const upper = g.autoPad === 'SAME_UPPER';
    return { Ho, Wo, padTop: upper ? Math.floor(th / 2) : Math.ceil(th / 2), padLeft: upper ? Math.floor(tw / 2) : Math.ceil(tw / 2) };
  }
  if (g.autoPad === 'VALID') return { Ho: Math.floor((H - eh) / g.sh) + 1, Wo: Math.floor((W - ew) / g.sw) + 1, padTop: 0, padLeft: 0 };
  const Ho = Math.floor((H + g.padTop + g.padBottom - eh) / g.sh) + 1;
  const Wo = Math.floor((W + g.padLeft + g.padRight - ew) / g.sw) + 1;
  return { Ho, Wo, padTop: g.padTop, padLeft: g.padLeft };
}

/** Current weights of a layer as the prior W₀ of one group: k × Og (bias row last). */
function currentWeights(ctx: Ctx, p: LayerPlan, gi: number): Float64Array {
  const g = p.ls!;
  const n = p.node;
  const w = ctx.w.floats(n.input[1])!;
  const biasV = n.input[2] ? ctx.w.floats(n.input[2]) : undefined;
  const k = g.unknowns;
  const groups = g.kind === 'conv' ? g.groups : 1;
  const Og = g.outC / groups;
  const K = g.bias ? k - 1 : k;
  const out = new Float64Array(k * Og);
  const alpha = g.kind === 'gemm' ? attrFloat(n, 'alpha', 1) : 1;
  const beta = biasScale(n);
  const transB = g.kind === 'gemm' && attrInt(n, 'transB', 0) !== 0;
  for (let j = 0; j < Og; j++) {
    const o = gi * Og + j;
    for (let f = 0; f < K; f++) {
      let v: number;
      if (g.kind === 'conv') v = w[o * K + f];
      else if (transB) v = alpha * w[o * K + f];
      else v = alpha * w[f * g.outC + o];
      out[f * Og + j] = v;
    }
    if (g.bias) out[K * Og + j] = biasV ? beta * (biasV.length === 1 ? biasV[0] : biasV[o]) : 0;
  }
  // A conv followed by a BN whose running mean absorbs shifts: its effective bias includes −μ shifts
  // made earlier by other steps; the prior ignores that (the fit replaces the bias anyway).
  return out;
}

async function solveLayer(ctx: Ctx, p: LayerPlan, accs: GramAccumulator[], sumSq: Float64Array): Promise<void> {
  const g = p.ls!;
  const n = p.node;
  const k = g.unknowns;
  const groups = accs.length;
  const Og = g.outC / groups;
  const K = g.bias ? k - 1 : k;
  const ridge = ctx.opts.ridge ?? DEFAULT_RIDGE;
  const newW = new Float64Array(g.outC * K);
  const newB = new Float64Array(g.outC);
  let lambda = 0;
  let before = 0;
  let after = 0;
  let total = 0;
  let measured = true;
  for (let gi = 0; gi < groups; gi++) {
    const acc = accs[gi];
    await acc.finish();
    if (!allFinite(acc.xtx) || !allFinite(acc.xty))
      throw new PrunerError(`${n.name}: its input or output activations overflow on these calibration inputs (the least-squares products are not finite), so it cannot be refit`, { subject: n.name });
    const prior = currentWeights(ctx, p, gi);
    const res = await ridgeSolve(acc.xtx, acc.xty, k, Og, ridge, g.bias ? [k - 1] : [], prior, ctx.opts.threads ?? defaultRecoveryThreads());
    checkFinite(res.w, n, 'weight');
    lambda = Math.max(lambda, res.lambda);
    if (k * k * Og <= 5e7) {
      for (let j = 0; j < Og; j++) total += sumSq[gi * Og + j];
      before += await residual(acc, prior, k, Og, ctx.opts.threads ?? defaultRecoveryThreads());
      after += fittedResidual(acc, res.w, prior, res.lambda, g.bias ? k - 1 : -1, k, Og);
    } else measured = false;
    for (let j = 0; j < Og; j++) {
      const o = gi * Og + j;
      for (let f = 0; f < K; f++) newW[o * K + f] = res.w[f * Og + j];
      if (g.bias) newB[o] = res.w[K * Og + j];
    }
  }
  writeLayer(ctx, p, newW, newB);
  const rows = accs[0].rows;
  ctx.report.layers.push({
    name: n.name ?? '',
    op: n.op_type ?? '',
    step: 'ls',
    status: 'refit',
    unknowns: k,
    rows,
    lambda,
    ...(measured && total > 0 ? { errorBefore: Math.max(0, (total + before) / total), errorAfter: Math.max(0, (total + after) / total) } : {}),
    ...(rows < k ? { reason: `under-determined (${rows} rows for ${k} unknowns): regularised towards the pruned weights; more calibration inputs would help` } : {}),
  });
}

/** ‖Y − XW‖² from the Gram products: Σ_j (−2·(WᵀXᵀY)_jj + (WᵀXᵀXW)_jj), without the constant ‖Y‖² (added by the caller's total). */
async function residual(acc: GramAccumulator, w: Float64Array, k: number, o: number, threads: number): Promise<number> {
  const A = acc.xtx;
  const B = acc.xty;
  // XᵀX·W as one float64 product in ONNX Runtime where it is large
  const product = k * k * o >= 1e6 ? await ortProduct(threads) : undefined;
  if (product) {
    const aw = await product(A, w, k, k, o);
    let s = 0;
    for (let i = 0; i < k * o; i++) s += w[i] * (aw[i] - 2 * B[i]);
    return s;
  }
  // (XᵀX·W) row by row: XᵀX is read once, W (k × o) once per row.
  const aw = new Float64Array(o);
  let s = 0;
  for (let i = 0; i < k; i++) {
    aw.fill(0);
    const row = i * k;
    for (let l = 0; l < k; l++) {
      const a = A[row + l];
      if (a === 0) continue;
      const wl = l * o;
      for (let j = 0; j < o; j++) aw[j] += a * w[wl + j];
    }
    const wi = i * o;
    for (let j = 0; j < o; j++) s += w[wi + j] * (aw[j] - 2 * B[wi + j]);
  }
  return s;
}

/**
 * `residual` of the ridge solution W of (XᵀX + λ·D)·W = XᵀY + λ·D·W₀ without a k²·o product: there
 * XᵀX·W = XᵀY + λ·D·(W₀ − W), so WᵀXᵀXW − 2·WᵀXᵀY = −WᵀXᵀY + λ·Wᵀ·D·(W₀ − W) (D as in `ridgeSolve`:
 * 1, and 10⁻⁶ on the bias row `free`).
 */
function fittedResidual(acc: GramAccumulator, w: Float64Array, prior: Float64Array, lambda: number, free: number, k: number, o: number): number {
  const B = acc.xty;
  let s = 0;
  for (let i = 0; i < k; i++) {
    const d = i === free ? lambda * 1e-6 : lambda;
    const wi = i * o;
    for (let j = 0; j < o; j++) s += w[wi + j] * (d * (prior[wi + j] - w[wi + j]) - B[wi + j]);
  }
  return s;
}

function writeLayer(ctx: Ctx, p: LayerPlan, W: Float64Array, bias: Float64Array): void {
  const g = p.ls!;
  const n = p.node;
  const w = ctx.w;
  const dims = tensorDims(w.graph.constantTensor(n.input[1])!);
  const K = g.bias ? g.unknowns - 1 : g.unknowns;
  if (g.kind === 'conv') {
    w.setConstant(n, 1, dims, W);
  } else {
    const alpha = g.kind === 'gemm' ? attrFloat(n, 'alpha', 1) : 1;
    const transB = g.kind === 'gemm' && attrInt(n, 'transB', 0) !== 0;
    const out = new Float64Array(W.length);
    for (let o = 0; o < g.outC; o++)
      for (let f = 0; f < K; f++) {
        const v = W[o * K + f] / alpha;
        if (transB) out[o * K + f] = v;
        else out[f * g.outC + o] = v;
      }
    w.setConstant(n, 1, dims, out);
  }
  if (!g.bias) return;
  if (g.kind === 'gemm') {
    setBias(ctx, n, bias);
    return;
  }
  // Conv: where compensation folds (the running mean of the BN right after it, else its bias, else a
  // new bias). The fit replaces whatever the surgery's compensation folded there: a BN's mean starts
  // from the original's, less the part of the fitted bias the conv's own bias does not carry.
  const target = foldTarget(w.graph, n);
  const originalBn = target.kind === 'bn' ? ctx.original.graph.byName.get(target.bn.name ?? '') : undefined;
  const originalMean = originalBn?.input[3] ? ctx.original.graph.constantFloats(originalBn.input[3]) : undefined;
  if (target.kind === 'bn' && originalMean) {
    const own = outputBias(ctx, n, bias.length);
    const next = Float64Array.from(p.cols, (c, i) => originalMean[c] - (bias[i] - own[i]));
    checkFinite(next, n, 'running mean');
    w.setConstant(target.bn, 3, [next.length], next);
  } else setBias(ctx, n, bias);
}

// ---------- bias ----------

async function biasCorrection(ctx: Ctx): Promise<void> {
  const plans = planLayers(ctx, 'bias');
  if (!plans.length) return;
  ctx.opts.onProgress?.('recovery: original outputs', 0);
  await originalTargets(ctx, plans, false, true);
  const waves = byLevel(ctx.w.graph, plans.map((p) => p.node));
  const planOf = new Map(plans.map((p) => [p.node, p]));
  let done = 0;
  for (const wave of waves) {
    throwIfAborted(ctx.opts.signal);
    ctx.opts.onProgress?.('recovery: bias correction', done / plans.length);
    const items = wave.map((n) => planOf.get(n)!);
    const moments = items.map((p) => new ChannelMoments(p.cols.length));
    await runProbe(ctx, ctx.w, items.map((p) => p.node.output[0]), `bias ${done + 1}–${done + items.length} of ${plans.length}`, (outs) => {
      items.forEach((p, i) => moments[i].add(outs.get(p.node.output[0])!));
    });
    items.forEach((p, i) => {
      const want = p.moments!.mean();
      const have = moments[i].mean();
      const delta = Float64Array.from(want, (v, c) => v - have[c]);
      shiftOutput(ctx, p.node, delta);
      ctx.report.layers.push({ name: p.node.name ?? '', op: p.node.op_type ?? '', step: 'bias', status: 'refit', maxShift: delta.reduce((a, b) => Math.max(a, Math.abs(b)), 0) });
    });
    done += items.length;
  }
}

// ---------- bn ----------

async function bnRecalibration(ctx: Ctx): Promise<void> {
  const w = ctx.w;
  const bns: NodeProto[] = [];
  for (const n of w.graph.order) {
    if (n.op_type !== 'BatchNormalization' || (n.domain ?? '') !== '') continue;
    if (attrInt(n, 'training_mode', 0) !== 0) {
      skip(ctx, n, 'bn', 'in training mode (it computes its own batch statistics)');
      continue;
    }
    const mt = n.input[3] ? w.graph.constantTensor(n.input[3]) : undefined;
    const vt = n.input[4] ? w.graph.constantTensor(n.input[4]) : undefined;
    if (!mt || !vt || (mt.data_type !== DataType.FLOAT && mt.data_type !== DataType.DOUBLE) || (vt.data_type !== DataType.FLOAT && vt.data_type !== DataType.DOUBLE)) {
      skip(ctx, n, 'bn', 'its running mean and variance are not float constants');
      continue;
    }
    bns.push(n);
  }
  const waves = byLevel(w.graph, bns);
  let done = 0;
  for (const wave of waves) {
    throwIfAborted(ctx.opts.signal);
    ctx.opts.onProgress?.('recovery: BatchNorm statistics', done / bns.length);
    const moments = new Map<NodeProto, ChannelMoments>();
    await runProbe(ctx, w, [...new Set(wave.map((n) => n.input[0]))], `BatchNorm ${done + 1}–${done + wave.length} of ${bns.length}`, (outs) => {
      for (const n of wave) {
        const t = outs.get(n.input[0])!;
        let m = moments.get(n);
        if (!m) moments.set(n, (m = new ChannelMoments(t.dims[1])));
        m.add(t);
      }
    });
    for (const n of wave) {
      const m = moments.get(n)!;
      const mean = m.mean();
      const variance = m.variance();
      checkFinite(mean, n, 'running mean');
      checkFinite(variance, n, 'running variance');
      const oldMean = w.floats(n.input[3])!;
      let shift = 0;
      for (let c = 0; c < mean.length; c++) shift = Math.max(shift, Math.abs(mean[c] - oldMean[c]));
      w.setConstant(n, 3, [mean.length], mean);
      w.setConstant(n, 4, [variance.length], variance);
      ctx.report.layers.push({ name: n.name ?? '', op: 'BatchNormalization', step: 'bn', status: 'refit', maxShift: shift });
    }
    done += wave.length;
  }
}
