// The sensitivity scan: how much each prunable channel group tolerates. Every group is pruned
// alone at each ratio (the rest of the model whole), with the scan's criterion and recovery, and
// the pruned model is run on the scan inputs: output drift, top-1 agreement with the original, and
// accuracy when the inputs have labels.
//
// What makes it cheap:
//   - the model is analysed once (groups, scores) and pruned in memory (the surgery's lazy slices;
//     nothing is written but the cache);
//   - the scan inputs are read once and the original's outputs computed once;
//   - the activations at a group's input are computed once per group and only the graph after them
//     runs for each ratio: a sub-model cut from the pruned graph whose inputs are those tensors. They
//     are computed from the previous group's (the part of the original between the two cuts runs,
//     not the whole prefix: the prefixes together cost about one pass of the original). Recovery
//     that changes layers upstream of the group (BatchNorm recalibration touches every BN) runs the
//     whole pruned model instead;
//   - recovery's statistics are kept per group (OriginalActivations): the original's outputs at the
//     layers it refits and their inputs where those are the original's activations less the pruned
//     channels come from one pass of the original per group, read again for each ratio;
//   - a group's ratios stop once its loss passes `breakLoss`;
//   - ONNX Runtime on CUDA when present (the validation's provider choice), CPU otherwise.
// Results are cached beside the model (scan-cache.ts), keyed by the model's hash and the settings.
import * as path from 'node:path';
import { CancelledError, PrunerError, throwIfAborted } from '../errors.ts';
import { Graph } from '../graph/graph.ts';
import { floatType, segmentModel, type Segment } from '../graph/segment.ts';
import { inputShapeMismatch, valueInfoShape } from '../graph/shapes.ts';
import type { AnalysedModel } from '../analysed-model.ts';
import { isCriterion, type PlanCriterion } from '../analysis/criteria.ts';
import type { ChannelGroup, DependencyAnalysis } from '../analysis/types.ts';
import type { ModelImportance } from '../analysis/importance.ts';
import { addPlanScores } from '../recovery/criteria.ts';
import { OriginalActivations, recoverPruned } from '../recovery/recover.ts';
import { prunedGroupsOf } from '../prune/compensate.ts';
import { resolvePlan } from '../prune/plan.ts';
import { preparePreview, previewPlan } from '../prune/preview.ts';
import { pruneGraph } from '../prune/surgery.ts';
import { protectedFiles } from '../prune/prune.ts';
import { planOf, type PruningPlan } from '../prune/types.ts';
import { takeInputs } from '../data/open.ts';
import type { InputSet } from '../data/types.ts';
import type { RecoverMode } from '../recovery/types.ts';
import type { OnnxModel } from '../onnx/model.ts';
import { DataType, type ModelProto, type NodeProto } from '../onnx/proto.ts';
import { createSession, loadOrt, shortenError, type OrtModule } from '../runtime/session.ts';
import type { ExecutionProvider, ExecutionProviderChoice } from '../runtime/types.ts';
import { dataInput, defaultBatchSize, defaultRecoveryThreads } from '../recovery/working.ts';
import { argmaxRows } from '../runtime/run.ts';
import type { GroupSensitivity, ScanSettings, SensitivityPoint, SensitivityScan } from './types.ts';
import { hashModelFiles, readScanCache, scanCacheKey, writeScanCache } from './scan-cache.ts';

export const DEFAULT_SCAN_RATIOS: readonly number[] = [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9];
export const DEFAULT_SCAN_INPUTS = 64;
/** A group's scan stops once its loss passes this many points (agreement or accuracy). */
export const DEFAULT_BREAK_LOSS = 30;

