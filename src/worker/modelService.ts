// One open model in the engine worker: loaded and analysed once, then answering the view's
// questions (pages of rows, histograms, channel scores, plan previews) from what it computed.
// Two phases, so a big model's table shows before its channels are scored: `openStructure`
// (load, graph, shapes, cost, coupled groups: the rows without score statistics), then `score`
// (BN γ, L1, L2 and their statistics); FPGM, the costly criterion, is computed when the view first
// asks for it (ensureCriteria). No vscode import: the worker thread runs it, and
// tests can call it directly.
import * as os from 'node:os';
import * as path from 'node:path';
import {
  addPlanScores, AnalysedModel, applyBlockSelection, blockParams, isCriterion, isDataCriterion, blockRanking, findResidualBlocks, CHEAP_CRITERIA, CRITERIA, availableProviders, computeCost, layerChannels,
  macsCaveat, planEffect, planOf, preparePreview, previewPlan, PrunerError, pruneAnalysed, removedChannels, resolvePlan, validatePlan, throwIfAborted, validatePruned, withCost,
  type ChannelGroup, type DependencyAnalysis, type ModelImportance, type ModelReader, type ModelStats, type ModelSummary, type PruneReport, type PruningPlan, type ValidationReport,
  type BlockScan, type ResidualBlock, type ScoreStats as EngineStats, type PruneOptions, type ValidateOptions, type InputShapes, bindInputShapes, valueInfoShape,
} from '../engine/index.ts';
import type {
  Criterion, GroupListEntry, ViewBlocks, Histogram, LayerDetail, LayerPage, LayerQuery, LayerRow, PlanPreview, ScoreStats, SortKey, ViewPlan, ViewSummary,
} from '../shared/protocol.ts';
import type { DataJob, PruneJob } from './protocol.ts';
import { firstBatch, openData, pruneDataOptions } from './data.ts';

/** A plan-time criterion's group scores, on the open model or on a variant of it (the model without some blocks). */
export type PlanScoresFor = (on?: { analysed: AnalysedModel; key: string }) => Promise<Map<number, Float32Array>>;

export interface JobContext {
  signal: AbortSignal;
  progress: (stage: string, fraction?: number) => void;
}

/** The engine's plan document for a plan edited in the view. */
export function toPlan(p: ViewPlan, model?: string): PruningPlan {
  return planOf({ ...p, model });
}

function viewStats(s: EngineStats | undefined): ScoreStats | undefined {
  if (!s) return undefined;
  return { min: s.min, q1: s.q1, median: s.median, q3: s.q3, max: s.max, mean: s.mean, below: s.below };
}

export class ModelService {
  private rows: LayerRow[] = [];
  private readonly groupById = new Map<number, ChannelGroup>();
  private viewSummary!: ViewSummary;
  private scores: { importance: ModelImportance; stats: ModelStats } | undefined;
  private residual: ResidualBlock[] | undefined;
  /** The model without some blocks, analysed (by the sorted block names), for previews: the last few. */
  private readonly withoutBlocks = new Map<string, AnalysedModel>();
  /** Block data scores measured on the view's data, by the data's key (worker/target.ts). */
  readonly blockScans = new Map<string, BlockScan>();

  private constructor(
    /** The model, its graph, groups and (after `score`) its scores: what a prune from the view starts from. */
    readonly analysed: AnalysedModel,
    readonly summaryData: ModelSummary,
    readonly deps: DependencyAnalysis,
  ) {
    for (const g of deps.groups) this.groupById.set(g.id, g);
    this.buildRows();
    this.buildSummary();
  }

  /** Phase 1: load, index, shapes and cost, coupled groups. Rows and summary are ready; scores are not. */
  static async openStructure(file: string, ctx: JobContext, reader?: ModelReader, inputShapes?: InputShapes): Promise<ModelService> {
    const { signal, progress } = ctx;
    progress('Reading the model', 0.05);
    const analysed = AnalysedModel.load(file, { reader, signal, inputShapes });
    return ModelService.analyse(analysed, ctx);
  }

