// The data of a prune run from the view (calibration, evaluation, labels, validation inputs): the
// host sends the paths it remembers for the model and the options the view set; here they are
// opened against the model's input, described for the view (names, counts, shapes — never the
// paths' contents), and turned into the engine's prune options. No vscode import.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  inputSpecsOf, openInputSet, PrunerError, takeInputs, parsePreprocess, proposePreprocess, sameDataWarning,
  type Graph, type InputSet, type InputTensor, type ModelInputSpec, type Preprocess, type PruneOptions,
} from '../engine/index.ts';
import type { DataOptions, DataSetInfo, DataState } from '../shared/protocol.ts';

/** What the host sends: the chosen paths (host-side, absolute) and the view's options. */
export interface DataJob extends DataOptions {
  calibration?: string;
  evaluation?: string;
  labels?: string;
  inputs?: string;
}

/** The model input data can feed: the only input, taking float32 (else why not). */
function dataInput(graph: Graph): { spec?: ModelInputSpec; unavailable?: string } {
  const specs = inputSpecsOf(graph);
  if (specs.length !== 1) return { unavailable: `calibration and evaluation data feed a model with one input; this one has ${specs.length} (${specs.map((s) => s.name).join(', ')})` };
  const spec = specs[0]!;
  if (spec.type !== 'float32') return { unavailable: `model input ${spec.name} takes ${spec.type ?? `ONNX type ${spec.onnxType}`}; calibration and evaluation data feed float32 inputs` };
  return { spec };
}

const isImageShape = (spec: ModelInputSpec) => spec.dims.length === 4;

function preprocessOf(job: DataJob, spec: ModelInputSpec): { proposed?: Preprocess; used?: Preprocess } {
  if (!isImageShape(spec)) return {};
  const proposed = proposePreprocess(spec);
  if (job.preset === 'auto') return { proposed, used: proposed };
  // a preset fitted to the model's size, as proposed (the crop is the input's height and width)
  const used = { ...parsePreprocess(job.preset), ...(proposed.crop ? { crop: proposed.crop } : {}), layout: proposed.layout };
  return { proposed, used };
}

export interface OpenedData {
  calibration?: InputSet;
  evaluation?: InputSet;
  inputs?: InputSet;
  preprocess?: Preprocess;
  spec?: ModelInputSpec;
}

/** Opens every chosen set; `errors` names each that cannot be used (the set is then left out). */
export async function openData(job: DataJob, graph: Graph): Promise<{ opened: OpenedData; state: DataState }> {
  const { spec, unavailable } = dataInput(graph);
  const fixed = spec && typeof spec.dims[0] === 'number' && spec.dims[0] > 0 ? spec.dims[0] : undefined;
  const state: DataState = {
    preset: job.preset, recover: job.recover, calibCount: job.calibCount, runs: job.runs, batch: job.batch,
    imageInput: spec ? isImageShape(spec) : false,
    ...(fixed !== undefined ? { fixedBatch: fixed } : {}),
    ...(unavailable ? { unavailable } : {}),
    ...(job.labels ? { labelsFile: path.basename(job.labels) } : {}),
    errors: [],
    warnings: [],
  };
  const opened: OpenedData = {};
  if (!spec) return { opened, state };
  opened.spec = spec;
  const { proposed, used } = preprocessOf(job, spec);
  if (proposed) state.proposed = proposed;
  if (used) state.preprocess = used;
  const open = async (role: 'calibration' | 'evaluation' | 'inputs', file: string | undefined): Promise<InputSet | undefined> => {
    if (!file) return undefined;
    try {
      if (!fs.existsSync(file.replace(/:[^\\/]*$/, '')) && !fs.existsSync(file)) throw new Error(`${file}: no such file or folder (moved or deleted since it was chosen)`);
      const set = await openInputSet(file, {
        spec,
        ...(used ? { preprocess: used } : {}),
        ...(role === 'evaluation' && job.labels ? { labels: job.labels } : {}),
      });
      const total = set.count;
      state[role] = describe(set, role === 'calibration' ? Math.min(total, job.calibCount) : total, total);
      return role === 'calibration' ? takeInputs(set, job.calibCount) : set;
    } catch (e) {
      state.errors.push(`${role === 'inputs' ? 'validation inputs' : `${role} data`}: ${e instanceof Error ? e.message : String(e)}`);
      return undefined;
    }
  };
  opened.calibration = await open('calibration', job.calibration);
  opened.evaluation = await open('evaluation', job.evaluation);
  opened.inputs = await open('inputs', job.inputs);
  if (used && (opened.calibration?.preprocess || opened.evaluation?.preprocess)) opened.preprocess = used;
  if (job.labels && !job.evaluation) state.warnings.push(`labels ${path.basename(job.labels)} are for the evaluation set: choose one`);
  if (opened.evaluation && opened.calibration) {
    const same = await sameDataWarning(opened.calibration, opened.evaluation);
    if (same) state.warnings.push(same.replace(opened.evaluation.source, path.basename(opened.evaluation.source)));
  }
  if (opened.calibration && job.recover === 'none') state.warnings.push('recovery is off (none): the calibration data is not used');
  if (!opened.calibration && (job.recover === 'bn' || job.recover === 'ls')) state.warnings.push(`recovery ${job.recover} needs calibration data: choose it, or the run stops with a message`);
  return { opened, state };
}

