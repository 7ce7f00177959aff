// The prune pipeline: an AnalysedModel (graph → dependencies → importance, each computed once)
// → resolve plan → surgery (+ compensation) → atomic save → optional validation → report.
// `pruneAnalysed` prunes a model already held (the extension's worker); `pruneModel` reads the
// file first (the CLI, the tests).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PrunerError, throwIfAborted } from '../errors.ts';
import { Graph } from '../graph/graph.ts';
import { computeCost } from '../graph/cost.ts';
import { loadModel } from '../onnx/model.ts';
import { saveModel } from '../onnx/save.ts';
import { AnalysedModel } from '../analysed-model.ts';
import { validatePruned } from '../runtime/validate.ts';
import type { ExecutionProviderChoice } from '../runtime/types.ts';
import { parsePlan, resolvePlan, validatePlan } from './plan.ts';
import { pruneGraph } from './surgery.ts';
import { chooseOutputPath, type OutputPathOptions } from './output-path.ts';
import type { PruneReport } from './report.ts';
import { previewPlan, type PlanPreview } from './preview.ts';
import type { PruningPlan } from './types.ts';
import type { InputSet } from '../data/types.ts';
import type { RecoverMode } from '../recovery/types.ts';

export interface PruneOptions extends OutputPathOptions {
  /** Run the original and the pruned model in ONNX Runtime and add the comparison to the report. */
  validate?: boolean;
  ep?: ExecutionProviderChoice;
  /** Input files for validation (`[name=]file[:AxBxC]`); random inputs when absent. */
  validationInputs?: string[];
  /** Timed runs per model during validation (default 3). */
  validationRuns?: number;
  /** |γ| below which a removed BN channel counts as constant (compensation; default 1e-2). */
  gammaThreshold?: number;
  /** Exact compensation at padded borders with a constant correction tensor and an Add node (default false: the graph keeps its nodes). */
  borderCorrection?: boolean;
  /** Calibration inputs for recovery and data-driven criteria (never used for the evaluation). */
  calibration?: InputSet;
  /** Evaluation inputs (labelled or not) for the report's accuracy or agreement. */
  evaluation?: InputSet;
  /** Recovery after the surgery (default `auto`). */
  recover?: RecoverMode;
  signal?: AbortSignal;
  /** Called at each stage: loading, analysing, scoring, planning, pruning, writing, validating, done. */
  onProgress?: (stage: string, fraction?: number) => void;
}

/**
 * Prunes `inputPath` by `plan` and writes the result (see output-path.ts for where). The input is
 * never modified. A cancelled or failed run leaves no output file. Throws PrunerError for user
 * errors (bad plan, unwritable folder, ...) and CancelledError when `signal` fires.
 * The CLI's entry: reads the model once and calls `pruneAnalysed`.
 */
export async function pruneModel(inputPath: string, plan: PruningPlan, opts: PruneOptions = {}): Promise<PruneReport> {
  validatePlan(plan, path.basename(inputPath));
  throwIfAborted(opts.signal);
  opts.onProgress?.('loading', 0);
  const t = performance.now();
  const model = AnalysedModel.load(inputPath, { signal: opts.signal });
  return pruneAnalysed(model, plan, opts, { loadMs: Math.round((performance.now() - t) * 10) / 10 });
}

/**
 * Prunes an analysed model by `plan` and writes the result; what the model already computed
 * (graph, groups, scores) is not computed again, and the model file is not read again. The same
 * AnalysedModel can be pruned any number of times (the surgery never changes it).
 */