export interface ScanOptions {
  /** Channel ranking within a group (default `l1`: it needs neither BatchNorm nor data). */
  criterion?: PlanCriterion;
  /** Recovery after each cut (default `auto`, as `prune`). Recovery fits on the scan inputs. */
  recover?: RecoverMode;
  /** Ratios tried per group (default 0.1 … 0.9), sorted increasing. */
  ratios?: readonly number[];
  /** Inputs the losses are measured on (the first ones of the data; default 64). */
  count?: number;
  /** Stop along a group's ratios once its loss passes this many points (default 30). */
  breakLoss?: number;
  roundTo?: number;
  minChannels?: number;
  /** Fold removed channels' expected outputs into the next layers (default true, as a plan). */
  compensate?: boolean;
  ep?: ExecutionProviderChoice;
  /** ONNX Runtime threads (default: every core, at most 4). */
  threads?: number;
  /** Run only the graph after a group's input on cached activations (default true). */
  cut?: boolean;
  /**
   * Keep, per group, the original's tensors recovery reads (its targets, and the inputs of the
   * layers it refits when they are the original's activations less the pruned channels), so the
   * group's later ratios read them instead of running ONNX Runtime (default true).
   */
  recoveryCache?: boolean;
  /** Bytes that cache holds per group (default 512 MiB). */
  recoveryCacheBytes?: number;
  /** Read and write the cache beside the model (default true). */
  cache?: boolean;
  /** Folder of the cache file (default: the model's folder). */
  cacheDir?: string;
  signal?: AbortSignal;
  /** Called after each point (and at each stage) with the share done and what is running. */
  onProgress?: (fraction: number, what: string) => void;
  ort?: OrtModule;
}

/** What a scan spends its time on (for benchmarks and reports). */
export interface ScanStats {
  /** ONNX Runtime passes over the scan inputs: the original's, the prefix runs for cached activations, one per point. */
  runs: number;
  /** Points whose model ran on cached activations (the graph after the group only). */
  cutRuns: number;
  /** Points that ran the whole pruned model. */
  fullRuns: number;
  /** Points that needed no run: nothing removed, or the same channels as the previous ratio (after rounding). */
  unchanged: number;
  /**
   * What the measuring runs cost in MACs, as a number of full passes of the original over the scan
   * inputs (the original once, the prefixes before the cuts, each pruned model or the part of it
   * after its cut; recovery's own passes not included): the cost without the machine's load.
   */
  macPasses: number;
  /** The part of `macPasses` spent computing the tensors at the cuts (each from the previous cut's: at most about one pass). */
  prefixPasses: number;
  /** Recovery's passes of the original to keep a group's tensors (one per group when its layers' inputs and targets fit in one), and its probe passes read from them instead. */
  recoveryFills: number;
  recoveryServed: number;
  /** Milliseconds in surgery + recovery, in building models, and in ONNX Runtime (session creation + runs). */
  pruneMs: number;
  buildMs: number;
  runMs: number;
}

/** A scan, with how it was computed (not cached). */
export type ScanResult = SensitivityScan & { stats?: ScanStats };

type OrtTensor = { type: string; data: unknown; dims: readonly number[] };

const ELEM_TYPES: Record<string, number> = {
  float32: DataType.FLOAT, float64: DataType.DOUBLE, float16: DataType.FLOAT16, int64: DataType.INT64, int32: DataType.INT32,
  int16: DataType.INT16, int8: DataType.INT8, uint8: DataType.UINT8, uint16: DataType.UINT16, uint32: DataType.UINT32, uint64: DataType.UINT64, bool: DataType.BOOL,
};

/** The scan settings the options give (the cache key is built from these and the data). */
export function scanSettings(data: InputSet, opts: ScanOptions = {}): ScanSettings {
  const ratios = [...(opts.ratios ?? DEFAULT_SCAN_RATIOS)].sort((a, b) => a - b);
  for (const r of ratios) if (!(r > 0 && r < 1)) throw new PrunerError(`scan ratios must be in (0, 1), got ${r}`);
  if (new Set(ratios).size !== ratios.length) throw new PrunerError(`scan ratios must be distinct, got ${ratios.join(', ')}`);
  const count = Math.min(opts.count ?? DEFAULT_SCAN_INPUTS, data.count);
  if (!Number.isInteger(count) || count < 1) throw new PrunerError(`scan input count must be an integer ≥ 1, got ${opts.count}`);
  return {
    criterion: opts.criterion ?? 'l1',
    recover: opts.recover ?? 'auto',
    ratios,
    inputs: count,
    data: `${path.basename(data.source)} (${count} of ${data.count} inputs${data.labels ? ', labelled' : ''})`,
    labelled: !!data.labels,
    breakLoss: opts.breakLoss ?? DEFAULT_BREAK_LOSS,
    roundTo: opts.roundTo ?? 1,
  };
}

/**
 * The model analysed at the data's size (whole input shapes, the file unchanged) when its one input
 * has symbolic sizes beyond the batch and no size was given: the allocation's MACs are then those the
 * scan measured. A model given sizes, or whose sizes are fixed, is returned as it is.
 */
