// The prune pipeline: an AnalysedModel (graph → dependencies → importance, each computed once)
// → resolve plan → surgery (+ compensation) → recovery → atomic save → optional validation →
// report. `pruneAnalysed` prunes a model already held (the extension's worker); `pruneModel`
// reads the file first (the CLI, the tests).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PrunerError, throwIfAborted } from '../errors.ts';
import { Graph } from '../graph/graph.ts';
import { computeCost } from '../graph/cost.ts';
import { saveModel } from '../onnx/save.ts';
import { AnalysedModel } from '../analysed-model.ts';
import { isCriterion } from '../analysis/criteria.ts';
import { validatePruned } from '../runtime/validate.ts';
import { inputSpecsOf, unsizedAxes } from '../runtime/inputs.ts';
import type { ExecutionProviderChoice, InputTensor } from '../runtime/types.ts';
import { parsePlan, resolvePlan, serializePlan, validatePlan } from './plan.ts';
import { pruneGraph } from './surgery.ts';
import { applyBlockSelection, blockRanking, type BlockReport } from './blocks.ts';
import { chooseOutput, chooseOutputPath, type OutputChoice, type OutputPathOptions } from './output-path.ts';
import { atMinimumWarning, nothingRemovedError, planEffect, type PlanEffect } from './plan-effect.ts';
import { checkWritableFolder, readJsonFile, refuseProtected, removeStaleTemps, unpublish, writeTextFileSafely } from '../files.ts';
import type { PruneReport } from './report.ts';
import { previewPlan, type PlanPreview } from './preview.ts';
import type { PruningPlan } from './types.ts';
import type { InputShapes } from '../graph/shapes.ts';
import type { InputSet } from '../data/types.ts';
import type { RecoverMode } from '../recovery/types.ts';
import { recoverPruned } from '../recovery/recover.ts';
import { prunedGroupsOf } from './compensate.ts';
import { addPlanScores } from '../recovery/criteria.ts';

export interface PruneOptions extends OutputPathOptions {
  /** Run the original and the pruned model in ONNX Runtime and add the comparison to the report. */
  validate?: boolean;
  ep?: ExecutionProviderChoice;
  /** Input files for validation (`[name=]file[:AxBxC]`), or tensors by input name; random inputs when absent. */
  validationInputs?: string[] | Record<string, InputTensor>;
  /** Where given validation tensors came from (a data set), for the report's input description. */
  validationSource?: string;
  /** Timed runs per model during validation (default 3). */
  validationRuns?: number;
  /** Exact compensation at padded borders with a constant correction tensor and an Add node (default false: the graph keeps its nodes). */
  borderCorrection?: boolean;
  /** Calibration inputs for recovery and data-driven criteria (never used for the evaluation). */
  calibration?: InputSet;
  /** Evaluation inputs (labelled or not) for the report's accuracy or agreement: validation runs after the write with them. */
  evaluation?: InputSet;
  /** Recovery after the surgery (default `auto`). */
  recover?: RecoverMode;
  /** ls: bytes of activations kept between probes (see RecoverOptions.cutBytes; 0 runs each probe from the input). */
  recoveryCutBytes?: number;
  /**
   * Accept a plan that cuts some layer group down to the least it can keep (one channel, or one
   * block): without it such a plan is refused before anything is written (CLI `--force`; the
   * extension asks first).
   */
  allowMinimal?: boolean;
  /** Also write the resolved plan (JSON) here, under the same rules as the model (never over the input, not over an existing file without `force`). */
  savePlan?: string;
  signal?: AbortSignal;
  /** Called at each stage: loading, analysing, scoring, planning, pruning, writing, validating, done. */
  onProgress?: (stage: string, fraction?: number) => void;
  /** `pruneModel`: sizes of symbolic inputs (whole shapes by input name) for the report's MACs and validation's random inputs. */
  inputShapes?: InputShapes;
}

/**
 * Prunes `inputPath` by `plan` and writes the result (see output-path.ts for where). The input is
 * never modified. A cancelled or failed run leaves no output file. Throws PrunerError for user
 * errors (bad plan, unwritable folder, ...) and CancelledError when `signal` fires.
 */
