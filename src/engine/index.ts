// The engine's public face: what the CLI, the worker thread, the benchmarks and the extension
// import. Everything behind it (src/engine/*/) may change shape; these names are the contract.
// No vscode import, no module-level side effects beyond the ONNX schema: safe in any Node thread.

export { PrunerError, CancelledError, isPrunerError, throwIfAborted } from './errors.ts';

// ONNX I/O
export { loadModel, decodeModel, modelFromBuffer, type OnnxModel } from './onnx/model.ts';
export { saveModel, type SaveOptions, type SaveResult } from './onnx/save.ts';

// Graph, shapes, cost, summary
export { Graph } from './graph/graph.ts';
export { computeCost, type CostSummary, type LayerCost } from './graph/cost.ts';
export { summarizeModel, BN_FUSED_ADVICE, type ModelSummary, type TensorSummary } from './graph/summary.ts';

// Analysis: coupled channel groups, importance, statistics, the inspect report
export { analyzeDependencies } from './analysis/groups.ts';
export { mapChannel, removedChannels, type ChannelGroup, type DependencyAnalysis, type GroupMember, type IndexMapping } from './analysis/types.ts';
export { computeImportance, addCriteria, CHEAP_CRITERIA, layerChannels, REEXPORT_ADVICE, type ModelImportance, type LayerImportance } from './analysis/importance.ts';
export { importanceStats, type ModelStats, type ScoreStats, type Histogram } from './analysis/stats.ts';
export { buildAnalysisReport, buildLayerReport, type AnalysisReport, type LayerReport } from './analysis/report.ts';

// One model, analysed once (load → graph → shapes → groups → scores): the input of preview and prune
export { AnalysedModel, type AnalysisOptions, type ModelReader, type LoadOptions, type ScoreOptions } from './analysed-model.ts';
export { bindInputShapes, inputShapeMismatch, inputShapesFromSizes, valueInfoShape, type InputShapes } from './graph/shapes.ts';

// Plans, preview, the prune pipeline and its report
export { CRITERIA, CRITERION_LABELS, DATA_CRITERIA, PLAN_CRITERIA, PLAN_CRITERION_LABELS, isCriterion, isDataCriterion, isPlanCriterion, type Criterion, type CriterionLabels, type DataCriterion, type PlanCriterion } from './analysis/criteria.ts';
export { DEFAULT_PLAN, planOf, type PruningPlan, type LayerOverride, type ResolvedPlan } from './prune/types.ts';
export { parsePlan, serializePlan, validatePlan, resolvePlan } from './prune/plan.ts';
export { preparePreview, previewPlan, type PlanPreview } from './prune/preview.ts';
export { pruneModel, pruneAnalysed, previewPrune, previewAnalysed, macsCaveat, readPlanFile, applyPlanFile, type PruneOptions, type PrunePreview } from './prune/prune.ts';
export { planEffect, type PlanEffect } from './prune/plan-effect.ts';
export type { PruneReport } from './prune/report.ts';
export { findResidualBlocks, blockRanking, blockParams, applyBlockSelection, DEFAULT_BLOCK_THRESHOLD, type ResidualBlock, type BlockReport, type BlockDataScore } from './prune/blocks.ts';
export { scanBlocks, rankBlocksByData, weakestBlocksByData, type BlockScan, type BlockScanOptions } from './target/block-scan.ts';
export type { BlockSelection } from './prune/types.ts';
export { chooseOutputPath, defaultOutputPath, DEFAULT_OUTPUT_NAME, type OutputPathOptions } from './prune/output-path.ts';

// ONNX Runtime: providers, validation
export { availableProviders } from './runtime/session.ts';
export { validatePruned, type ValidateOptions } from './runtime/validate.ts';
export { withCost } from './runtime/cost.ts';
export type { ExecutionProviderChoice, InputTensor, LatencyStats, ValidationReport } from './runtime/types.ts';

// Calibration / evaluation inputs and recovery modes
export { arrayInputSet, type InputSet, type InputBatch } from './data/types.ts';
export { openInputSet, fitToInput, takeInputs, type OpenInputOptions } from './data/open.ts';
export { npyInputSet, rawF32InputSet } from './data/arrays.ts';
export { imageFolderInputSet, listImageFolder } from './data/images.ts';
export { readLabels } from './data/labels.ts';
export { npzArrayNames, openArray, openNpz, readArrayValues, splitNpzArg, type NpyArray } from './data/npy.ts';
export { PRESETS, PRESET_NAMES, describePreprocess, parsePreprocess, parsePreprocessArg, proposePreprocess, type Preprocess, type PresetName } from './data/preprocess.ts';
export { evaluateClassifier, evaluateSessions, sameDataWarning, type ClassifierEvaluation } from './runtime/evaluate.ts';
export { modelInputSpecs, inputSpecsOf } from './runtime/inputs.ts';
export type { EvaluationReport, ModelAccuracy, ModelInputSpec, OutputAgreement } from './runtime/types.ts';
export { RECOVER_MODES, type RecoverMode, type RecoveryReport } from './recovery/types.ts';
export { addPlanScores, planCriterionScores } from './recovery/criteria.ts';

// Pruning to a target: the sensitivity scan and its cache
export { atDataSize, scanSensitivity, scanSettings, DEFAULT_SCAN_RATIOS, DEFAULT_SCAN_INPUTS, DEFAULT_BREAK_LOSS, type ScanOptions, type ScanResult, type ScanStats } from './target/scan.ts';
export { scanCachePath, readScanCache, scanCacheKey, hashModelFiles, SCAN_CACHE_SUFFIX } from './target/scan-cache.ts';
export type { SensitivityScan, GroupSensitivity, SensitivityPoint, ScanSettings, Budget, TargetResult } from './target/types.ts';
export { allocate, budgetTarget, unreachableMessage, stoppedAtBreakLoss, MAX_CANDIDATES, DEFAULT_BLENDS, type Allocation, type AllocationCandidate, type AllocateOptions, type AllocationModel, type PlanFigures } from './target/allocate.ts';
export { findLatencyPlan, candidateBytes, type LatencyPlan, type LatencyCandidate, type LatencySearchOptions } from './target/latency.ts';
export { pruneToTarget, measureLoss, recoveredCandidate, findLossPlan, chooseMeasured, candidateName, TargetUnreachableError, type CandidateComparison, type TargetOptions, type TargetReport, type MeasuredLoss, type LossPlan } from './target/run.ts';
export { measureModelLatency, latencyInputs, describeLatency, DEFAULT_LATENCY_RUNS, DEFAULT_LATENCY_WARMUP, type LatencyMeasurement, type LatencyOptions } from './runtime/latency.ts';

// File safety: temp files, exclusive publication, protected inputs
export { removeActiveTemps, removeStaleTemps, writeTextFileSafely, isTempName, readJsonFile, STALE_TEMP_MS } from './files.ts';