export function atDataSize(model: AnalysedModel, sampleShape: readonly number[]): AnalysedModel {
  if (Object.keys(model.inputShapes).length || model.graph.inputs.length !== 1) return model;
  const input = model.graph.inputs[0]!;
  const declared = valueInfoShape(input);
  if (!declared || declared.length !== sampleShape.length + 1 || declared.slice(1).every((d) => typeof d === 'number')) return model;
  const shape = [typeof declared[0] === 'number' && declared[0] > 0 ? declared[0] : 1, ...sampleShape];
  if (inputShapeMismatch(input.name ?? '', declared, shape)) return model;
  return model.withInputShapes({ [input.name ?? '']: shape });
}

/**
 * The sensitivity of every prunable group of `model` on `data` (see the file comment). A scan
 * cancelled through `opts.signal` returns what it measured, marked `partial` (and cached so, so a
 * later scan with the same settings completes it); other errors throw.
 */
export async function scanSensitivity(model: AnalysedModel, data: InputSet, opts: ScanOptions = {}): Promise<ScanResult> {
  const t0 = performance.now();
  const settings = scanSettings(data, opts);
  const progress = opts.onProgress ?? (() => {});
  const signal = opts.signal;
  throwIfAborted(signal);
  const useCache = opts.cache !== false;
  const modelHash = hashModelFiles(model.model);
  const key = scanCacheKey(modelHash, settings, data, { compensate: opts.compensate ?? true, minChannels: opts.minChannels ?? 1 });
  const cacheOpts = { dir: opts.cacheDir, protect: protectedFiles(model) };
  let resumed: SensitivityScan | undefined;
  if (useCache) {
    const hit = readScanCache(model.path, key, cacheOpts);
    if (hit && !hit.partial) return { ...hit, source: 'cache', seconds: 0 };
    resumed = hit;
  }

  progress(0, 'analysing');
  // A model with symbolic input sizes is measured (and its MACs counted) at the data's size.
  model = atDataSize(model, data.sampleShape);
  const deps = model.dependencies(signal);
  const importance = await model.scores(isCriterion(settings.criterion) ? settings.criterion : [], { signal });
  addPlanScores(importance, settings.criterion, await model.planScores(settings.criterion, { calibration: data, ep: opts.ep ?? 'auto', ...(signal ? { signal } : {}) }));
  const cost = model.cost();
  // the previews count MACs at the sizes the model is analysed at
  preparePreview(model.graph, deps, cost, model.inputShapes);
  const inputs = takeInputs(data, settings.inputs);
  const runner = await ScanRunner.create(model, inputs, opts);
  const stats: ScanStats = { runs: 0, cutRuns: 0, fullRuns: 0, unchanged: 0, macPasses: 0, prefixPasses: 0, recoveryFills: 0, recoveryServed: 0, pruneMs: 0, buildMs: 0, runMs: 0 };
  const layerMacs = new Map(cost.layers.map((l) => [l.name, l.macs]));
  /** Share of the model's MACs (weighted layers) in these nodes. */
  const macsOf = (nodes: Iterable<string>) => {
    let m = 0;
    for (const n of nodes) m += layerMacs.get(n) ?? 0;
    return cost.layerMacs > 0 ? m / cost.layerMacs : 1;
  };
  /** Share of the model's MACs in the nodes after a cut. */
  const macShare = (c: GroupCut) => macsOf(c.nodes);

  const groups = scannable(deps);
  const scan: ScanResult = {
    modelHash,
    settings,
    baseline: { macs: cost.macs, params: cost.params },
    groups: groups.map((g) => resumed?.groups.find((r) => r.group === g.id && sameLayers(r.layers, g.layers)) ?? { group: g.id, layers: [...g.layers], channels: g.channels, points: [] }),
    partial: true,
    seconds: 0,
    source: 'computed',
    stats,
  };
  const save = () => {
    if (!useCache) return;
    scan.seconds = round1((performance.now() - t0) / 1000);
    writeScanCache(model.path, key, scan, cacheOpts);
  };
  try {
    progress(0.02, 'original outputs');
    const tr = performance.now();
    await runner.original();
    stats.runs++;
    stats.macPasses++;
    stats.runMs += performance.now() - tr;
    if (data.labels) scan.baseline.accuracy = runner.baselineAccuracy();
    const total = groups.length * settings.ratios.length;
    let done = 0;
    for (let gi = 0; gi < groups.length; gi++) {
      const g = groups[gi];
      const entry = scan.groups[gi];
      if (complete(entry, settings)) {
        done += settings.ratios.length;
        continue;
      }
      const constValues = model.shapes().constValues;
      const cut = opts.cut === false ? undefined : new GroupCut(model.graph, g, (v) => constValues.has(v));
      let cutReady = false;
      let cutFailed = false;
      let lastKept: { kept: number[]; point: SensitivityPoint } | undefined;
      // the original's tensors recovery reads for this group, kept across its ratios
      const activations = opts.recoveryCache === false ? undefined : new OriginalActivations(opts.recoveryCacheBytes);
      for (const ratio of settings.ratios) {
        if (entry.points.some((p) => p.ratio === ratio)) {
          done++;
          continue;
        }
        throwIfAborted(signal);
        progress(0.05 + (0.95 * done) / total, `${entry.layers[0] ?? `group ${g.id}`} at ${ratio}`);
        const plan = singleGroupPlan(g, ratio, settings, opts);
        const resolved = resolvePlan(plan, deps, importance);
        const kept = resolved.kept.get(g.id);
        const preview = previewPlan(model.graph, deps, resolved);
        const base = { ratio, kept: kept?.length ?? g.channels, macs: preview.macs.after, params: preview.params.after };
        let point: SensitivityPoint;
        const same = kept && lastKept && lastKept.kept.length === kept.length && lastKept.kept.every((c, i) => c === kept[i]) ? lastKept.point : undefined;
        if (same) {
          // the rounding gives the same channels as the previous ratio: the same model
          stats.unchanged++;
          point = { ...same, ...base };
        } else if (!kept) {
          stats.unchanged++;
          point = { ...base, loss: 0, agreement: 1, drift: 0, ...(data.labels ? { accuracy: scan.baseline.accuracy } : {}) };
        } else {
          const tp = performance.now();
          const result = pruneGraph(model.graph, deps, resolved, { compensate: plan.compensate ?? true, lazy: true, signal });
          const recovered = await recoverPruned({ model: model.model, graph: model.graph }, result.model, prunedGroupsOf(deps.groups, resolved.kept), {
            mode: settings.recover,
            calibration: inputs,
            ep: opts.ep ?? 'auto',
            compensated: plan.compensate ?? true,
            ...(activations ? { activations } : {}),
            ...(opts.threads ? { threads: opts.threads } : {}),
            ...(opts.ort ? { ort: opts.ort } : {}),
            ...(signal ? { signal } : {}),
          });
          stats.pruneMs += performance.now() - tp;
          stats.runs += recovered.report.passes;
          // BatchNorm recalibration changes BNs upstream of the group too: the whole model runs.
          const upstreamChanged = recovered.report.steps.includes('bn');
          let useCut = cut && !upstreamChanged && cut.worthIt && !cutFailed;
          if (useCut && !cutReady) {
            const tc = performance.now();
            try {
              const ran = await runner.cacheActivations(cut!);
              cutReady = true;
              stats.macPasses += macsOf(ran);
              stats.prefixPasses += macsOf(ran);
            } catch (e) {
              if (!(e instanceof PrunerError)) throw e;
              // tensors at the cut ONNX Runtime cannot hand back as they are: run whole models
              cutFailed = true;
              useCut = false;
              runner.dropActivations();
            }
            stats.runs++;
            stats.runMs += performance.now() - tc;
          }
          const m = await runner.measure(recovered.model, useCut ? cut : undefined, stats);
          stats.runs++;
          if (useCut) stats.cutRuns++;
          else stats.fullRuns++;
          point = { ...base, ...m };
          stats.macPasses += Math.max(0, (useCut ? macShare(cut!) : 1) - (cost.macs - point.macs) / Math.max(1, cost.macs));
        }
        if (kept) lastKept = { kept, point };
        entry.points.push(point);
        entry.points.sort((a, b) => a.ratio - b.ratio);
        done++;
        if (point.loss > settings.breakLoss) {
          entry.stoppedEarly = true;
          done += settings.ratios.filter((r) => r > ratio).length;
          break;
        }
      }
      // the tensors at this cut stay: the next group's are computed from them
      if (activations) {
        stats.recoveryFills += activations.passes;
        stats.recoveryServed += activations.served;
      }
      save();
    }
    scan.partial = false;
  } catch (e) {
    if (!(e instanceof CancelledError) && !signal?.aborted) throw e;
    scan.partial = true;
  } finally {
    runner.dropActivations();
  }
  stats.macPasses = round1(stats.macPasses);
  stats.prefixPasses = round1(stats.prefixPasses);
  scan.seconds = round1((performance.now() - t0) / 1000);
  if (useCache) writeScanCache(model.path, key, scan, cacheOpts);
  progress(1, scan.partial ? 'cancelled' : 'done');
  return scan;
}