  /**
   * The same model (not read again) analysed afresh with other input sizes: shapes, MACs, groups
   * and previews follow them; the channels are scored again (`score`).
   */
  async withInputShapes(inputShapes: InputShapes, ctx: JobContext): Promise<ModelService> {
    ctx.progress('Analysing with the new input size', 0.05);
    return ModelService.analyse(this.analysed.withInputShapes(inputShapes), ctx);
  }

  /** Throws a PrunerError naming the file and input when `inputShapes` do not fit this model's inputs. */
  checkInputShapes(inputShapes: InputShapes): void {
    try {
      bindInputShapes(this.graph, inputShapes);
    } catch (e) {
      throw new PrunerError(`${path.basename(this.file)}: ${(e as Error).message}`, { subject: this.file });
    }
  }

  private static async analyse(analysed: AnalysedModel, ctx: JobContext): Promise<ModelService> {
    const { signal, progress } = ctx;
    throwIfAborted(signal);
    progress('Indexing the graph', 0.2);
    void analysed.graph;
    progress('Inferring shapes and cost', 0.3);
    const summary = analysed.summary(signal);
    throwIfAborted(signal);
    progress('Finding coupled channels', 0.45);
    const deps = analysed.dependencies(signal);
    throwIfAborted(signal);
    preparePreview(analysed.graph, deps, analysed.cost(), analysed.inputShapes);
    return new ModelService(analysed, summary, deps);
  }

  get file(): string {
    return this.analysed.path;
  }

  get graph() {
    return this.analysed.graph;
  }

  /**
   * Phase 2: channel scores by the cheap criteria (BN γ, L1, L2) and their statistics; rows and
   * summary are rebuilt with them. FPGM is computed when first asked for (ensureCriteria).
   */
  async score(ctx: JobContext): Promise<void> {
    if (this.scores) return;
    const { signal, progress } = ctx;
    progress('Scoring channels (BN γ, L1, L2)', 0.6);
    const importance = await this.analysed.scores(CHEAP_CRITERIA, { signal });
    throwIfAborted(signal);
    progress('Computing statistics', 0.9);
    const stats = await this.analysed.stats(CHEAP_CRITERIA);
    this.scores = { importance, stats };
    this.buildRows();
    this.buildSummary();
    progress('Ready', 1);
  }

  /**
   * Computes the criteria not computed yet (FPGM when the view first shows, sorts or plans by it),
   * then rebuilds statistics and rows. Concurrent calls share one computation.
   */
  async ensureCriteria(criteria: readonly Criterion[], ctx: JobContext): Promise<void> {
    if (!this.scores) await this.score(ctx);
    const scores = this.scores!;
    const missing = criteria.filter((c) => !scores.importance.criteria.includes(c));
    if (!missing.length) return;
    const key = missing.join(',');
    let job = this.pending.get(key);
    if (!job) {
      job = (async () => {
        ctx.progress(`Scoring channels (${missing.map((c) => c.toUpperCase()).join(', ')})`, 0.6);
        // one core is left to VS Code's UI while the channels are scored
        await this.analysed.scores(missing, { signal: ctx.signal, threads: Math.max(1, os.availableParallelism() - 1) });
        scores.stats = await this.analysed.stats(missing);
        this.buildRows();
        ctx.progress('Ready', 1);
      })().finally(() => this.pending.delete(key));
      this.pending.set(key, job);
    }
    await job;
  }

  private readonly pending = new Map<string, Promise<void>>();

  get scored(): boolean {
    return this.scores !== undefined;
  }

  /** The scores, for the questions that need them (histograms, channel scores, plans). */
  private get importance(): ModelImportance {
    if (!this.scores) throw new PrunerError(`${path.basename(this.file)}: channels are still being scored`);
    return this.scores.importance;
  }

