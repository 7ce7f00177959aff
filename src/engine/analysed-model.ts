// One model, analysed once: the input of everything that looks at a model or changes it
// (summary, preview, prune, validation, and the coming calibration and search).
//
// Contract. `AnalysedModel.load(path)` reads the file once (through an injectable reader, so
// tests can count reads). Every further step is computed on first use and kept:
//   graph index → shapes (symbolic batch kept) → cost → summary; graph + shapes → channel
//   groups (`dependencies`); groups → channel scores (`scores(criterion)`, asynchronous, each
//   criterion computed on first demand and kept, shared by concurrent callers) → their
//   statistics (`stats`).
// Nothing here mutates the model's protobuf after the graph index named its unnamed nodes; the
// surgery builds a new model and shares untouched tensors with this one, so the same
// AnalysedModel can be pruned any number of times, each run seeing the original.
// A cancelled step (AbortSignal) is not cached: the next caller starts it again.
import * as path from 'node:path';
import { PrunerError, throwIfAborted } from './errors.ts';
import { loadModel, type OnnxModel } from './onnx/model.ts';
import { Graph } from './graph/graph.ts';
import { bindInputShapes, inferShapes, type InputShapes, type ShapeInference } from './graph/shapes.ts';
import { computeCost, type CostSummary } from './graph/cost.ts';
import { summarizeModel, type ModelSummary } from './graph/summary.ts';
import { analyzeDependencies } from './analysis/groups.ts';
import type { DependencyAnalysis } from './analysis/types.ts';
import { addCriteria, computeImportance, type ModelImportance } from './analysis/importance.ts';
import { importanceStats, type ModelStats } from './analysis/stats.ts';
import { CRITERIA, type Criterion, type PlanCriterion } from './analysis/criteria.ts';
import { isDataCriterion, planCriterionScores, type PlanCriterionOptions } from './recovery/criteria.ts';
import type { InputSet } from './data/types.ts';

/** Reads a model file (default: loadModel). Injectable so that tests observe every read. */
export type ModelReader = (file: string) => OnnxModel;

export interface LoadOptions extends AnalysisOptions {
  reader?: ModelReader;
  signal?: AbortSignal;
  /**
   * Where the default reader keeps the weights: 'memory' (default: the file is read once, and
   * nothing is read again, for a model held and pruned many times) or 'file' (large weights read
   * by byte range when needed: a one-shot command's memory is the model's structure and one layer).
   */
  weights?: 'memory' | 'file';
}

export interface AnalysisOptions {
  /**
   * Sizes of the inputs whose shapes are symbolic, as whole shapes by input name (`{ x: [1, 3,
   * 224, 224] }`): shapes, MACs, groups and previews are computed with them (the model is not
   * changed). Checked against the inputs when the model is loaded (PrunerError naming the input).
   */
  inputShapes?: InputShapes;
}

export interface ScoreOptions {
  signal?: AbortSignal;
  /** ONNX Runtime threads for FPGM (default: the engine's; the editor leaves one core to VS Code). */
  threads?: number;
}

/** The key of plan-time scores that need no data (sketch). */
const NO_DATA = {};

export class AnalysedModel {
  private graphIndex: Graph | undefined;
  private shapeInference: ShapeInference | undefined;
  private costSummary: CostSummary | undefined;
  private modelSummary: ModelSummary | undefined;
  private deps: DependencyAnalysis | undefined;
  private importance: Promise<ModelImportance> | undefined;
  private scored: ModelImportance | undefined;
  private statistics: { key: string; stats: ModelStats } | undefined;
  private planScored = new WeakMap<InputSet | typeof NO_DATA, Map<PlanCriterion, Promise<Map<number, Float32Array> | undefined>>>();

  /** The input sizes the analysis uses (empty: symbolic sizes stay symbolic, a symbolic batch counts as 1). */
  readonly inputShapes: InputShapes;

  constructor(readonly model: OnnxModel, opts: AnalysisOptions = {}, graph?: Graph) {
    this.graphIndex = graph;
    this.inputShapes = opts.inputShapes ? structuredClone(opts.inputShapes) : {};
    if (Object.keys(this.inputShapes).length) {
      try {
        bindInputShapes(this.graph, this.inputShapes);
      } catch (e) {
        throw new PrunerError(`${path.basename(model.path)}: ${(e as Error).message}`, { subject: model.path });
      }
    }
  }

  /** Reads `file` (once) and returns its analysis, computed step by step as it is asked for. */
  static load(file: string, opts: LoadOptions = {}): AnalysedModel {
    throwIfAborted(opts.signal);
    const model = opts.reader ? opts.reader(file) : loadModel(file, { weights: opts.weights ?? 'memory' });
    return new AnalysedModel(model, { inputShapes: opts.inputShapes });
  }