export async function pruneAnalysed(analysed: AnalysedModel, plan: PruningPlan, opts: PruneOptions = {}, startTimings: Record<string, number> = {}): Promise<PruneReport> {
  const { signal } = opts;
  const progress = opts.onProgress ?? (() => {});
  const timings: Record<string, number> = { loadMs: 0, ...startTimings };
  let t = performance.now();
  const lap = (name: string) => {
    const now = performance.now();
    timings[name] = Math.round((now - t) * 10) / 10;
    t = now;
  };
  const model = analysed.model;
  validatePlan(plan, analysed.fileName);
  throwIfAborted(signal);

  // Fail early, before any work, when the output cannot be written.
  let output = chooseOutputPath(model.path, opts);
  const graph = analysed.graph;
  lap('graphMs');
  throwIfAborted(signal);

  progress('analysing', 0.1);
  const deps = analysed.dependencies(signal);
  lap('analysisMs');
  throwIfAborted(signal);

  progress('scoring', 0.2);
  const importance = await analysed.scores(plan.criterion, { signal });
  lap('importanceMs');
  throwIfAborted(signal);

  progress('planning', 0.4);
  const resolved = resolvePlan(plan, deps, importance);
  lap('planMs');
  throwIfAborted(signal);

  progress('pruning', 0.5);
  const result = pruneGraph(graph, deps, resolved, {
    compensate: plan.compensate ?? true,
    gammaThreshold: opts.gammaThreshold,
    borderCorrection: opts.borderCorrection,
    metadata: { 'onnx_pruner.source': path.basename(model.path) },
    signal,
  });
  lap('surgeryMs');
  throwIfAborted(signal);

  progress('writing', 0.6);
  // Another run may have taken the name meanwhile: choose again right before writing.
  if (!opts.force && !opts.out && fs.existsSync(output)) output = chooseOutputPath(model.path, opts);
  // A model that kept its weights in external data gets its pruned weights in external data too.
  const sourceExternal = model.proto.graph?.initializer.some((t) => t.data_location === 1) ?? false;
  const saved = await saveModel({ proto: result.model, dir: model.dir, path: model.path }, output, { externalData: sourceExternal ? true : 'auto', signal });
  lap('saveMs');

  const written = [saved.path, ...(saved.externalDataPath ? [saved.externalDataPath] : [])];
  try {
    throwIfAborted(signal);
    const before = analysed.cost();
    const prunedModel = loadModel(saved.path);
    const prunedGraph = new Graph(prunedModel);
    const after = computeCost(prunedGraph);
    lap('costMs');
    const pruned = [...resolved.kept].filter(([id, kept]) => deps.groups.find((g) => g.id === id)!.channels !== kept.length).length;
    const report: PruneReport = {
      reportVersion: 1,
      input: model.path,
      output: saved.path,
      ...(saved.externalDataPath ? { externalData: saved.externalDataPath } : {}),
      plan: resolved.plan,
      criterion: plan.criterion,
      params: { before: before.params, after: after.params },
      macs: { before: before.macs, after: after.macs },
      size: { before: model.sizeOnDisk, after: prunedModel.sizeOnDisk },
      groups: {
        total: deps.groups.length,
        prunable: deps.groups.filter((g) => g.prunable).length,
        pruned,
        frozen: deps.groups.filter((g) => !g.prunable).length,
      },
      layers: result.layers.map((l) => ({ name: l.name, op: l.op, group: l.group, channelsBefore: l.channelsBefore, channelsAfter: l.channelsAfter, keptChannels: l.keptChannels })),
      compensation: result.compensation,
      warnings: [...resolved.warnings, ...result.warnings],
      timings,
    };
    if (opts.validate) {
      progress('validating', 0.7);
      report.validation = await validatePruned(model.path, saved.path, {
        ep: opts.ep ?? 'auto',
        inputs: opts.validationInputs,
        runs: opts.validationRuns ?? 3,
        warmup: 1,
        signal,
      });
      lap('validateMs');
    }
    progress('done', 1);
    return report;
  } catch (e) {
    // A run cancelled (or failing) after the write leaves nothing behind either.
    for (const f of written) fs.rmSync(f, { force: true });
    throw e;
  }
}

export interface PrunePreview {
  input: string;
  plan: PruningPlan;
  /** Kept channel indices per pruned group, as the run would apply them. */
  kept: Map<number, number[]>;
  preview: PlanPreview;
  warnings: string[];
}

/** What `pruneModel` would do, without writing anything (`--dry-run`, the extension's preview). */
export async function previewPrune(inputPath: string, plan: PruningPlan, opts: { signal?: AbortSignal; gammaThreshold?: number } = {}): Promise<PrunePreview> {
  validatePlan(plan, path.basename(inputPath));
  return previewAnalysed(AnalysedModel.load(inputPath, { signal: opts.signal }), plan, opts);
}

/** What `pruneAnalysed` would do with this plan, without writing anything. */
export async function previewAnalysed(analysed: AnalysedModel, plan: PruningPlan, opts: { signal?: AbortSignal; gammaThreshold?: number } = {}): Promise<PrunePreview> {
  validatePlan(plan, analysed.fileName);
  const deps = analysed.dependencies(opts.signal);
  const resolved = resolvePlan(plan, deps, await analysed.scores(plan.criterion, { signal: opts.signal }));
  return { input: analysed.path, plan: resolved.plan, kept: resolved.kept, preview: previewPlan(analysed.graph, deps, resolved, analysed.cost(), { gammaThreshold: opts.gammaThreshold }), warnings: resolved.warnings };
}

/** Reads a plan document (JSON) from a file; PrunerError naming the file when it is not a valid plan. */
export function readPlanFile(planPath: string): PruningPlan {
  let text: string;
  try {
    text = fs.readFileSync(planPath, 'utf8');
  } catch (e) {
    throw new PrunerError(`${planPath}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { subject: planPath });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new PrunerError(`${planPath}: not valid JSON (${(e as Error).message})`, { subject: planPath });
  }
  return parsePlan(json, planPath);
}

/** Prunes a model by a plan stored in a JSON file (the "Apply Pruning Plan" path). */
export async function applyPlanFile(inputPath: string, planPath: string, opts: PruneOptions = {}): Promise<PruneReport> {
  return pruneModel(inputPath, readPlanFile(planPath), opts);
}