const round1 = (v: number) => Math.round(v * 10) / 10;

function sameLayers(a: readonly string[], b: readonly string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Every ratio measured, or stopped early. */
function complete(g: GroupSensitivity, s: ScanSettings): boolean {
  return g.stoppedEarly === true || s.ratios.every((r) => g.points.some((p) => p.ratio === r));
}

/** Prunable groups a plan can name (by their first weighted layer). */
function scannable(deps: DependencyAnalysis): ChannelGroup[] {
  return deps.groups.filter((g) => g.prunable && g.layers.length > 0);
}

/** A plan pruning group `g` alone at `ratio`. */
function singleGroupPlan(g: ChannelGroup, ratio: number, s: ScanSettings, opts: ScanOptions): PruningPlan {
  return planOf({
    criterion: s.criterion,
    scope: 'uniform',
    ratio: 0,
    overrides: { [g.layers[0]]: { ratio } },
    roundTo: s.roundTo,
    ...(opts.minChannels !== undefined ? { minChannels: opts.minChannels } : {}),
    compensate: opts.compensate ?? true,
  });
}

/**
 * Where the graph is cut for one group: the nodes downstream of the group's members (its layers,
 * their BatchNorms, the layers reading its channels) change when it is pruned; everything else
 * computes the same values as in the original. `values` are the tensors the changed part reads
 * from the unchanged part: computed once on the original, they feed the changed part for each ratio.
 */
export class GroupCut {
  readonly values: string[];
  /** Names of the nodes after the cut (the part that runs for each ratio). */
  readonly nodes: Set<string>;
  /** Share of the model's nodes after the cut (a cut at the model input saves nothing). */
  readonly share: number;

  constructor(graph: Graph, group: ChannelGroup, shapeValue: (v: string) => boolean = () => false) {
    const changed = new Set<NodeProto>();
    const stack: NodeProto[] = [];
    for (const m of group.members) {
      const n = graph.byName.get(m.node);
      if (n && !changed.has(n)) {
        changed.add(n);
        stack.push(n);
      }
    }
    while (stack.length) {
      const n = stack.pop()!;
      for (const o of n.output) {
        if (!o) continue;
        for (const c of graph.consumersOf(o)) {
          if (changed.has(c)) continue;
          changed.add(c);
          stack.push(c);
        }
      }
    }
    // Shape arithmetic (integer tensors computed from shapes) is recomputed after the cut, so the
    // tensors at the cut are activations.
    const values = new Set<string>();
    const todo = [...changed];
    while (todo.length) {
      const n = todo.pop()!;
      for (const i of n.input) {
        if (!i || graph.constantTensor(i)) continue;
        const p = graph.producer.get(i);
        if (p && changed.has(p)) continue;
        if (p && shapeValue(i)) {
          changed.add(p);
          todo.push(p);
          continue;
        }
        values.add(i);
      }
    }
    for (const n of changed) for (const o of n.output) values.delete(o);
    this.values = [...values];
    this.nodes = new Set([...changed].map((n) => n.name ?? ''));
    this.share = changed.size / Math.max(1, graph.order.length);
  }

  /** Whether the cut saves work: something runs before it. */
  get worthIt(): boolean {
    return this.share < 0.97;
  }
}

/** Runs the original once, the per-group prefixes once, and each pruned variant, on the scan inputs in memory. */
export class ScanRunner {
  private batches: { data: Float32Array; count: number }[] = [];
  private origOut: Float32Array[] = [];
  private origTop: Int32Array[] = [];
  private activations: Map<string, OrtTensor>[] | undefined;
  private cutValues: Set<string> | undefined;
  provider: ExecutionProvider = 'cpu';
  fallbackReason: string | undefined;

  private constructor(
    private readonly model: AnalysedModel,
    private readonly data: InputSet,
    private readonly ort: OrtModule,
    private readonly opts: ScanOptions,
    private readonly inputName: string,
    private readonly outputName: string,
  ) {}

  static async create(model: AnalysedModel, data: InputSet, opts: ScanOptions): Promise<ScanRunner> {
    const input = dataInput(model.graph, model.path, 'the scan');
    const out = model.model.proto.graph?.output[0]?.name;
    if (!out) throw new PrunerError(`${model.path}: the model has no output`, { subject: model.path });
    const r = new ScanRunner(model, data, opts.ort ?? (await loadOrt()), opts, input.name, out);
    const sample = data.sampleShape.reduce((a, b) => a * b, 1);
    const size = input.dynamicBatch ? Math.min(data.count, defaultBatchSize(sample)) : 1;
    for await (const b of data.batches(size, opts.signal)) r.batches.push({ data: b.data.slice(), count: b.count });
    return r;
  }

  private async session(bytes: Uint8Array, what: string) {
    const s = await createSession({ bytes, name: `${this.model.fileName} (${what})` }, this.opts.ep ?? 'auto', { threads: this.opts.threads ?? defaultRecoveryThreads(), ort: this.ort });
    this.provider = s.provider;
    if (s.fallbackReason) this.fallbackReason = s.fallbackReason;
    return s.session;
  }

  private inputTensor(i: number): OrtTensor {
    const b = this.batches[i];
    return new this.ort.Tensor('float32', b.data, [b.count, ...this.data.sampleShape]) as unknown as OrtTensor;
  }

  private async run(session: Awaited<ReturnType<ScanRunner['session']>>, feeds: Record<string, OrtTensor>, what: string): Promise<Record<string, OrtTensor>> {
    throwIfAborted(this.opts.signal);
    try {
      return (await session.run(feeds as never)) as unknown as Record<string, OrtTensor>;
    } catch (e) {
      throw new PrunerError(`${this.model.fileName}: ONNX Runtime failed on the scan inputs (${what}: ${shortenError(e)})`, { subject: this.model.path, cause: e });
    }
  }

  /** The original's first output on every scan input, and its top-1. */
  async original(): Promise<void> {
    const w = this.model;
    const bytes = subModel(w.model, w.graph, w.model.proto, new Set([this.inputName]), new Map([[this.inputName, DataType.FLOAT]]), this.outputName);
    const s = await this.session(bytes, 'original');
    try {
      for (let i = 0; i < this.batches.length; i++) {
        const out = await this.run(s, { [this.inputName]: this.inputTensor(i) }, 'original');
        const y = floats(out[this.outputName], this.outputName);
        this.origOut.push(y);
        this.origTop.push(top1(y, this.batches[i].count));
      }
    } finally {
      await s.release();
    }
  }

  baselineAccuracy(): number {
    const labels = this.data.labels!;
    let hits = 0;
    let k = 0;
    for (const t of this.origTop) for (const c of t) if (c === labels[k++]) hits++;
    return hits / this.data.count;
  }

  /**
   * The tensors at the cut, on every scan input: one run of the original's part before the cut,
   * from the tensors at the previous cut where those are on the way (the original's activations
   * too), else from the model input. Returns the names of the nodes that ran.
   */
  async cacheActivations(cut: GroupCut): Promise<Set<string>> {
    const values = cut.values.filter((v) => v !== this.inputName);
    const prev = this.activations;
    this.dropActivations();
    this.cutValues = new Set(cut.values);
    const acts: Map<string, OrtTensor>[] = this.batches.map(() => new Map());
    this.activations = acts;
    if (!values.length) return new Set();
    const w = this.model;
    const from = new Set([this.inputName]);
    const types = new Map<string, number>([[this.inputName, DataType.FLOAT]]);
    if (prev) for (const [k, t] of prev[0] ?? []) {
      from.add(k);
      types.set(k, ELEM_TYPES[t.type] ?? DataType.FLOAT);
    }
    // a value already held is kept as it is
    const missing = values.filter((v) => !prev?.[0]?.has(v));
    for (let i = 0; i < this.batches.length; i++) for (const v of values) if (!missing.includes(v)) acts[i].set(v, prev![i].get(v)!);
    if (!missing.length) return new Set();
    const { bytes, nodes, inputs } = subModelOf(w.model, w.graph, w.model.proto, from, types, missing);
    const s = await this.session(bytes, 'activations');
    try {
      for (let i = 0; i < this.batches.length; i++) {
        const feeds: Record<string, OrtTensor> = {};
        for (const name of inputs) feeds[name] = name === this.inputName ? this.inputTensor(i) : prev![i].get(name)!;
        const out = await this.run(s, feeds, 'activations');
        for (const v of missing) acts[i].set(v, out[v]);
      }
    } finally {
      await s.release();
    }
    return nodes;
  }

  dropActivations(): void {
    this.activations = undefined;
    this.cutValues = undefined;
  }

  /** Runs a pruned model (the part after the cut, when given) and compares with the original. */
  async measure(proto: ModelProto, cut: GroupCut | undefined, stats: ScanStats): Promise<Omit<SensitivityPoint, 'ratio' | 'kept' | 'macs' | 'params'>> {
    const tb = performance.now();
    const m = { ...this.model.model, proto };
    const graph = new Graph(m);
    const acts = cut ? this.activations : undefined;
    const cutSet = cut && acts ? this.cutValues! : new Set([this.inputName]);
    const types = new Map<string, number>([[this.inputName, DataType.FLOAT]]);
    if (acts) for (const [k, v] of acts[0] ?? []) types.set(k, ELEM_TYPES[v.type] ?? DataType.FLOAT);
    const bytes = subModel(m, graph, proto, cutSet, types, this.outputName);
    stats.buildMs += performance.now() - tb;
    const tr = performance.now();
    const s = await this.session(bytes, cut ? 'after the cut' : 'pruned');
    const labels = this.data.labels;
    let agree = 0;
    let hits = 0;
    let drift = 0;
    let k = 0;
    try {
      const wanted = new Set(s.inputNames);
      for (let i = 0; i < this.batches.length; i++) {
        const feeds: Record<string, OrtTensor> = {};
        if (wanted.has(this.inputName)) feeds[this.inputName] = this.inputTensor(i);
        if (acts) for (const [name, t] of acts[i]) if (wanted.has(name)) feeds[name] = t;
        const out = await this.run(s, feeds, 'pruned');
        const y = floats(out[this.outputName], this.outputName);
        const count = this.batches[i].count;
        const t = top1(y, count);
        const o = this.origOut[i];
        const ot = this.origTop[i];
        const per = y.length / count;
        for (let b = 0; b < count; b++, k++) {
          if (t[b] === ot[b]) agree++;
          if (labels && t[b] === labels[k]) hits++;
          let d2 = 0;
          let n2 = 0;
          for (let j = b * per; j < (b + 1) * per; j++) {
            const d = y[j] - o[j];
            d2 += d * d;
            n2 += o[j] * o[j];
          }
          drift += n2 > 0 ? Math.sqrt(d2 / n2) : Math.sqrt(d2);
        }
      }
    } finally {
      await s.release();
      stats.runMs += performance.now() - tr;
    }
    const n = this.data.count;
    const agreement = agree / n;
    const accuracy = labels ? hits / n : undefined;
    const loss = labels ? (this.baselineAccuracy() - accuracy!) * 100 : (1 - agreement) * 100;
    return { loss: round4(loss), agreement, drift: drift / n, ...(accuracy !== undefined ? { accuracy } : {}) };
  }
}

const round4 = (v: number) => Math.round(v * 1e4) / 1e4;

function floats(t: OrtTensor | undefined, name: string): Float32Array {
  if (!t || !(t.data instanceof Float32Array)) throw new PrunerError(`output ${name} is not float32; the scan compares float outputs`, { subject: name });
  return t.data;
}

/** Index of the largest value of each sample's output (flattened). */
function top1(y: Float32Array, count: number): Int32Array {
  return argmaxRows(y, count, y.length / count);
}

/**
 * The bytes of the part of `proto` that computes `output` from the values in `cut` (graph inputs of
 * the new model, typed by `types`): nodes that depend only on initializers are kept.
 */
export function subModel(model: OnnxModel, graph: Graph, proto: ModelProto, cut: ReadonlySet<string>, types: ReadonlyMap<string, number>, output: string): Uint8Array {
  return subModelOf(model, graph, proto, cut, types, [output]).bytes;
}

/**
 * The part of `proto` that computes `outputs` from the values in `cut`: its bytes, the names of
 * its nodes, and the values of `cut` it reads (its inputs).
 */
export function subModelOf(model: OnnxModel, graph: Graph, proto: ModelProto, cut: ReadonlySet<string>, types: ReadonlyMap<string, number>, outputs: readonly string[]): Segment {
  return segmentModel(model, graph, proto, outputs, new Map([...cut].map((v) => [v, floatType(undefined, types.get(v) ?? DataType.FLOAT)] as const)), 'none');
}

export type { ModelImportance };
