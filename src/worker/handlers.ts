// What the engine worker does for each request: the open models (each an AnalysedModel inside a
// ModelService, loaded once) and one handler per method of WorkerMethods. Separate from the
// thread's wiring (worker.ts) so tests can run it in-process with an injected model reader.
import { isCriterion, PrunerError, type ModelReader } from '../engine/index.ts';
import { planCriterionScoresOf } from './plan-criteria.ts';
import type { Handlers, HandlerContext } from '../shared/rpc.ts';
import { ModelService, listProviders, pruneJob, validateJob } from './modelService.ts';
import type { WorkerMethods } from './protocol.ts';
import { openData } from './data.ts';
import { blocksJob, checkTargetJob, findPlanJob, measureLatencyJob, scanJob, type RecentScans } from './target.ts';
import type { Criterion } from '../shared/protocol.ts';

/** An open model: its structure (phase 1), then its scores (phase 2, started once the structure is ready). */
interface OpenModel {
  structure: Promise<ModelService>;
  /** The input sizes it is analysed with (JSON of the shapes by input name; `{}` for none). */
  sizes: string;
  scored: Promise<ModelService> | undefined;
  /** Stops phase 2 when the model is closed. */
  scoring: AbortController;
  scoringProgress: HandlerContext['progress'];
}

export interface WorkerOptions {
  /** Reads a model file (default: the engine's loadModel); tests count the reads. */
  reader?: ModelReader;
  /** How long a data criterion's measurement that no request waits for goes on (default ORPHAN_GRACE_MS). */
  planScoreGraceMs?: number;
}

/** A stable key of input sizes (input names sorted). */
function sizesKey(shapes: Record<string, number[]>): string {
  return JSON.stringify(Object.keys(shapes).sort().map((k) => [k, shapes[k]]));
}

export function workerHandlers(opts: WorkerOptions = {}): Handlers<WorkerMethods> {
  const models = new Map<string, OpenModel>();
  const scans: RecentScans = new Map();

  const entry = (path: string): OpenModel => {
    const m = models.get(path);
    if (!m) throw new PrunerError(`${path}: model is not open`);
    return m;
  };
  /** The model with its structure (rows, summary, groups). */
  const model = async (path: string): Promise<ModelService> => entry(path).structure;
  /** The model with its channel scores (histograms, channel scores, plan previews). */
  const scored = (path: string): Promise<ModelService> => {
    const m = entry(path);
    m.scored ??= m.structure.then(async (s) => {
      await s.score({ signal: m.scoring.signal, progress: (stage, fraction) => m.scoringProgress(stage, fraction) });
      return s;
    });
    return m.scored;
  };
  /** The scored model with `criteria` computed too (FPGM is computed on first use). */
  const withCriteria = async (path: string, criteria: Criterion[], ctx: HandlerContext): Promise<ModelService> => {
    const s = await scored(path);
    // computed for the model, not for one request: only closing the model stops it
    await s.ensureCriteria(criteria, { signal: entry(path).scoring.signal, progress: ctx.progress });
    return s;
  };

  return {
    open: async ({ path, inputShapes }, ctx) => {
      let m = models.get(path);
      const sizes = sizesKey(inputShapes ?? {});
      if (m && inputShapes !== undefined && m.sizes !== sizes) {
        // other input sizes: the held model is analysed again with them (the file is not read again)
        const previous = m;
        const held = await previous.structure.catch(() => undefined);
        // sizes that do not fit are refused before anything changes
        held?.checkInputShapes(inputShapes);
        previous.scoring.abort();
        const structure = held ? held.withInputShapes(inputShapes, ctx) : ModelService.openStructure(path, ctx, opts.reader, inputShapes);
        const next: OpenModel = { structure, sizes, scored: undefined, scoring: new AbortController(), scoringProgress: () => {} };
        m = next;
        models.set(path, next);
        // sizes that do not fit leave the model as it was
        structure.catch(() => { if (models.get(path) === next) models.set(path, held ? { ...previous, scored: undefined, scoring: new AbortController() } : previous); });
      }
      if (!m) {
        const structure = ModelService.openStructure(path, ctx, opts.reader, inputShapes);
        const entryNew: OpenModel = { structure, sizes, scored: undefined, scoring: new AbortController(), scoringProgress: () => {} };
        m = entryNew;
        models.set(path, entryNew);
        structure.catch(() => { if (models.get(path) === entryNew) models.delete(path); });
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
    getLayerDetail: async ({ path, layer, plan, data }, ctx) => {
      if (!plan || isCriterion(plan.criterion)) return (await withCriteria(path, plan ? [plan.criterion as Criterion] : [], ctx)).layerDetail(layer, plan);
      const s = await scored(path);
      return s.layerDetail(layer, plan, await planCriterionScoresOf(s, plan.criterion, data, ctx, opts.planScoreGraceMs));
    },
    previewPlan: async ({ path, plan, data }, ctx) => {
      if (isCriterion(plan.criterion)) return (await withCriteria(path, [plan.criterion], ctx)).preview(plan, ctx.signal);
      const s = await scored(path);
      return s.preview(plan, ctx.signal, (on) => planCriterionScoresOf(s, plan.criterion, data, ctx, opts.planScoreGraceMs, on));
    },
    getGroups: async ({ path }) => (await model(path)).groups(),
    listLayers: async ({ path }) => {
      const m = models.get(path)?.structure ?? ModelService.openStructure(path, { signal: new AbortController().signal, progress: () => {} }, opts.reader);
      return (await m).layerList();
    },
    // An open model is pruned from what the worker holds: the file is not read again.
    prune: async (job, ctx) => pruneJob(job, ctx, await models.get(job.path)?.structure.catch(() => undefined), opts.reader),
    validate: async (p, ctx) => validateJob(p, ctx, p.data ? (await models.get(p.original)?.structure.catch(() => undefined)) : undefined, opts.reader),
    describeData: async ({ path, data }) => {
      const m = await model(path);
      return (await openData(data, m.graph, m.analysed.inputShapes)).state;
    },
    providers: () => listProviders(),
    scan: async ({ path, ...p }, ctx) => scanJob(scans, (await model(path)).analysed, p, ctx),
    findPlan: async ({ path, ...p }, ctx) => findPlanJob(scans, (await model(path)).analysed, p, ctx),
    getBlocks: async ({ path, ...p }, ctx) => blocksJob(await model(path), p, ctx),
    measureLatency: async ({ path }, ctx) => measureLatencyJob((await model(path)).analysed, ctx),
    checkTarget: async ({ path, ...p }, ctx) => checkTargetJob((await model(path)).analysed, p, ctx),
  };
}