export async function pruneModel(inputPath: string, plan: PruningPlan, opts: PruneOptions = {}): Promise<PruneReport> {
  validatePlan(plan, path.basename(inputPath));
  throwIfAborted(opts.signal);
  opts.onProgress?.('loading', 0);
  const t = performance.now();
  const model = AnalysedModel.load(inputPath, { signal: opts.signal, inputShapes: opts.inputShapes });
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
  validatePlan(plan, analysed.fileName);
  throwIfAborted(signal);

  const model = analysed.model;
  const { protect, sourceExternal, choice } = checkOutputs(analysed, opts);
  // Whole residual blocks go first; the channel analysis then sees the graph without them (a model
  // of its own, analysed afresh); without blocks to remove, the held analysis serves.
  const blocks = applyBlockSelection(analysed.graph, plan.removeBlocks);
  const removedBlocks = blocks.removed;
  const work = removedBlocks.length > 0 ? new AnalysedModel(blocks.graph.model, { inputShapes: analysed.inputShapes }) : analysed;
  const graph = work.graph;
  lap('graphMs');
  throwIfAborted(signal);

  progress('analysing', 0.1);
  const deps = work.dependencies(signal);
  lap('analysisMs');
  throwIfAborted(signal);

  progress('scoring', 0.2);
  const importance = await work.scores(isCriterion(plan.criterion) ? plan.criterion : [], { signal });
  // sketch and the data criteria (activation, apoz, thinet) are scored only when the plan ranks by them.
  addPlanScores(importance, plan.criterion, await work.planScores(plan.criterion, {
    ...(opts.calibration ? { calibration: opts.calibration } : {}), ep: opts.ep ?? 'auto', ...(signal ? { signal } : {}),
    onProgress: (f) => progress(`measuring ${plan.criterion} on the calibration inputs`, 0.2 + 0.2 * f),
  }));
  lap('importanceMs');
  throwIfAborted(signal);

  progress('planning', 0.4);
  const resolved = resolvePlan(plan, deps, importance);
  const effect = planEffect(plan, deps, resolved);
  // A plan removing nothing still changes the model when recovery runs on calibration data, or when
  // it removes whole residual blocks.
  const recovers = (opts.calibration !== undefined && opts.recover !== 'none') || removedBlocks.length > 0;
  checkEffect(model.path, plan, importance, recovers ? { ...effect, removesNothing: false } : effect, opts.allowMinimal === true);
  lap('planMs');
  throwIfAborted(signal);

  progress('pruning', 0.5);
  const result = pruneGraph(graph, deps, resolved, {
    compensate: plan.compensate ?? true,
    borderCorrection: opts.borderCorrection,
    metadata: { 'onnx_pruner.source': path.basename(model.path) },
    // sliced weights stay slices of the source until saveModel streams them to the output
    lazy: true,
    signal,
  });
  lap('surgeryMs');
  throwIfAborted(signal);

  // Recovery on the calibration inputs (or the data-free compensation the surgery did), in memory.
  const recovery = await recoverPruned({ model: graph.model, graph }, result.model, prunedGroupsOf(deps.groups, resolved.kept), {
    mode: opts.recover ?? 'auto',
    ...(opts.calibration ? { calibration: opts.calibration } : {}),
    ep: opts.ep ?? 'auto',
    compensated: plan.compensate ?? true,
    ...(opts.recoveryCutBytes !== undefined ? { cutBytes: opts.recoveryCutBytes } : {}),
    ...(signal ? { signal } : {}),
    onProgress: (stage, fraction) => progress(stage, 0.5 + 0.1 * (fraction ?? 0)),
  });
  lap('recoveryMs');
  throwIfAborted(signal);

  progress('writing', 0.6);
  // Another run may have taken the name meanwhile: choose again right before writing. The save
  // itself never replaces a file that appears after this (unless --force): an automatically chosen
  // name then moves on to the next free one, an explicit --out fails.
  const output = choice.auto && !opts.force ? chooseOutputPath(model.path, { ...opts, protect, sidecar: sourceExternal }) : choice.path;
  const saved = await saveModel({ proto: recovery.model, dir: model.dir, path: model.path }, output, {
    externalData: sourceExternal ? true : 'auto',
    replace: opts.force === true,
    protect,
    nextName: choice.auto && !opts.force ? () => chooseOutputPath(model.path, { ...opts, protect, sidecar: true }) : undefined,
    signal,
  });
  lap('saveMs');

  const written = [saved.path, ...(saved.externalDataPath ? [saved.externalDataPath] : [])].map((f) => ({ f, ino: fs.statSync(f).ino }));
  try {
    throwIfAborted(signal);
    const before = analysed.cost();
    const caveat = macsCaveat(analysed);
    // the pruned model's cost from the graph in memory (what was just written), not by loading the file again
    const prunedGraph = new Graph({ ...model, path: saved.path, proto: result.model });
    const after = computeCost(prunedGraph, { inputShapes: analysed.inputShapes });
    const sizeAfter = saved.bytes + (saved.externalDataBytes ?? 0);
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
      macs: { before: before.macs, after: after.macs, ...(caveat ? { complete: false as const } : {}) },
      size: { before: model.sizeOnDisk, after: sizeAfter },
      groups: {
        total: deps.groups.length,
        prunable: deps.groups.filter((g) => g.prunable).length,
        pruned,
        frozen: deps.groups.filter((g) => !g.prunable).length,
      },
      ...(plan.removeBlocks ? { removedBlocks: blockRanking(removedBlocks) } : {}),
      layers: result.layers.map((l) => ({ name: l.name, op: l.op, group: l.group, channelsBefore: l.channelsBefore, channelsAfter: l.channelsAfter, keptChannels: l.keptChannels })),
      compensation: result.compensation,
      recovery: recovery.report,
      warnings: [...effectWarnings(effect), ...resolved.warnings, ...result.warnings, ...(caveat ? [caveat] : [])],
      timings,
    };
    if (opts.validate || opts.evaluation) {
      progress('validating', 0.7);
      report.validation = await validatePruned(model.path, saved.path, {
        ep: opts.ep ?? 'auto',
        inputs: opts.validationInputs,
        ...(opts.validationSource ? { inputsSource: opts.validationSource } : {}),
        runs: opts.validationRuns ?? 3,
        warmup: 1,
        // random inputs of the sizes the model was analysed with (symbolic sizes otherwise count as 1)
        ...(Object.keys(analysed.inputShapes).length ? { shapes: analysed.inputShapes } : {}),
        ...(opts.evaluation ? { evaluation: opts.evaluation, calibration: opts.calibration } : {}),
        signal,
      });
      lap('validateMs');
    }
    if (opts.savePlan) writeTextFileSafely(opts.savePlan, serializePlan(resolved.plan), { replace: opts.force === true, protect: [...protect, ...written.map((w) => w.f)], what: 'the plan' });
    progress('done', 1);
    return report;
  } catch (e) {
    // A run cancelled (or failing) after the write leaves nothing behind either (only its own files).
    for (const w of written) unpublish(w.f, w.ino);
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
  /** Residual blocks the plan removes (when it has `removeBlocks`), weakest first. */
  removedBlocks?: BlockReport[];
  /** What the plan does at its extremes (removes nothing, cuts groups to their minimum). */
  effect: PlanEffect;
  /** Whether the model has BatchNormalization (the advice when bn-gamma removes nothing). */
  hasBn: boolean;
}