  private buildRows(): void {
    const statsByLayer = new Map((this.scores?.stats.layers ?? []).map((l) => [l.name, l]));
    this.rows = this.summaryData.layers.map((l) => {
      const gid = this.deps.groupOfLayer.get(l.name);
      const g = gid !== undefined ? this.groupById.get(gid) : undefined;
      const st = statsByLayer.get(l.name);
      const imp = this.scores?.importance.layers.get(l.name);
      const stats: LayerRow['stats'] = {};
      for (const c of CRITERIA) {
        const v = viewStats(st?.criteria[c]);
        if (v) stats[c] = v;
      }
      const row: LayerRow = {
        name: l.name,
        op: l.op,
        channels: imp?.channels ?? layerChannels(this.graph, l.name) ?? l.weightShape[0] ?? 0,
        params: l.params,
        macs: l.macs,
        groupId: gid ?? null,
        prunable: g?.prunable ?? false,
        bnFused: imp?.bnFused ?? false,
        stats,
      };
      if (g && !g.prunable && g.reason) row.frozenReason = g.reason;
      if (!g) row.frozenReason = 'its output channels are not in any channel group (no dependency analysis for this layer)';
      if (imp?.bn ?? l.bn) row.bn = imp?.bn ?? l.bn;
      if (imp?.gammaFrom) row.gammaFrom = [...imp.gammaFrom];
      return row;
    });
  }

  private buildSummary(): void {
    const s = this.summaryData;
    const meta = new Map((this.graph.model.proto.metadata_props ?? []).map((e) => [e.key ?? '', e.value ?? '']));
    let prunedFrom: ViewSummary['prunedFrom'];
    if (meta.has('onnx_pruner.widths')) {
      try {
        prunedFrom = { source: meta.get('onnx_pruner.source') ?? '', widths: JSON.parse(meta.get('onnx_pruner.widths')!), criterion: meta.get('onnx_pruner.criterion') };
      } catch {
        prunedFrom = undefined;
      }
    }
    const prunableGroups = this.deps.groups.filter((g) => g.prunable);
    // the inputs as the file declares them (symbolic sizes kept, `?` for a size without a name)
    const declared = new Map(this.graph.inputs.map((v) => [v.name ?? '', valueInfoShape(v)]));
    const inputs = s.inputs.map((t) => ({ name: t.name, elemType: t.elemType, shape: declared.get(t.name) ?? t.shape }));
    const proposed = proposeInputShapes(inputs, meta);
    this.viewSummary = {
      file: s.file,
      fileName: s.name,
      sizeOnDisk: s.sizeOnDisk,
      irVersion: s.irVersion,
      opsets: Object.entries(s.opsets).map(([domain, version]) => ({ domain, version })),
      producer: [s.producer.name, s.producer.version].filter(Boolean).join(' '),
      inputs,
      outputs: s.outputs.map((t) => ({ name: t.name, elemType: t.elemType, shape: t.shape })),
      params: s.params,
      macs: s.macs,
      batchAssumed: s.batchAssumed,
      macsComplete: s.macsComplete,
      inputShapes: structuredClone(this.analysed.inputShapes),
      ...(proposed ? { proposedShapes: proposed } : {}),
      nodeCount: s.nodes,
      layerCount: this.rows.length,
      prunableLayerCount: this.rows.filter((r) => r.prunable).length,
      groupCount: this.deps.groups.length,
      prunableGroupCount: prunableGroups.length,
      bnCount: s.bnCount,
      bnFused: s.bnFused,
      advice: [...new Set([...s.advice, ...(this.scores?.importance.advice ?? []), ...s.notes])],
      providers: [],
      scored: this.scored,
      trusted: false,
      blockCount: this.residualBlocks.length,
      removableBlockCount: this.residualBlocks.filter((b) => b.removable).length,
      ...(prunedFrom ? { prunedFrom } : {}),
    };
  }

  summary(): ViewSummary {
    return this.viewSummary;
  }

