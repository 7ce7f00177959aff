// The data of a prune run from the view (calibration, evaluation, labels, validation inputs): the
// host sends the paths it remembers for the model and the options the view set; here they are
// opened against the model's input, described for the view (names, counts, shapes — never the
// paths' contents), and turned into the engine's prune options. No vscode import.
import * as fs from 'node:fs';
import * as path from 'node:path';
import {
  inputSpecsOf, npzArrayNames, openInputSet, openNpz, PrunerError, takeInputs, parsePreprocess, proposePreprocess, sameDataWarning, splitNpzArg,
  type Graph, type InputSet, type InputShapes, type InputTensor, type ModelInputSpec, type Preprocess, type PruneOptions,
} from '../engine/index.ts';
import type { ArrayRole, DataOptions, DataSetInfo, DataState, NpzArrayInfo, NpzChoice } from '../shared/protocol.ts';

/** What the host sends: the chosen paths (host-side, absolute) and the view's options. */
export interface DataJob extends DataOptions {
  calibration?: string;
  evaluation?: string;
  labels?: string;
  inputs?: string;
}

/**
 * The model input data can feed: the only input, taking float32 (else why not). Its sizes beyond the
 * batch are those given in the view (`inputShapes`) where the model declares them symbolic.
 */
function dataInput(graph: Graph, inputShapes: InputShapes = {}): { spec?: ModelInputSpec; unavailable?: string } {
  const specs = inputSpecsOf(graph).map((s) => {
    const given = inputShapes[s.name];
    return given && given.length === s.dims.length ? { ...s, dims: s.dims.map((d, i) => (i === 0 || typeof d === 'number' ? d : given[i]!)) } : s;
  });
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
  // the user's fields as they are (a crop that does not fit the model is reported when images are opened)
  if (job.preset === 'custom') return { proposed, used: job.custom ? { ...job.custom, mean: [...job.custom.mean], std: [...job.custom.std] } : proposed };
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
export async function openData(job: DataJob, graph: Graph, inputShapes: InputShapes = {}): Promise<{ opened: OpenedData; state: DataState }> {
  const { spec, unavailable } = dataInput(graph, inputShapes);
  const fixed = spec && typeof spec.dims[0] === 'number' && spec.dims[0] > 0 ? spec.dims[0] : undefined;
  const state: DataState = {
    preset: job.preset, recover: job.recover, calibCount: job.calibCount, runs: job.runs, batch: job.batch,
    ...(job.custom ? { custom: job.custom } : {}),
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
  const symbolic = spec.dims.slice(1).some((d) => typeof d !== 'number');
  if (symbolic) state.f32NeedsSize = `model input ${spec.name} is [${spec.dims.map((d) => d ?? '?').join(', ')}]: a .f32 file has no shape, so give the input size (above) to cut it into samples`;
  const open = async (role: ArrayRole, chosen: string | undefined): Promise<InputSet | undefined> => {
    if (!chosen) return undefined;
    let file = chosen;
    try {
      const npz = await npzChoice(chosen, role === 'evaluation' ? job.labels : undefined);
      if (npz) {
        (state.npz ??= {})[role] = npz.choice;
        file = npz.arg;
      }
      if (symbolic && /\.f32$/i.test(file)) throw new PrunerError(`${path.basename(file)}: ${state.f32NeedsSize}`);
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


/**
 * A chosen .npz file (`file.npz` or `file.npz:array`): its arrays with their shapes, the array read
 * (the chosen one; else the first with a sample axis, as a file of inputs and labels usually holds
 * them), and the array of the same file chosen as labels. Undefined for other files.
 */
export async function npzChoice(chosen: string, labels?: string): Promise<{ arg: string; choice: NpzChoice } | undefined> {
  const { file, array } = splitNpzArg(chosen);
  if (!/\.npz$/i.test(file)) return undefined;
  if (!fs.existsSync(file)) return undefined;
  const arrays: NpzArrayInfo[] = [];
  for (const name of await npzArrayNames(file)) {
    const { shape, dtype } = (await openNpz(file, name)).header;
    arrays.push({ name, shape: [...shape], dtype: dtype.descr, labels: (dtype.kind === 'i' || dtype.kind === 'u') && (shape.length === 1 || (shape.length === 2 && shape[1] === 1)) });
  }
  if (!arrays.length) return undefined;
  const read = array ?? (arrays.find((a) => a.shape.length >= 2) ?? arrays[0]!).name;
  const l = labels ? splitNpzArg(labels) : undefined;
  const choice: NpzChoice = { file: path.basename(file), arrays, array: read, ...(l?.array && path.resolve(l.file) === path.resolve(file) ? { labels: l.array } : {}) };
  return { arg: `${file}:${read}`, choice };
}
