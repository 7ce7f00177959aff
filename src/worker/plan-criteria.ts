// The plan-time criteria in the view: `sketch` (data-free) and the data criteria (activation, apoz,
// thinet), scored when a plan ranks by them — the data criteria on the calibration inputs chosen in
// the view, in one ONNX Runtime pass (the engine's planCriterionScores, as a prune computes them).
// Group scores are kept per model and per calibration choice; the requests waiting for a measurement
// share it (a preview replaced by the next one joins it), and it stops when every request waiting
// for it is cancelled. No vscode import.
import {
  CancelledError, isDataCriterion, planCriterionScores, PrunerError, throwIfAborted,
  type AnalysedModel, type InputSet, type InputShapes, type PlanCriterion,
} from '../engine/index.ts';
import { openData, type DataJob } from './data.ts';
import type { JobContext, ModelService } from './modelService.ts';

/**
 * How long a measurement no request waits for goes on: the view cancels a preview when the plan
 * changes and asks again at once, and the new request joins the measurement instead of restarting it.
 */
export const ORPHAN_GRACE_MS = 750;

/** Measured scores kept per model (criterion × calibration choice). */
const KEEP = 6;

type Scores = Map<number, Float32Array>;

interface Job {
  key: string;
  promise: Promise<Scores>;
  controller: AbortController;
  waiters: number;
  listeners: Set<JobContext['progress']>;
  last?: [string, number | undefined];
}

/** What a data criterion's scores depend on: the calibration file, its count and preprocessing, and the input sizes. */
export function planScoresKey(criterion: PlanCriterion, data: DataJob | undefined, inputShapes: InputShapes): string {
  if (!isDataCriterion(criterion)) return criterion;
  const sizes = Object.keys(inputShapes).sort().map((k) => [k, inputShapes[k]]);
  return JSON.stringify([criterion, data?.calibration ?? null, data?.calibCount ?? null, data?.preset ?? null, data?.preset === 'custom' ? data.custom ?? null : null, sizes]);
}

class PlanScores {
  private readonly done = new Map<string, Scores>();
  private readonly running = new Map<string, Job>();

  constructor(private readonly service: ModelService, private readonly graceMs: number) {}

  /**
   * The group scores of `criterion` (a plan-time one), measured once per calibration choice, on the
   * model (or `on`: the model without some residual blocks, named by `on.key`).
   */
  async scores(criterion: PlanCriterion, data: DataJob | undefined, ctx: JobContext, on?: Variant): Promise<Scores> {
    const key = `${planScoresKey(criterion, data, this.service.analysed.inputShapes)}${on ? `\u0000${on.key}` : ''}`;
    const hit = this.done.get(key);
    if (hit) return hit;
    let job = this.running.get(key);
    if (!job) {
      job = this.start(key, criterion, data, on?.analysed ?? this.service.analysed);
      this.running.set(key, job);
    }
    return this.wait(job, ctx);
  }

  private start(key: string, criterion: PlanCriterion, data: DataJob | undefined, analysed: AnalysedModel): Job {
    const controller = new AbortController();
    const listeners = new Set<JobContext['progress']>();
    const job: Job = { key, promise: undefined as unknown as Promise<Scores>, controller, waiters: 0, listeners };
    const progress = (stage: string, fraction?: number) => {
      job.last = [stage, fraction];
      for (const l of listeners) l(stage, fraction);
    };
    job.promise = (async () => {
      let calibration: InputSet | undefined;
      if (isDataCriterion(criterion)) {
        const { opened, state } = await openData(data ?? { preset: 'auto', recover: 'none', calibCount: 1, runs: 1, batch: 1 }, analysed.graph, analysed.inputShapes);
        if (state.unavailable) throw new PrunerError(`criterion ${criterion} is measured on calibration inputs, which cannot feed this model: ${state.unavailable}`);
        const err = state.errors.find((e) => e.startsWith('calibration'));
        if (err) throw new PrunerError(`criterion ${criterion}: ${err}`);
        if (!opened.calibration) throw new PrunerError(`criterion ${criterion} is measured on calibration inputs: choose them under Data and recovery, or rank by a weight criterion`);
        calibration = opened.calibration;
        progress(`Measuring ${criterion} on ${calibration.count} calibration inputs`, 0);
      } else progress(`Scoring channels (${criterion})`);
      const scores = await planCriterionScores(criterion, analysed.model, analysed.graph, analysed.dependencies(controller.signal), {
        ...(calibration ? { calibration } : {}),
        ep: 'auto',
        signal: controller.signal,
        onProgress: (f) => progress(`Measuring ${criterion} on ${calibration?.count ?? 0} calibration inputs`, f),
      });
      throwIfAborted(controller.signal);
      return scores ?? new Map();
    })();
    job.promise.then(
      (scores) => {
        this.done.set(key, scores);
        if (this.done.size > KEEP) this.done.delete(this.done.keys().next().value!);
      },
      () => {},
    ).finally(() => {
      if (this.running.get(key) === job) this.running.delete(key);
    });
    return job;
  }

  private async wait(job: Job, ctx: JobContext): Promise<Scores> {
    job.waiters++;
    job.listeners.add(ctx.progress);
    // a request joining a measurement under way sees how far it got (a start, at 0, is not repeated)
    if (job.last && job.last[1] !== undefined && job.last[1] > 0) ctx.progress(...job.last);
    let onAbort: (() => void) | undefined;
    const aborted = new Promise<never>((_, reject) => {
      onAbort = () => reject(new CancelledError());
      if (ctx.signal.aborted) onAbort();
      else ctx.signal.addEventListener('abort', onAbort, { once: true });
    });
    try {
      return await Promise.race([job.promise, aborted]);
    } finally {
      if (onAbort) ctx.signal.removeEventListener('abort', onAbort);
      job.waiters--;
      job.listeners.delete(ctx.progress);
      if (job.waiters === 0 && ctx.signal.aborted) {
        // nobody waits any more: stop, unless a request joins within the grace period
        setTimeout(() => {
          if (job.waiters !== 0) return;
          job.controller.abort();
          // a request from now on starts a new measurement (this one is stopping)
          if (this.running.get(job.key) === job) this.running.delete(job.key);
        }, this.graceMs).unref?.();
      }
    }
  }
}

/** A variant of the open model the scores are measured on (the model without some blocks), and its key. */
export interface Variant {
  analysed: AnalysedModel;
  key: string;
}

const byService = new WeakMap<ModelService, PlanScores>();

/** The group scores of a plan-time criterion for an open model or a variant of it (see PlanScores.scores). */
export function planCriterionScoresOf(service: ModelService, criterion: PlanCriterion, data: DataJob | undefined, ctx: JobContext, graceMs = ORPHAN_GRACE_MS, on?: Variant): Promise<Scores> {
  let p = byService.get(service);
  if (!p) byService.set(service, (p = new PlanScores(service, graceMs)));
  return p.scores(criterion, data, ctx, on);
}