/** What `pruneModel` would do, without writing anything (`--dry-run`, the extension's preview). */
export async function previewPrune(inputPath: string, plan: PruningPlan, opts: PreviewPruneOptions = {}): Promise<PrunePreview> {
  validatePlan(plan, path.basename(inputPath));
  return previewAnalysed(AnalysedModel.load(inputPath, { signal: opts.signal }), plan, opts);
}

export interface PreviewPruneOptions { signal?: AbortSignal; savePlan?: string; force?: boolean; calibration?: InputSet }

/** What `pruneAnalysed` would do with this plan, without writing anything (but the plan with `savePlan`). */
export async function previewAnalysed(analysed: AnalysedModel, plan: PruningPlan, opts: PreviewPruneOptions = {}): Promise<PrunePreview> {
  validatePlan(plan, analysed.fileName);
  const model = analysed.model;
  const protect = protectedFiles(analysed);
  if (opts.savePlan) checkPlanTarget(opts.savePlan, protect, opts.force === true);
  const blocks = applyBlockSelection(analysed.graph, plan.removeBlocks);
  const removed = blocks.removed;
  const work = removed.length > 0 ? new AnalysedModel(blocks.graph.model, { inputShapes: analysed.inputShapes }) : analysed;
  const graph = work.graph;
  const deps = work.dependencies(opts.signal);
  const importance = await work.scores(isCriterion(plan.criterion) ? plan.criterion : [], { signal: opts.signal });
  addPlanScores(importance, plan.criterion, await work.planScores(plan.criterion, { ...(opts.calibration ? { calibration: opts.calibration } : {}), ...(opts.signal ? { signal: opts.signal } : {}) }));
  const resolved = resolvePlan(plan, deps, importance);
  const effect = planEffect(plan, deps, resolved);
  if (effect.removesNothing && removed.length === 0) throw nothingRemovedError(model.path, plan, importance, effect);
  if (opts.savePlan) writeTextFileSafely(opts.savePlan, serializePlan(resolved.plan), { replace: opts.force === true, protect, what: 'the plan' });
  const preview = previewPlan(graph, deps, resolved, undefined, work.inputShapes);
  if (removed.length) {
    // Before = the model as it is, blocks included.
    const before = analysed.cost();
    preview.params = { ...preview.params, before: before.params };
    preview.macs = { ...preview.macs, before: before.macs };
  }
  const caveat = macsCaveat(analysed);
  if (caveat) preview.macs = { ...preview.macs, complete: false };
  return {
    input: model.path,
    plan: resolved.plan,
    kept: resolved.kept,
    preview,
    warnings: [...effectWarnings(effect), ...resolved.warnings, ...(caveat ? [caveat] : [])],
    effect,
    hasBn: importance.hasBn,
    ...(plan.removeBlocks ? { removedBlocks: blockRanking(removed) } : {}),
  };
}