  /** The residual blocks (found once). */
  get residualBlocks(): ResidualBlock[] {
    return (this.residual ??= findResidualBlocks(this.graph));
  }

  /** The residual blocks as the view lists them, weakest first (by the data scores of `scan` when given, else by γ). */
  blocks(scan?: BlockScan): ViewBlocks {
    const byName = new Map(this.residualBlocks.map((b) => [b.name, b]));
    const layerParams = new Map(this.analysed.cost().layers.map((l) => [l.name, l.params]));
    const blocks = blockRanking(this.residualBlocks, scan?.scores).map((r) => ({
      name: r.name,
      nodes: r.nodes.length,
      params: blockParams(this.graph, byName.get(r.name)!, layerParams),
      ...(r.lastBn ? { lastBn: r.lastBn } : {}),
      gamma: r.score,
      shortcut: r.shortcut,
      channels: r.channels,
      removable: r.removable,
      ...(r.reason ? { reason: r.reason } : {}),
      ...(r.data ? { data: { ...r.data } } : {}),
    }));
    return { blocks, ...(scan ? { measured: { data: scan.data, inputs: scan.inputs, labelled: scan.labelled, seconds: scan.seconds } } : {}) };
  }

  /** The model without the named blocks, analysed (kept for the next previews of the same blocks). */
  private without(names: readonly string[]): AnalysedModel {
    const key = JSON.stringify([...names].sort());
    let work = this.withoutBlocks.get(key);
    if (!work) {
      const { graph } = applyBlockSelection(this.graph, { names: [...names] });
      work = new AnalysedModel(graph.model, { inputShapes: this.analysed.inputShapes }, graph);
      this.withoutBlocks.set(key, work);
      if (this.withoutBlocks.size > 4) this.withoutBlocks.delete(this.withoutBlocks.keys().next().value!);
    }
    return work;
  }

  /** Every channel group: its layers, its other members (one entry per node and role), prunable or why not. */
  groups(): GroupListEntry[] {
    return this.deps.groups.map((g) => {
      const seen = new Set<string>();
      const members: GroupListEntry['members'] = [];
      for (const m of g.members) {
        const key = `${m.node}\u0000${m.role}`;
        if (seen.has(key)) continue;
        seen.add(key);
        members.push({ node: m.node, op: m.op, role: m.role });
      }
      return {
        id: g.id, channels: g.channels, prunable: g.prunable, layers: [...g.layers], members,
        ...(g.reason ? { reason: g.reason } : {}), ...(g.divisor && g.divisor > 1 ? { divisor: g.divisor } : {}),
      };
    });
  }

  layerList(): { name: string; op: string; channels: number; prunable: boolean }[] {
    return this.rows.map((r) => ({ name: r.name, op: r.op, channels: r.channels, prunable: r.prunable }));
  }

  layers(q: LayerQuery): LayerPage {
    let rows = this.rows;
    if (q.filter) {
      const f = q.filter.toLowerCase();
      rows = rows.filter((r) => r.name.toLowerCase().includes(f) || r.op.toLowerCase().includes(f));
    }
    if (q.sort) {
      const key = sortValue(q.sort.key);
      const dir = q.sort.descending ? -1 : 1;
      rows = [...rows].sort((a, b) => {
        const va = key(a);
        const vb = key(b);
        if (va === vb) return 0;
        if (va === undefined) return 1;
        if (vb === undefined) return -1;
        return (va < vb ? -1 : 1) * dir;
      });
    }
    return { total: rows.length, offset: q.offset, rows: rows.slice(q.offset, q.offset + q.limit) };
  }

  histogram(criterion: Criterion, layer?: string, log?: boolean): Histogram | null {
    if (!this.scores) throw new PrunerError(`${path.basename(this.file)}: channels are still being scored`);
    const { stats } = this.scores;
    const st = layer ? stats.layers.find((l) => l.name === layer)?.criteria[criterion] : stats.model[criterion];
    if (!st) return null;
    const h = log && st.logHistogram ? st.logHistogram : st.histogram;
    return { edges: h.edges, counts: h.counts, log: Boolean(log && st.logHistogram) };
  }