function describe(set: InputSet, count: number, total: number): DataSetInfo {
  return {
    name: path.basename(set.source),
    kind: set.preprocess ? 'images' : 'array',
    count,
    total,
    sampleShape: [...set.sampleShape],
    ...(set.labelsSource ? { labels: set.labelsSource === `${set.source} (sub-folder per class)` ? 'folder layout' : path.basename(set.labelsSource) } : {}),
    ...(set.classes ? { classes: set.classes.length } : {}),
  };
}

/** The first `batch` samples of a set as one tensor for the model input (the model's fixed batch wins). */
export async function firstBatch(set: InputSet, spec: ModelInputSpec, batch: number, signal?: AbortSignal): Promise<InputTensor> {
  const fixed = typeof spec.dims[0] === 'number' && spec.dims[0] > 0 ? spec.dims[0] : undefined;
  const want = fixed ?? Math.min(batch, set.count);
  const per = set.sampleShape.reduce((a, b) => a * b, 1);
  const data = new Float32Array(want * per);
  let have = 0;
  for await (const b of set.batches(want, signal)) {
    const n = Math.min(b.count, want - have);
    data.set(b.data.subarray(0, n * per), have * per);
    have += n;
    if (have >= want) break;
  }
  // a fixed batch larger than the set repeats its last sample
  for (let i = have; i < want && have > 0; i++) data.copyWithin(i * per, (have - 1) * per, have * per);
  return { type: 'float32', dims: [want, ...set.sampleShape], data };
}

/** The engine's prune options for the opened data (a run with unusable data stops before any work, naming it). */
export async function pruneDataOptions(job: DataJob, data: { opened: OpenedData; state: DataState }, signal?: AbortSignal): Promise<Partial<PruneOptions>> {
  if (data.state.errors.length) throw new PrunerError(`${data.state.errors.join('; ')}; nothing written`);
  const { opened } = data;
  const out: Partial<PruneOptions> = { recover: job.recover, validationRuns: job.runs };
  if (opened.calibration) out.calibration = opened.calibration;
  if (opened.evaluation) out.evaluation = opened.evaluation;
  const source = opened.inputs ?? opened.evaluation ?? opened.calibration;
  if (source && opened.spec) {
    out.validationInputs = { [opened.spec.name]: await firstBatch(source, opened.spec, job.batch, signal) };
    const t = out.validationInputs[opened.spec.name]!;
    out.validationSource = `${path.basename(source.source)} (first ${Math.min(source.count, t.dims[0]!)} of ${source.count})`;
  }
  return out;
}

