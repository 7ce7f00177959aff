// Residual blocks ranked from data: "the output change when the block is removed". The original
// runs once on the calibration inputs; then, for every removable block, the model without that block
// alone (prune/blocks.ts: the branch gone, the Add reading the branch BN's β) runs on the same inputs
// in memory, through ONNX Runtime, and is compared with the original exactly as a sensitivity-scan
// point is (target/scan.ts): points of top-1 agreement lost (of accuracy with labels), and the output
// drift ‖Δy‖/‖y‖. A block whose branch BN has γ = 0 changes nothing (loss 0, drift 0).
//
// Blocks rank by loss, then by drift (on a few dozen inputs many blocks lose no point at all, and
// the drift orders them), weakest first.
import * as path from 'node:path';
import { PrunerError, throwIfAborted } from '../errors.ts';
import type { AnalysedModel } from '../analysed-model.ts';
import { takeInputs } from '../data/open.ts';
import type { InputSet } from '../data/types.ts';
import type { OnnxModel } from '../onnx/model.ts';
import { findResidualBlocks, removeBlocks, type BlockDataScore, type ResidualBlock } from '../prune/blocks.ts';
import type { ExecutionProviderChoice } from '../runtime/types.ts';
import type { OrtModule } from '../runtime/session.ts';
import { DEFAULT_SCAN_INPUTS, ScanRunner, atDataSize, type ScanStats } from './scan.ts';

export interface BlockScanOptions {
  /** Inputs measured on (the first ones of the data; default 64, as the sensitivity scan). */
  count?: number;
  ep?: ExecutionProviderChoice;
  threads?: number;
  signal?: AbortSignal;
  /** Called after the original and after each block with the share done and what runs next. */
  onProgress?: (fraction: number, what: string) => void;
  ort?: OrtModule;
}

/** The data-driven block scores of one model on one data set. */
export interface BlockScan {
  /** What was measured on: file name, inputs used of the set, labelled or not. */
  data: string;
  inputs: number;
  labelled: boolean;
  /** The original's top-1 accuracy on those inputs (with labels). */
  baselineAccuracy?: number;
  /** Score per removable block, by block (Add node) name. */
  scores: Record<string, BlockDataScore>;
  seconds: number;
}

/**
 * Every removable residual block of `model` removed alone and measured on `data` (see the file
 * comment). Cancelling through `opts.signal` throws CancelledError.
 */
export async function scanBlocks(model: AnalysedModel, data: InputSet, opts: BlockScanOptions = {}): Promise<BlockScan> {
  const t0 = performance.now();
  const signal = opts.signal;
  const progress = opts.onProgress ?? (() => {});
  throwIfAborted(signal);
  const count = Math.min(opts.count ?? DEFAULT_SCAN_INPUTS, data.count);
  if (!Number.isInteger(count) || count < 1) throw new PrunerError(`block scan input count must be an integer ≥ 1, got ${opts.count}`);
  model = atDataSize(model, data.sampleShape);
  const blocks = findResidualBlocks(model.graph).filter((b) => b.removable);
  const inputs = takeInputs(data, count);
  const scan: BlockScan = {
    data: `${path.basename(data.source)} (${count} of ${data.count} inputs${data.labels ? ', labelled' : ''})`,
    inputs: count,
    labelled: !!inputs.labels,
    scores: {},
    seconds: 0,
  };
  if (blocks.length === 0) return scan;
  progress(0, 'original outputs');
  const runner = await ScanRunner.create(model, inputs, { ...opts, count });
  const stats: ScanStats = { runs: 0, cutRuns: 0, fullRuns: 0, unchanged: 0, macPasses: 0, prefixPasses: 0, recoveryFills: 0, recoveryServed: 0, pruneMs: 0, buildMs: 0, runMs: 0 };
  await runner.original();
  if (inputs.labels) scan.baselineAccuracy = runner.baselineAccuracy();
  for (let i = 0; i < blocks.length; i++) {
    throwIfAborted(signal);
    const b = blocks[i];
    progress((i + 1) / (blocks.length + 1), `without ${b.name}`);
    const without: OnnxModel = removeBlocks(model.graph, [b]);
    const m = await runner.measure(without.proto, undefined, stats);
    scan.scores[b.name] = { loss: m.loss, agreement: m.agreement, drift: m.drift, ...(m.accuracy !== undefined ? { accuracy: m.accuracy } : {}) };
  }
  progress(1, 'done');
  scan.seconds = Math.round((performance.now() - t0) / 100) / 10;
  return scan;
}

/** Removable blocks ordered by their data score, weakest first (loss, then drift); blocks without a score last. */
export function rankBlocksByData(blocks: readonly ResidualBlock[], scores: Readonly<Record<string, BlockDataScore>>): ResidualBlock[] {
  return blocks
    .filter((b) => b.removable && scores[b.name])
    .sort((x, y) => scores[x.name].loss - scores[y.name].loss || scores[x.name].drift - scores[y.name].drift);
}

/** The names of the `n` weakest removable blocks by their data score. */
export function weakestBlocksByData(model: AnalysedModel, scan: BlockScan, n: number): string[] {
  return rankBlocksByData(findResidualBlocks(model.graph), scan.scores).slice(0, n).map((b) => b.name);
}