/**
 * Why the MACs of a preview or report are not those of a real input, when they are not: input sizes
 * the model leaves symbolic and no one gave (counted as 1 where a size was needed), or layers whose
 * MACs could not be computed (counted as 0).
 */
export function macsCaveat(analysed: AnalysedModel): string | undefined {
  // the sizes random validation inputs would take as 1 (the same test)
  const unsized = inputSpecsOf(analysed.graph).flatMap((s) => unsizedAxes(s, {}, analysed.inputShapes));
  const unknown = analysed.cost().unknownMacLayers;
  if (!unsized.length && !unknown) return undefined;
  const parts = [
    ...(unsized.length ? [`the input size${unsized.length === 1 ? '' : 's'} ${unsized.join(', ')} ${unsized.length === 1 ? 'is' : 'are'} not fixed by the model (counted as 1 where a size was needed)`] : []),
    ...(unknown ? [`the MACs of ${unknown} layer${unknown === 1 ? '' : 's'} could not be computed (counted as 0)`] : []),
  ];
  return `MACs are not those of a real input: ${parts.join('; ')}; give the input sizes to count them`;
}

/** The input model and every file it reads: never written, whatever the options say. */
export function protectedFiles(analysed: AnalysedModel): string[] {
  return [analysed.model.path, ...(analysed.model.externalFiles ?? [])];
}

/**
 * Fails, before any work, when the pruned model (or the plan, with `savePlan`) cannot be written
 * where the options say. The files never written, whether the output takes external data, and the
 * output's path.
 */
export function checkOutputs(analysed: AnalysedModel, opts: PruneOptions): { protect: string[]; sourceExternal: boolean; choice: OutputChoice } {
  const model = analysed.model;
  const protect = protectedFiles(analysed);
  // A model that kept its weights in external data gets its pruned weights in external data too.
  const sourceExternal = model.proto.graph?.initializer.some((t) => t.data_location === 1) ?? false;
  const choice = chooseOutput(model.path, { ...opts, protect, sidecar: sourceExternal });
  removeStaleTemps(path.dirname(choice.path));
  if (opts.savePlan) checkPlanTarget(opts.savePlan, [...protect, choice.path], opts.force === true);
  return { protect, sourceExternal, choice };
}

/** Fails when the plan cannot be written at `file` (a protected file, an existing one without `force`, a folder not writable). */
export function checkPlanTarget(file: string, protect: string[], force: boolean): void {
  const abs = path.resolve(file);
  refuseProtected(abs, protect, 'the plan');
  if (!force && fs.existsSync(abs)) throw new PrunerError(`${abs} already exists; use --force to overwrite it or choose another --save-plan`, { subject: abs });
  checkWritableFolder(path.dirname(abs));
}

/** The warnings a plan's extremes give (cut to the minimum, floors larger than layers). */
export function effectWarnings(effect: PlanEffect): string[] {
  const min = atMinimumWarning(effect);
  return [...(min ? [min] : []), ...effect.warnings];
}

/**
 * Refuses, before anything is written, a plan that removes nothing (with the reason and advice),
 * and, unless `allowMinimal`, a plan that cuts a group to its minimum.
 */
export function checkEffect(file: string, plan: PruningPlan, importance: { hasBn: boolean }, effect: PlanEffect, allowMinimal: boolean): void {
  if (effect.removesNothing) throw nothingRemovedError(file, plan, importance, effect);
  const min = atMinimumWarning(effect);
  if (min && !allowMinimal) throw new PrunerError(`${file}: ${min}; nothing written (--force writes it anyway)`, { subject: file });
}

/** Reads a plan document (JSON) from a file; PrunerError naming the file (and the field) when it is not a valid plan. */
export function readPlanFile(planPath: string): PruningPlan {
  return parsePlan(readJsonFile(planPath), planPath);
}

/** Prunes a model by a plan stored in a JSON file (the "Apply Pruning Plan" path). */
export async function applyPlanFile(inputPath: string, planPath: string, opts: PruneOptions = {}): Promise<PruneReport> {
  return pruneModel(inputPath, readPlanFile(planPath), opts);
}