  /** The same model (not read again, its graph index shared) analysed afresh with other input sizes. */
  withInputShapes(inputShapes: InputShapes): AnalysedModel {
    return new AnalysedModel(this.model, { inputShapes }, this.graph);
  }

  /** Absolute path of the .onnx file. */
  get path(): string {
    return this.model.path;
  }

  get fileName(): string {
    return path.basename(this.model.path);
  }

  get graph(): Graph {
    this.graphIndex ??= new Graph(this.model);
    return this.graphIndex;
  }

  /** Value shapes with symbolic dimensions kept (the batch stays `N`). */
  shapes(): ShapeInference {
    this.shapeInference ??= inferShapes(this.graph, { inputShapes: this.inputShapes });
    return this.shapeInference;
  }

  /** Parameters and MACs (a symbolic batch counted as 1, unless `inputShapes` gives it). */
  cost(): CostSummary {
    this.costSummary ??= computeCost(this.graph, { shapes: this.shapes(), inputShapes: this.inputShapes });
    return this.costSummary;
  }

  summary(signal?: AbortSignal): ModelSummary {
    if (!this.modelSummary) {
      throwIfAborted(signal);
      this.modelSummary = summarizeModel(this.model, this.graph, { shapes: this.shapes(), cost: this.cost(), signal });
    }
    return this.modelSummary;
  }

  /** The coupled channel groups, each prunable or frozen with a reason. */
  dependencies(signal?: AbortSignal): DependencyAnalysis {
    this.deps ??= analyzeDependencies(this.graph, { shapes: this.shapes().shapes, signal });
    return this.deps;
  }

  /**
   * Channel scores with `criteria` available (one criterion, a list, or every criterion when
   * omitted): computed on first demand, a criterion at a time, and kept. Calls are queued, so
   * concurrent callers share one computation per criterion; the scores object grows in place.
   */
  scores(criteria?: Criterion | readonly Criterion[], opts: ScoreOptions = {}): Promise<ModelImportance> {
    const want: readonly Criterion[] = criteria === undefined ? CRITERIA : typeof criteria === 'string' ? [criteria] : criteria;
    const have = this.scored;
    if (have && want.every((c) => have.criteria.includes(c))) return Promise.resolve(have);
    const previous = this.importance ?? Promise.resolve(undefined);
    const next = previous.catch(() => undefined).then(async (imp) => {
      const iopts = { signal: opts.signal, threads: opts.threads };
      if (!imp) return computeImportance(this.graph, this.dependencies(opts.signal), { ...iopts, criteria: want });
      await addCriteria(this.graph, this.dependencies(opts.signal), imp, want, iopts);
      return imp;
    });
    this.importance = next.then(
      (imp) => (this.scored = imp),
      (e) => {
        // a cancelled or failed step is not kept: the scores stay as they were
        this.importance = have ? Promise.resolve(have) : undefined;
        throw e;
      },
    );
    return this.importance;
  }

  /**
   * Group scores of a plan-time criterion (`sketch`, or a data criterion measured on
   * `opts.calibration`; undefined for the weight criteria, which `scores` gives), computed once per
   * criterion and data set (the same InputSet) and kept: the scan, the allocation and the prune of
   * one target run measure a data criterion once. A cancelled or failed computation is not kept.
   */
  planScores(criterion: PlanCriterion, opts: PlanCriterionOptions = {}): Promise<Map<number, Float32Array> | undefined> {
    const dataKey = isDataCriterion(criterion) ? (opts.calibration ?? NO_DATA) : NO_DATA;
    let byCriterion = this.planScored.get(dataKey);
    if (!byCriterion) this.planScored.set(dataKey, (byCriterion = new Map()));
    const kept = byCriterion.get(criterion);
    if (kept) return kept;
    const made = planCriterionScores(criterion, this.model, this.graph, this.dependencies(opts.signal), opts);
    byCriterion.set(criterion, made);
    made.catch(() => {
      if (byCriterion.get(criterion) === made) byCriterion.delete(criterion);
    });
    return made;
  }

  /** The scores when they are computed, without waiting. */
  get scoresReady(): ModelImportance | undefined {
    return this.scored;
  }

  /** Statistics and histograms of the criteria scored so far (at least `criteria`). */
  async stats(criteria?: Criterion | readonly Criterion[], opts: ScoreOptions = {}): Promise<ModelStats> {
    const imp = await this.scores(criteria, opts);
    const key = imp.criteria.join(',');
    if (this.statistics?.key !== key) this.statistics = { key, stats: importanceStats(imp) };
    return this.statistics.stats;
  }
}
