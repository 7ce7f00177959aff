// The engine worker thread: holds the open models and answers the extension host's requests.
// Heavy work (decoding a 500 MB model, analysis, surgery, ONNX Runtime) happens here.
import { parentPort } from 'node:worker_threads';
import { CancelledError, PrunerError } from '../engine/index.ts';
import { ModelService, listProviders, pruneJob, validateJob } from './modelService.ts';
import type { FromWorker, ToWorker, WorkerMethod, WorkerMethods } from './protocol.ts';
import type { Criterion } from '../shared/protocol.ts';

if (!parentPort) throw new Error('worker.ts must run in a worker thread');
const port = parentPort;

/** An open model: its structure (phase 1), then its scores (phase 2, started once the structure is ready). */
interface OpenModel {
  structure: Promise<ModelService>;
  scored: Promise<ModelService> | undefined;
  /** Stops phase 2 when the model is closed. */
  scoring: AbortController;
  scoringProgress: (stage: string, fraction?: number) => void;
}

const models = new Map<string, OpenModel>();
const running = new Map<number, AbortController>();

function post(m: FromWorker): void {
  port.postMessage(m);
}

function entry(path: string): OpenModel {
  const m = models.get(path);
  if (!m) throw new PrunerError(`${path}: model is not open`);
  return m;
}

/** The model with its structure (rows, summary, groups). */
async function model(path: string): Promise<ModelService> {
  return entry(path).structure;
}

/** The model with its channel scores (histograms, channel scores, plan previews). */
function scored(path: string): Promise<ModelService> {
  const m = entry(path);
  m.scored ??= m.structure.then(async (s) => {
    await s.score({ signal: m.scoring.signal, progress: (stage, fraction) => m.scoringProgress(stage, fraction) });
    return s;
  });
  return m.scored;
}

/** The scored model with `criteria` computed too (FPGM is computed on first use). */
async function withCriteria(path: string, criteria: Criterion[], ctx: { signal: AbortSignal; progress: (stage: string, fraction?: number) => void }): Promise<ModelService> {
  const s = await scored(path);
  const m = entry(path);
  // computed for the model, not for one request: only closing the model stops it
  await s.ensureCriteria(criteria, { signal: m.scoring.signal, progress: ctx.progress });
  return s;
}

type Handler<K extends WorkerMethod> = (params: WorkerMethods[K]['params'], ctx: { signal: AbortSignal; progress: (stage: string, fraction?: number) => void }) => Promise<WorkerMethods[K]['result']> | WorkerMethods[K]['result'];

const handlers: { [K in WorkerMethod]: Handler<K> } = {
  open: async ({ path }, ctx) => {
    let m = models.get(path);
    if (!m) {
      const structure = ModelService.openStructure(path, ctx);
      m = { structure, scored: undefined, scoring: new AbortController(), scoringProgress: () => {} };
      models.set(path, m);
      structure.catch(() => models.delete(path));
    }
    return (await m.structure).summary();
  },
  score: async ({ path }, ctx) => {
    const m = entry(path);
    m.scoringProgress = ctx.progress;
    ctx.signal.addEventListener('abort', () => m.scoring.abort(), { once: true });
    return (await scored(path)).summary();
  },
  close: ({ path }) => {
    models.get(path)?.scoring.abort();
    models.delete(path);
    return null;
  },
  getLayers: async ({ path, query }, ctx) => {
    // a sort by a criterion not computed yet (FPGM) computes it first
    const crit = query.sort?.key.includes('.') ? (query.sort.key.split('.')[0] as Criterion) : undefined;
    return crit ? (await withCriteria(path, [crit], ctx)).layers(query) : (await model(path)).layers(query);
  },
  getHistogram: async ({ path, criterion, layer, log }, ctx) => (await withCriteria(path, [criterion], ctx)).histogram(criterion, layer, log),
  getLayerDetail: async ({ path, layer, plan }, ctx) => (await withCriteria(path, plan ? [plan.criterion] : [], ctx)).layerDetail(layer, plan),
  previewPlan: async ({ path, plan }, ctx) => (await withCriteria(path, [plan.criterion], ctx)).preview(plan),
  listLayers: async ({ path }) => {
    const m = models.get(path)?.structure ?? ModelService.openStructure(path, { signal: new AbortController().signal, progress: () => {} });
    return (await m).layerList();
  },
  prune: (job, ctx) => pruneJob(job, ctx),
  validate: (p, ctx) => validateJob(p, ctx),
  providers: () => listProviders(),
};

port.on('message', async (m: ToWorker) => {
  if (m.kind === 'cancel') {
    running.get(m.id)?.abort();
    return;
  }
  const controller = new AbortController();
  running.set(m.id, controller);
  const progress = (stage: string, fraction?: number) => post({ kind: 'progress', id: m.id, stage, fraction });
  try {
    const handler = handlers[m.method] as Handler<WorkerMethod>;
    if (!handler) throw new Error(`unknown method ${m.method}`);
    const result = await handler(m.params as never, { signal: controller.signal, progress });
    post({ kind: 'response', id: m.id, ok: true, result });
  } catch (e) {
    const err = e as Error;
    const cancelled = e instanceof CancelledError || controller.signal.aborted;
    const user = e instanceof PrunerError;
    post({
      kind: 'response', id: m.id, ok: false,
      error: { message: cancelled ? 'cancelled' : err?.message ?? String(e), details: user ? (e as PrunerError).details : err?.stack, cancelled, user },
    });
  } finally {
    running.delete(m.id);
  }
});