  /** The plan's ranking scores: a plan-time criterion's group scores (`planScores`) are set first. */
  private resolve(plan: ViewPlan, planScores?: Map<number, Float32Array>) {
    if (!isCriterion(plan.criterion)) {
      if (!planScores) throw new PrunerError(`${path.basename(this.file)}: criterion ${plan.criterion} is not scored yet`);
      addPlanScores(this.importance, plan.criterion, planScores);
    }
    return resolvePlan(toPlan(plan), this.deps, this.importance);
  }

  layerDetail(layer: string, plan?: ViewPlan, planScores?: Map<number, Float32Array>): LayerDetail {
    const imp = this.importance.layers.get(layer);
    const row = this.rows.find((r) => r.name === layer);
    if (!imp || !row) throw new PrunerError(`no weighted layer named '${layer}' in ${path.basename(this.file)}`);
    const scores: LayerDetail['scores'] = {};
    for (const c of CRITERIA) {
      const s = imp.scores[c];
      if (s) scores[c] = Array.from(s);
    }
    const gid = this.deps.groupOfLayer.get(layer);
    const g = gid !== undefined ? this.groupById.get(gid) : undefined;
    let removed: number[] = [];
    if (plan && g?.prunable) {
      const resolved = this.resolve(plan, planScores);
      const kept = resolved.kept.get(g.id);
      if (kept) removed = removedChannels(g.channels, kept);
    }
    return {
      name: layer,
      op: row.op,
      channels: row.channels,
      scores,
      removed,
      group: g
        ? { id: g.id, channels: g.channels, prunable: g.prunable, reason: g.reason, layers: g.layers, members: g.members.map((m) => ({ node: m.node, op: m.op, role: m.role })) }
        : null,
    };
  }

  /**
   * What a plan removes. A plan-time criterion (sketch, a data criterion) is scored by `scoresFor`,
   * on this model or on the model without the blocks the plan removes (as Prune scores it).
   */
  async preview(plan: ViewPlan, signal?: AbortSignal, scoresFor?: PlanScoresFor): Promise<PlanPreview> {
    const names = plan.removeBlocks && 'names' in plan.removeBlocks ? plan.removeBlocks.names : [];
    if (names.length) return this.previewWithoutBlocks(plan, names, signal, scoresFor);
    const resolved = this.resolve(plan, isCriterion(plan.criterion) ? undefined : await scoresFor?.());
    const p = previewPlan(this.graph, this.deps, resolved);
    const effect = planEffect(resolved.plan, this.deps, resolved);
    return {
      params: p.params,
      macs: { ...p.macs, ...(macsCaveat(this.analysed) ? { complete: false as const } : {}) },
      layers: p.layers.map((l) => ({ name: l.name, channelsBefore: l.channelsBefore, channelsAfter: l.channelsAfter })),
      ...(effect.atMinimum.length ? { atMinimum: effect.atMinimum } : {}),
    };
  }

  /** The preview of a plan that removes whole blocks first: the channels are planned on the model without them (as Prune does). */
  private async previewWithoutBlocks(plan: ViewPlan, names: readonly string[], signal?: AbortSignal, scoresFor?: PlanScoresFor): Promise<PlanPreview> {
    const work = this.without(names);
    const deps = work.dependencies(signal);
    const crit = plan.criterion;
    const importance = await work.scores(isCriterion(crit) ? crit : [], signal ? { signal } : {});
    if (!isCriterion(crit)) {
      if (!scoresFor) throw new PrunerError(`${path.basename(this.file)}: criterion ${crit} is not scored yet`);
      // scored on the model without the blocks, as Prune does
      addPlanScores(importance, crit, await scoresFor({ analysed: work, key: JSON.stringify([...names].sort()) }));
    }
    const resolved = resolvePlan(toPlan(plan), deps, importance);
    const p = previewPlan(work.graph, deps, resolved, undefined, work.inputShapes);
    const effect = planEffect(resolved.plan, deps, resolved);
    const before = this.analysed.cost();
    const removedNodes = new Set(this.residualBlocks.filter((b) => names.includes(b.name)).flatMap((b) => b.nodes));
    const gone = this.rows.filter((r) => removedNodes.has(r.name)).map((r) => ({ name: r.name, channelsBefore: r.channels, channelsAfter: 0 }));
    return {
      params: { before: before.params, after: p.params.after },
      macs: { before: before.macs, after: p.macs.after, ...(macsCaveat(this.analysed) ? { complete: false as const } : {}) },
      layers: [...p.layers.map((l) => ({ name: l.name, channelsBefore: l.channelsBefore, channelsAfter: l.channelsAfter })), ...gone],
      ...(effect.atMinimum.length ? { atMinimum: effect.atMinimum } : {}),
      removedBlocks: [...names],
    };
  }
}

/** Metadata keys some exporters use for the image size a model was trained at (e.g. Ultralytics' `imgsz`). */
const SIZE_KEYS = /^(imgsz|img_?size|image_?size|input_?size|input_?shape|resolution)$/i;

/** Height and width from a metadata value such as `[640, 640]`, `640`, `224x224` or `(1, 3, 320, 320)`. */
export function sizeHint(meta: Map<string, string>): [number, number] | undefined {
  for (const [k, v] of meta) {
    if (!SIZE_KEYS.test(k)) continue;
    const nums = (v.match(/\d+/g) ?? []).map(Number).filter((n) => n >= 8 && n <= 16384);
    if (nums.length === 1) return [nums[0]!, nums[0]!];
    if (nums.length >= 2) return [nums[nums.length - 2]!, nums[nums.length - 1]!];
  }
  return undefined;
}

/** The size commonly given to an image model whose input size the file leaves open. */
export const COMMON_IMAGE_SIZE = 224;

/**
 * A size to propose for every input with a symbolic size beyond the batch: batch 1; for an image
 * input ([N, C, H, W], or [N, H, W, C] when only the last axis is a small fixed number) the
 * metadata's size hint, else 224×224; a symbolic channel axis 3; any other symbolic size 224.
 * Undefined when every size beyond the batch is fixed.
 */
export function proposeInputShapes(inputs: { name: string; shape: (number | string)[] }[], meta: Map<string, string> = new Map()): Record<string, number[]> | undefined {
  const hint = sizeHint(meta) ?? [COMMON_IMAGE_SIZE, COMMON_IMAGE_SIZE];
  const out: Record<string, number[]> = {};
  for (const t of inputs) {
    if (!t.shape.some((d, i) => i > 0 && typeof d === 'string')) continue;
    const r = t.shape.length;
    const nhwc = r === 4 && typeof t.shape[3] === 'number' && t.shape[3] <= 4 && typeof t.shape[1] !== 'number';
    const spatial = r === 4 ? (nhwc ? [1, 2] : [2, 3]) : [];
    const channel = r === 4 ? (nhwc ? 3 : 1) : -1;
    out[t.name] = t.shape.map((d, i) => {
      if (typeof d === 'number') return d;
      if (i === 0) return 1;
      const s = spatial.indexOf(i);
      if (s >= 0) return hint[s]!;
      return i === channel ? 3 : COMMON_IMAGE_SIZE;
    });
  }
  return Object.keys(out).length ? out : undefined;
}

function sortValue(key: SortKey): (r: LayerRow) => string | number | undefined {
  switch (key) {
    case 'name': return (r) => r.name;
    case 'op': return (r) => r.op;
    case 'channels': return (r) => r.channels;
    case 'params': return (r) => r.params;
    case 'macs': return (r) => r.macs;
    case 'group': return (r) => r.groupId ?? undefined;
  }
  const [crit, field] = key.split('.') as [Criterion, keyof ScoreStats];
  if (field === 'below') return (r) => r.stats[crit]?.below['1e-2'];
  return (r) => r.stats[crit]?.[field] as number | undefined;
}

/** Prunes the model the worker holds (`held`, nothing is read or analysed again), else reads the file with `reader`. */
export async function pruneJob(job: PruneJob, ctx: JobContext, held?: ModelService, reader?: ModelReader): Promise<PruneReport> {
  const plan = toPlan(job.plan, path.basename(job.path));
  if (!held) validatePlan(plan, path.basename(job.path));
  const analysed = held?.analysed ?? AnalysedModel.load(job.path, { reader, signal: ctx.signal, inputShapes: job.inputShapes });
  // the data is opened (and checked) before any work: a file that cannot be used stops the run, naming it
  let data: Partial<PruneOptions> = {};
  if (job.data) {
    const opened = await openData(job.data, analysed.graph, analysed.inputShapes);
    data = await pruneDataOptions(job.data, opened, ctx.signal);
    if (opened.opened.preprocess) plan.preprocess = opened.opened.preprocess;
  }
  if (isDataCriterion(plan.criterion) && !data.calibration) {
    throw new PrunerError(`criterion ${plan.criterion} is measured on calibration inputs: choose them under Data and recovery in the model's view, or rank by a weight criterion; nothing written`);
  }
  const opts: PruneOptions = {
    ...data,
    out: job.out,
    force: job.force,
    outputName: job.outputName,
    allowMinimal: job.allowMinimal === true,
    validate: job.validate,
    ep: job.ep,
    signal: ctx.signal,
    onProgress: (stage: string, fraction?: number) => ctx.progress(stage, fraction),
  };
  return pruneAnalysed(analysed, plan, opts);
}

/**
 * Validates a pruned model against its original; with data: on the chosen inputs (a batch of the
 * validation, evaluation or calibration set), `runs` timed runs, and the evaluation set's accuracy.
 */
export async function validateJob(p: { original: string; pruned: string; ep: 'auto' | 'cuda' | 'cpu'; data?: DataJob; inputShapes?: InputShapes }, ctx: JobContext, held?: ModelService, reader?: ModelReader): Promise<ValidationReport> {
  const opts: ValidateOptions = { ep: p.ep, signal: ctx.signal, onProgress: (m: string) => ctx.progress(m) };
  if (p.inputShapes && Object.keys(p.inputShapes).length) opts.shapes = p.inputShapes;
  if (p.data) {
    const graph = held?.graph ?? AnalysedModel.load(p.original, { reader, signal: ctx.signal, inputShapes: p.inputShapes }).graph;
    const { opened, state } = await openData(p.data, graph, held?.analysed.inputShapes ?? p.inputShapes);
    if (state.errors.length) throw new PrunerError(`${state.errors.join('; ')}; nothing validated`);
    opts.runs = p.data.runs;
    if (opened.evaluation) opts.evaluation = opened.evaluation;
    if (opened.calibration) opts.calibration = opened.calibration;
    const source = opened.inputs ?? opened.evaluation ?? opened.calibration;
    if (source && opened.spec) {
      const t = await firstBatch(source, opened.spec, p.data.batch, ctx.signal);
      opts.inputs = { [opened.spec.name]: t };
      opts.inputsSource = `${path.basename(source.source)} (first ${Math.min(source.count, t.dims[0]!)} of ${source.count})`;
    }
  }
  const report = await validatePruned(p.original, p.pruned, opts);
  return withCost(report, computeCost);
}

export async function listProviders(): Promise<string[]> {
  const infos = await availableProviders();
  const usable = infos.filter((i) => (i.name === 'cpu' || i.usable === true) && (i.name === 'cpu' || i.name === 'cuda')).map((i) => i.name);
  return usable.length ? usable : ['cpu'];
}
