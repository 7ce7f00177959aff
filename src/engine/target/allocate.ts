// Allocation: per-group ratios that meet a budget (MACs, parameters or a maximum loss) with the
// least loss predicted by a sensitivity scan.
//
// Candidates. For every scanned group, the widths it may take: from whole down to the narrowest
// width its scan measured, in steps of the round-to (and of a grouped convolution's divisor),
// thinned to at most MAX_CANDIDATES. The loss of a width between two scanned points is
// interpolated linearly in the channel count (the unpruned group loses 0), then made
// non-decreasing as the group narrows (a noisy scan may measure a wider width worse than a
// narrower one; the envelope keeps the search monotone). Widths narrower than the scan measured
// (after an early stop, or past the last ratio) are never proposed. The predicted loss of a plan
// is the sum of its groups' losses (each measured with the rest of the model whole).
//
// What the searches minimise (`objective`): by default the summed loss in points; or the summed
// output drift ‖y' − y‖/‖y‖ of the groups (interpolated the same way), continuous where a loss on
// 64 inputs moves in steps of 1.6 points, but measured worse on the Fashion-MNIST ResNet (half the
// MACs, BN recalibration: top-1 48.5% by drift, 68.5% by loss). A loss budget always constrains the
// predicted loss in points.
//
// Two searches, the better kept (least objective for a MACs or parameter budget; fewest MACs for a
// loss budget):
//   - 'level' (AIMET's greedy compression-ratio selection): a common level L of the objective; each
//     group takes its narrowest width whose score is at most L; L is bisected over the distinct
//     candidate scores until the budget is met. Groups whose scores tie (a scan on a few inputs often
//     measures 0 points for several groups and ratios) are told apart by the share of channels they
//     lose: the level is the pair (score, ratio), compared in that order, so tied groups narrow
//     together to the same ratio instead of one of them to its narrowest;
//   - 'greedy': from the whole model, repeatedly narrow the group whose next step costs the least
//     objective per MAC (or parameter) it saves, until the budget is met; among equal costs, the group
//     narrowed least so far (spreading the cut over tied groups).
// Both end (a MACs/parameter budget) with a fill pass: steps are given back, the one saving the most
// objective first (among equal savings the group narrowed most), while the budget still holds; then a
// fine pass widens each group by single widths (round-to steps) while the budget holds. The plan so
// stays at or below its target, and short of it by less than one width step of the cheapest group
// still narrowed.
//
// Costs are never summed from the scan: every MACs / parameter figure is previewPlan's (the same
// exact count as the written model's, compensation biases included) on the plan's resolved
// channels; the final plan is resolved again from its document (overrides) and counted once more.
import { channelsToKeep } from '../analysis/groups.ts';
import type { ChannelGroup, DependencyAnalysis } from '../analysis/types.ts';
import type { ModelImportance } from '../analysis/importance.ts';
import type { Graph } from '../graph/graph.ts';
import { PrunerError, throwIfAborted } from '../errors.ts';
import { resolvePlan } from '../prune/plan.ts';
import { previewPlan } from '../prune/preview.ts';
import { planOf, type LayerOverride, type PruningPlan, type ResolvedPlan } from '../prune/types.ts';
import type { Budget, GroupSensitivity, SensitivityScan, TargetResult } from './types.ts';

/** At most this many widths per group are considered (evenly spread from whole to the narrowest scanned). */
export const MAX_CANDIDATES = 32;

export interface AllocateOptions {
  /** Keep a multiple of this many channels per group (default: the scan's round-to). */
  roundTo?: number;
  /** Never keep fewer channels than this in a group (default 1). */
  minChannels?: number;
  /** The plan folds removed channels' constant outputs into the next layers (default true); counted in the MACs/params. */
  compensate?: boolean;
  /** Informational: the model file the plan is for. */
  model?: string;
  /** What the searches minimise (default 'loss'). */
  objective?: Objective;
  /**
   * For a MACs or parameter budget, also these blends of the chosen plan with a uniform ratio
   * (`t` = the share of the allocation kept, 0 = uniform), each meeting the budget: the candidates
   * a caller may measure (chooseMeasured in run.ts). Default none.
   */
  blends?: readonly number[];
  signal?: AbortSignal;
}

/** The model an allocation counts on: its graph, channel groups and the scores of the scan's criterion. */
export interface AllocationModel {
  graph: Graph;
  deps: DependencyAnalysis;
  importance: ModelImportance;
}

export interface PlanFigures {
  macs: number;
  params: number;
  /** Predicted loss in points: the sum of the groups' scanned losses. */
  loss: number;
  /** What the searches minimised (the sum of the groups' drifts, or the loss: `objective`). */
  score: number;
}

/**
 * What the searches minimise (default 'loss'). 'drift': the sum of the groups' output drifts ‖y' − y‖/‖y‖ (scanned,
 * interpolated): continuous, where a loss in points on a few inputs moves in steps of 100/inputs
 * and is noisy (a group scanned at 1.6 points at 10% and 0 at 20%). 'loss': the sum of the loss
 * points. A loss budget always constrains the loss in points; the objective only ranks.
 */
export type Objective = 'drift' | 'loss';

export interface Allocation extends TargetResult {
  /** The plan document (per-layer overrides), saved like any plan. */
  plan: PruningPlan;
  /** The model unpruned. */
  baseline: { macs: number; params: number };
  /** The budget in its unit (MACs, parameters or loss points). */
  target: number;
  /** What each search found (the chosen one is `method`). */
  searches: { method: 'level' | 'greedy'; predicted: PlanFigures; met: boolean; plan: PruningPlan }[];
  /** Per scanned group: first layer, channels, kept channels, ratio, predicted loss and score of the chosen plan. */
  groups: { group: number; layer: string; channels: number; kept: number; ratio: number; loss: number; score: number }[];
  objective: Objective;
  predicted: PlanFigures;
  /** Groups left whole because the scan has no point for them (a partial scan), frozen groups. */
  notes: string[];
  /**
   * With `blends` and a met MACs or parameter budget: the allocation (t = 1) and each blend, every
   * one meeting the budget, in that order (blends that repeat an earlier plan left out).
   */
  candidates?: AllocationCandidate[];
}

/** A plan meeting the budget: the allocation (t = 1) or a blend of it with a uniform ratio. */
export interface AllocationCandidate {
  /** Share of the allocation's ratios kept (1: the allocation; 0: a uniform ratio). */
  t: number;
  plan: PruningPlan;
  predicted: PlanFigures;
  groups: Allocation['groups'];
}

interface Candidate {
  keep: number;
  /** Share of the group's channels removed at this width. */
  ratio: number;
  /** Predicted loss in points (interpolated, non-decreasing as the group narrows). */
  loss: number;
  /** What the searches minimise: the loss, or the output drift (see AllocateOptions.objective). */
  score: number;
}

interface GroupCandidates {
  g: ChannelGroup;
  layer: string;
  /** Every width the group may take (round-to, divisor, minimum), whole first, down to the narrowest scanned. */
  all: Candidate[];
  /** Indices into `all` the greedy search and the fill pass step through (at most MAX_CANDIDATES, increasing, from 0 to the last). */
  stops: number[];
}

/** A value at `keep` channels from the scan's points (linear in the channel count between points; whole = 0). */
function interpolate(points: { kept: number; v: number }[], keep: number): number {
  // points: decreasing kept, starting with (channels, 0)
  for (let i = 1; i < points.length; i++) {
    const a = points[i - 1];
    const b = points[i];
    if (keep <= a.kept && keep >= b.kept) return a.kept === b.kept ? Math.max(a.v, b.v) : a.v + ((a.kept - keep) / (a.kept - b.kept)) * (b.v - a.v);
  }
  return points[points.length - 1].v;
}

/** The widths a group may take, whole first, with their interpolated, non-decreasing loss; and the thinned stops among them. */
function candidatesOf(s: GroupSensitivity, g: ChannelGroup, roundTo: number, minChannels: number, objective: Objective): { all: Candidate[]; stops: number[] } {
  const C = g.channels;
  const scanned = s.points.filter((p) => p.kept <= C).sort((a, b) => b.kept - a.kept);
  const pts = [{ kept: C, loss: 0, drift: 0 }, ...scanned.map((p) => ({ kept: p.kept, loss: Math.max(0, p.loss), drift: Number.isFinite(p.drift) ? Math.max(0, p.drift) : Infinity }))];
  const lossPts = pts.map((p) => ({ kept: p.kept, v: p.loss }));
  const driftPts = pts.map((p) => ({ kept: p.kept, v: p.drift }));
  const narrowest = pts[pts.length - 1].kept;
  const opts = { roundTo, minChannels, divisor: g.divisor ?? 1 };
  const widths: number[] = [];
  for (let k = C; k >= 1; k--) {
    const w = channelsToKeep(C, (C - k) / C, opts);
    if (w < narrowest) break;
    if (widths[widths.length - 1] !== w) widths.push(w);
  }
  let stops = widths.map((_, i) => i);
  if (widths.length > MAX_CANDIDATES) {
    stops = [];
    for (let i = 0; i < MAX_CANDIDATES; i++) {
      const j = Math.round((i * (widths.length - 1)) / (MAX_CANDIDATES - 1));
      if (stops[stops.length - 1] !== j) stops.push(j);
    }
  }
  let worst = 0;
  let drift = 0;
  const all = widths.map((keep) => {
    worst = Math.max(worst, keep === C ? 0 : interpolate(lossPts, keep));
    drift = Math.max(drift, keep === C ? 0 : interpolate(driftPts, keep));
    return { keep, ratio: (C - keep) / C, loss: worst, score: objective === 'drift' ? drift : worst };
  });
  return { all, stops };
}

/** The override ratio that keeps exactly `keep` of `channels` (channelsToKeep's inverse). */
function ratioFor(channels: number, keep: number): number {
  return (channels - keep) / channels;
}

/** A plan's state: per group, an index into its `all` widths (0 = whole). */
type State = number[];

class Counter {
  readonly base: PruningPlan;
  readonly groups: GroupCandidates[];
  /** Kept indices per group and width, resolved once (`${group}:${keep}`). */
  private keptCache = new Map<string, number[] | undefined>();
  evaluations = 0;

  constructor(
    readonly model: AllocationModel,
    groups: GroupCandidates[],
    base: PruningPlan,
  ) {
    this.groups = groups;
    this.base = base;
    // Resolve each stop j once for every group (one plan with every group at its j-th stop).
    const depth = Math.max(...groups.map((x) => x.stops.length));
    for (let j = 0; j < depth; j++) this.resolve(groups.map((x) => x.stops[Math.min(j, x.stops.length - 1)]));
  }

  private key(i: number, j: number): string {
    return `${this.groups[i].g.id}:${this.groups[i].all[j].keep}`;
  }

  /** Resolves the state's plan once and caches every group's kept channels (a group's kept set depends on its own width only). */
  private resolve(state: Readonly<State>): void {
    const r = resolvePlan(this.planOf(state), this.model.deps, this.model.importance);
    this.groups.forEach((x, i) => this.keptCache.set(this.key(i, state[i]), r.kept.get(x.g.id)));
  }

  planOf(state: Readonly<State>): PruningPlan {
    const overrides: Record<string, LayerOverride> = {};
    this.groups.forEach((x, i) => {
      const c = x.all[state[i]];
      if (c.keep < x.g.channels) overrides[x.layer] = { ratio: ratioFor(x.g.channels, c.keep) };
    });
    return { ...this.base, overrides };
  }

  loss(state: Readonly<State>): number {
    let s = 0;
    this.groups.forEach((x, i) => (s += x.all[state[i]].loss));
    return s;
  }

  score(state: Readonly<State>): number {
    let s = 0;
    this.groups.forEach((x, i) => (s += x.all[state[i]].score));
    return s;
  }

  cost(state: Readonly<State>): { macs: number; params: number } {
    this.evaluations++;
    if (state.some((j, i) => !this.keptCache.has(this.key(i, j)))) this.resolve(state);
    const kept = new Map<number, number[]>();
    this.groups.forEach((x, i) => {
      const k = this.keptCache.get(this.key(i, state[i]));
      if (k) kept.set(x.g.id, k);
    });
    const resolved: ResolvedPlan = { plan: this.base, kept };
    const p = previewPlan(this.model.graph, this.model.deps, resolved);
    return { macs: p.macs.after, params: p.params.after };
  }
}

/** The next stop narrower than width index `j` of group `x` (undefined at its narrowest). */
function nextStop(x: GroupCandidates, j: number): number | undefined {
  return x.stops.find((s) => s > j);
}

/** The stop wider than width index `j` (0 = whole; undefined when whole). */
function prevStop(x: GroupCandidates, j: number): number | undefined {
  for (let k = x.stops.length - 1; k >= 0; k--) if (x.stops[k] < j) return x.stops[k];
  return undefined;
}

type CostKind = 'macs' | 'params';

interface Found {
  method: 'level' | 'greedy';
  state: State;
  figures: PlanFigures;
  met: boolean;
}

const figuresOf = (c: Counter, state: State): PlanFigures => ({ ...c.cost(state), loss: c.loss(state), score: c.score(state) });

/**
 * Gives steps back (widening groups to their previous stop), the most objective saved first (among
 * equal savings the group narrowed most), while the cost stays within `target`.
 */
function fill(c: Counter, state: State, kind: CostKind, target: number, signal?: AbortSignal): State {
  const s = [...state];
  for (;;) {
    throwIfAborted(signal);
    let best = -1;
    let bestTo = 0;
    let bestGain = -1;
    let bestRatio = -1;
    for (let i = 0; i < s.length; i++) {
      const x = c.groups[i];
      const to = prevStop(x, s[i]);
      if (to === undefined) continue;
      const gain = x.all[s[i]].score - x.all[to].score;
      const ratio = x.all[s[i]].ratio;
      if (gain < bestGain || (gain === bestGain && ratio <= bestRatio)) continue;
      const t = [...s];
      t[i] = to;
      if (c.cost(t)[kind] <= target) {
        best = i;
        bestTo = to;
        bestGain = gain;
        bestRatio = ratio;
      }
    }
    if (best < 0) return s;
    s[best] = bestTo;
  }
}

/**
 * Widens groups by single widths (every width a group may take, not only its stops) while the cost
 * stays within `target`: a group at a time, the one whose next width saves the most objective per
 * unit of cost first, as wide as fits (the cost grows with one group's width, so a bisection finds
 * it). Repeated until no group can widen by one width: the plan is then short of `target` by less
 * than one width step of every group still narrowed.
 */
function fine(c: Counter, state: State, kind: CostKind, target: number, signal?: AbortSignal): State {
  const s = [...state];
  for (let pass = 0; pass < 4; pass++) {
    const now = c.cost(s)[kind];
    const order = s
      .map((j, i) => {
        if (j === 0) return undefined;
        const x = c.groups[i];
        const t = [...s];
        t[i] = j - 1;
        const dc = c.cost(t)[kind] - now;
        return { i, fits: now + dc <= target, rate: (x.all[j].score - x.all[j - 1].score) / Math.max(1e-12, dc), ratio: x.all[j].ratio };
      })
      .filter((o): o is { i: number; fits: boolean; rate: number; ratio: number } => !!o && o.fits)
      .sort((a, b) => b.rate - a.rate || b.ratio - a.ratio);
    if (!order.length) break;
    for (const { i } of order) {
      throwIfAborted(signal);
      // the widest width of group i that still fits; s[i] fits
      let lo = 0;
      let hi = s[i];
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        const t = [...s];
        t[i] = mid;
        if (c.cost(t)[kind] <= target) hi = mid;
        else lo = mid + 1;
      }
      s[i] = hi;
    }
  }
  return s;
}

/** Fill then fine: the plan brought up to its target from below. */
function polish(c: Counter, state: State, kind: CostKind, target: number, signal?: AbortSignal): State {
  return fine(c, fill(c, state, kind, target, signal), kind, target, signal);
}

/** (score, ratio) compared in that order. */
const keyLess = (a: Candidate, b: { score: number; ratio: number }) => a.score < b.score - 1e-12 || (Math.abs(a.score - b.score) <= 1e-12 && a.ratio <= b.ratio + 1e-12);

/** AIMET's search: a common level, bisected over the distinct candidate (score, ratio) pairs. */
function levelSearch(c: Counter, budget: { kind: CostKind | 'loss'; target: number }, signal?: AbortSignal): Found {
  const levels: { score: number; ratio: number }[] = [];
  {
    const keys = c.groups.flatMap((x) => x.all.map((k) => ({ score: k.score, ratio: k.ratio })));
    keys.sort((a, b) => a.score - b.score || a.ratio - b.ratio);
    for (const k of keys) {
      const l = levels[levels.length - 1];
      if (!l || k.score !== l.score || k.ratio !== l.ratio) levels.push(k);
    }
  }
  // each group at its narrowest width whose (score, ratio) is at most the level: keys increase along `all`
  const at = (L: { score: number; ratio: number }) =>
    c.groups.map((x) => {
      let lo = 0;
      let hi = x.all.length - 1;
      while (lo < hi) {
        const mid = (lo + hi + 1) >> 1;
        if (keyLess(x.all[mid], L)) lo = mid;
        else hi = mid - 1;
      }
      return lo;
    });
  const ok = (state: State) => (budget.kind === 'loss' ? c.loss(state) <= budget.target + 1e-9 : c.cost(state)[budget.kind] <= budget.target);
  let state: State;
  if (budget.kind === 'loss') {
    // the highest level whose summed loss fits
    let lo = 0;
    let hi = levels.length - 1;
    while (lo < hi) {
      throwIfAborted(signal);
      const mid = (lo + hi + 1) >> 1;
      if (ok(at(levels[mid]))) lo = mid;
      else hi = mid - 1;
    }
    state = at(levels[lo]);
  } else {
    // the lowest level whose plan meets the cost
    let lo = 0;
    let hi = levels.length - 1;
    if (!ok(at(levels[hi]))) return { method: 'level', state: at(levels[hi]), figures: figuresOf(c, at(levels[hi])), met: false };
    while (lo < hi) {
      throwIfAborted(signal);
      const mid = (lo + hi) >> 1;
      if (ok(at(levels[mid]))) hi = mid;
      else lo = mid + 1;
    }
    state = polish(c, at(levels[lo]), budget.kind, budget.target, signal);
  }
  return { method: 'level', state, figures: figuresOf(c, state), met: ok(state) };
}

/**
 * Greedy: narrow the group whose next step loses least per unit of cost saved (MACs for a loss
 * budget); among equal rates the group narrowed least so far, then the one saving most.
 * What a group's next step saves depends only on the groups it shares a layer with: after a step,
 * only the stepped group's and its neighbours' savings are counted again, and the plan's cost is
 * the sum of the savings, counted exactly again before the search stops.
 */
function greedySearch(c: Counter, budget: { kind: CostKind | 'loss'; target: number }, signal?: AbortSignal): Found {
  const kind: CostKind = budget.kind === 'loss' ? 'macs' : budget.kind;
  const state: State = c.groups.map(() => 0);
  const done = c.groups.map((x) => x.all.length <= 1);
  const neighbours = neighboursOf(c.groups);
  /** What stepping each group saves from the current state (undefined: to be counted). */
  const saved: (number | undefined)[] = c.groups.map(() => undefined);
  let now = c.cost(state);
  let loss = 0;
  const met = () => (budget.kind === 'loss' ? loss <= budget.target + 1e-9 : now[kind] <= budget.target);
  for (;;) {
    throwIfAborted(signal);
    if (budget.kind !== 'loss' && met()) {
      // `now` was kept by adding the steps' savings: count the plan exactly before stopping
      now = c.cost(state);
      if (met()) break;
    }
    let best = -1;
    let bestTo = 0;
    let bestScore = Infinity;
    let bestRatio = Infinity;
    let bestSaved = 0;
    for (let i = 0; i < state.length; i++) {
      if (done[i]) continue;
      const x = c.groups[i];
      const to = nextStop(x, state[i])!;
      const dl = x.all[to].loss - x.all[state[i]].loss;
      const ds = x.all[to].score - x.all[state[i]].score;
      if (budget.kind === 'loss' && loss + dl > budget.target + 1e-9) {
        done[i] = true;
        continue;
      }
      if (saved[i] === undefined) {
        const t = [...state];
        t[i] = to;
        saved[i] = now[kind] - c.cost(t)[kind];
      }
      const sv = saved[i]!;
      const score = sv > 0 ? ds / sv : Infinity;
      const ratio = x.all[state[i]].ratio;
      if (score < bestScore || (score === bestScore && (ratio < bestRatio || (ratio === bestRatio && sv > bestSaved)))) {
        best = i;
        bestTo = to;
        bestScore = score;
        bestRatio = ratio;
        bestSaved = sv;
      }
    }
    if (best < 0) break;
    loss += c.groups[best].all[bestTo].loss - c.groups[best].all[state[best]].loss;
    state[best] = bestTo;
    now = { ...now, [kind]: now[kind] - bestSaved };
    saved[best] = undefined;
    for (const n of neighbours[best]) saved[n] = undefined;
    if (nextStop(c.groups[best], bestTo) === undefined) done[best] = true;
  }
  const final = budget.kind === 'loss' || !met() ? state : polish(c, state, kind, budget.target, signal);
  const figures = figuresOf(c, final);
  return { method: 'greedy', state: final, figures, met: budget.kind === 'loss' ? figures.loss <= budget.target + 1e-9 : figures[kind] <= budget.target };
}

/**
 * A blend of `from` (the chosen allocation) with a uniform ratio: each group at its narrowest width
 * removing at most t · (its ratio in `from`) + d of its channels, d the largest offset (bisected)
 * whose plan meets the cost; then widened by single widths while it still fits (`fine`). t = 0 is
 * a uniform ratio (within the widths the scan measured), t = 1 the allocation itself.
 */
function blendState(c: Counter, from: Readonly<State>, t: number, kind: CostKind, target: number, signal?: AbortSignal): State | undefined {
  const at = (d: number): State =>
    c.groups.map((x, i) => {
      const want = t * x.all[from[i]].ratio + d;
      let j = 0;
      while (j + 1 < x.all.length && x.all[j + 1].ratio <= want + 1e-9) j++;
      return j;
    });
  let lo = -1;
  let hi = 1;
  if (c.cost(at(hi))[kind] > target) return undefined;
  for (let k = 0; k < 24; k++) {
    throwIfAborted(signal);
    const mid = (lo + hi) / 2;
    if (c.cost(at(mid))[kind] <= target) hi = mid;
    else lo = mid;
  }
  return fine(c, at(hi), kind, target, signal);
}

/** The blends measured against the allocation by default: half, a quarter, and none of it (a uniform ratio). */
export const DEFAULT_BLENDS: readonly number[] = [0.5, 0.25, 0];

/** Per group, the other groups sharing a node with it (a layer whose cost depends on both widths). */
function neighboursOf(groups: readonly GroupCandidates[]): number[][] {
  const byNode = new Map<string, number[]>();
  groups.forEach((x, i) => {
    for (const m of x.g.members) {
      const l = byNode.get(m.node);
      if (!l) byNode.set(m.node, [i]);
      else if (l[l.length - 1] !== i) l.push(i);
    }
  });
  return groups.map((x, i) => {
    const out = new Set<number>();
    for (const m of x.g.members) for (const j of byNode.get(m.node) ?? []) if (j !== i) out.add(j);
    return [...out];
  });
}

const nameOf = (g: ChannelGroup) => g.layers[0] ?? g.values[0] ?? `group ${g.id}`;

/** A budget's target in its unit: MACs or parameters (from a fraction of the baseline or absolute), or loss points. */
export function budgetTarget(budget: Budget, baseline: { macs: number; params: number }): number {
  if (budget.kind === 'latency') throw new PrunerError('a latency budget is met by measuring candidates (findLatencyPlan), not by allocation alone');
  if (budget.kind === 'loss') {
    if (!(budget.points >= 0 && budget.points <= 100)) throw new PrunerError(`--max-loss must be between 0 and 100 points, got ${budget.points}`);
    return budget.points;
  }
  const unit = budget.kind === 'macs' ? 'MACs' : 'parameters';
  if ((budget.fraction === undefined) === (budget.absolute === undefined)) throw new PrunerError(`a ${unit} budget needs exactly one of a fraction and an absolute value`);
  if (budget.fraction !== undefined) {
    if (!(budget.fraction > 0 && budget.fraction <= 1)) throw new PrunerError(`a ${unit} target as a fraction must be in (0, 1], got ${budget.fraction}`);
    return budget.fraction * baseline[budget.kind];
  }
  if (!(budget.absolute! > 0)) throw new PrunerError(`a ${unit} target must be positive, got ${budget.absolute}`);
  return budget.absolute!;
}

/**
 * MACs and parameters with every prunable group cut to its least width and frozen groups whole (below
 * this no plan reaches), and the model's own.
 */
export function leastCost(model: AllocationModel, scan: SensitivityScan, opts: AllocateOptions = {}): { macs: number; params: number; baseline: { macs: number; params: number } } {
  const roundTo = Math.max(1, opts.roundTo ?? scan.settings.roundTo ?? 1);
  const minChannels = Math.max(1, opts.minChannels ?? 1);
  const floorPlan = planOf({ criterion: scan.settings.criterion, scope: 'uniform', ratio: 0.999999, roundTo, minChannels, compensate: opts.compensate ?? true });
  const floor = previewPlan(model.graph, model.deps, resolvePlan(floorPlan, model.deps, model.importance));
  return { macs: floor.macs.after, params: floor.params.after, baseline: { macs: floor.macs.before, params: floor.params.before } };
}

/**
 * Per-group ratios meeting `budget` with the least predicted loss (MACs / parameter budgets) or
 * the fewest MACs (a loss budget), by the better of the level and the greedy search.
 * A target below what any plan reaches (frozen groups, minimum widths) is a PrunerError; a target
 * the scan's widths cannot reach gives `met: false`, `bestReachable` and the plan that reaches it.
 */
export function allocate(model: AllocationModel, scan: SensitivityScan, budget: Budget, opts: AllocateOptions = {}): Allocation {
  const { deps } = model;
  const roundTo = Math.max(1, opts.roundTo ?? scan.settings.roundTo ?? 1);
  const minChannels = Math.max(1, opts.minChannels ?? 1);
  const byId = new Map(deps.groups.map((g) => [g.id, g]));
  const notes: string[] = [];
  const groups: GroupCandidates[] = [];
  for (const s of scan.groups) {
    const g = byId.get(s.group);
    if (!g || g.channels !== s.channels || (s.layers[0] !== undefined && g.layers[0] !== s.layers[0]))
      throw new PrunerError(`the sensitivity scan does not match this model (group ${s.group}, ${s.layers[0] ?? '?'}): scan it again`, { subject: s.layers[0] });
    if (!g.prunable) throw new PrunerError(`the sensitivity scan lists ${nameOf(g)}, whose channels cannot be pruned (${g.reason ?? 'frozen'}): scan it again`, { subject: nameOf(g) });
    if (!g.layers.length) continue;
    const { all, stops } = candidatesOf(s, g, roundTo, minChannels, opts.objective ?? 'loss');
    if (all.length > 1) groups.push({ g, layer: g.layers[0], all, stops });
  }
  const scanned = new Set(scan.groups.map((s) => s.group));
  const unscanned = deps.groups.filter((g) => g.prunable && g.layers.length && !scanned.has(g.id));
  if (unscanned.length) notes.push(`${unscanned.length} prunable group(s) have no scan (${unscanned.slice(0, 3).map(nameOf).join(', ')}${unscanned.length > 3 ? ', …' : ''}${scan.partial ? '; the scan is partial' : ''}): left whole`);
  const frozen = deps.groups.filter((g) => !g.prunable);
  if (frozen.length) notes.push(`${frozen.length} channel group(s) are frozen and keep every channel`);

  const base = planOf({ criterion: scan.settings.criterion, scope: 'uniform', ratio: 0, roundTo, minChannels, compensate: opts.compensate ?? true, ...(opts.model ? { model: opts.model } : {}) });
  base.overrides = {};
  const whole = previewPlan(model.graph, deps, { plan: base, kept: new Map() });
  const baseline = { macs: whole.macs.before, params: whole.params.before };
  const target = budgetTarget(budget, baseline);
  const kind = budget.kind as CostKind | 'loss';
  const unit = kind === 'macs' ? 'MACs' : kind === 'params' ? 'parameters' : 'loss points';
  if (!groups.length) throw new PrunerError(`the sensitivity scan has no group that can lose channels${scan.partial ? ' (it is partial)' : ''}: nothing to allocate`);

  // Below what any plan can reach: every prunable group at its least width, frozen groups whole.
  if (kind !== 'loss') {
    const least = leastCost(model, scan, opts)[kind];
    if (target < least) {
      throw new PrunerError(
        `the target (${fmt(target)} ${unit}, ${pct(target / baseline[kind])} of the model) is below what any plan reaches: with every prunable group cut to its least width, ` +
          `${frozen.length} frozen group(s) and the layers outside the groups keep ${fmt(least)} ${unit} (${pct(least / baseline[kind])}); nothing written`,
      );
    }
  }

  const counter = new Counter(model, groups, base);
  const b = { kind, target };
  const searches = [levelSearch(counter, b, opts.signal), greedySearch(counter, b, opts.signal)];
  const better = (x: Found, y: Found): Found => {
    if (x.met !== y.met) return x.met ? x : y;
    if (!x.met) return (kind === 'loss' ? x.figures.loss <= y.figures.loss : x.figures[kind] <= y.figures[kind]) ? x : y;
    if (kind === 'loss') return x.figures.macs < y.figures.macs || (x.figures.macs === y.figures.macs && x.figures.score <= y.figures.score) ? x : y;
    return x.figures.score < y.figures.score || (x.figures.score === y.figures.score && x.figures[kind] >= y.figures[kind]) ? x : y;
  };
  let chosen = better(searches[0], searches[1]);
  let bestReachable: number | undefined;
  if (!chosen.met) {
    // The scan's narrowest widths everywhere: the least cost the scan lets a plan reach.
    const narrowest = groups.map((x) => x.all.length - 1);
    chosen = { method: chosen.method, state: narrowest, figures: figuresOf(counter, narrowest), met: false };
    bestReachable = chosen.figures[kind as CostKind];
  }
  /** A state's plan, its figures counted once more from the plan document itself (what a run of it will see), and its groups. */
  const describe = (state: Readonly<State>, figures: PlanFigures) => {
    const plan = counter.planOf(state);
    const exact = previewPlan(model.graph, deps, resolvePlan(plan, deps, model.importance));
    const predicted = { macs: exact.macs.after, params: exact.params.after, loss: round3(figures.loss), score: round3(figures.score) };
    const perGroup: Allocation['groups'] = groups.map((x, i) => {
      const c = x.all[state[i]];
      return { group: x.g.id, layer: x.layer, channels: x.g.channels, kept: c.keep, ratio: round3(ratioFor(x.g.channels, c.keep)), loss: round3(c.loss), score: round3(c.score) };
    });
    return { plan, predicted, groups: perGroup };
  };
  const { plan, predicted, groups: perGroup } = describe(chosen.state, chosen.figures);
  const met = kind === 'loss' ? predicted.loss <= target + 1e-9 : predicted[kind] <= target;
  const ratios = new Map<number, number>();
  groups.forEach((x, i) => ratios.set(x.g.id, ratioFor(x.g.channels, x.all[chosen.state[i]].keep)));
  let candidates: AllocationCandidate[] | undefined;
  if (opts.blends?.length && kind !== 'loss' && met) {
    candidates = [{ t: 1, plan, predicted, groups: perGroup }];
    const seen = new Set([chosen.state.join(',')]);
    for (const t of opts.blends) {
      const state = blendState(counter, chosen.state, t, kind, target, opts.signal);
      if (!state || seen.has(state.join(','))) continue;
      seen.add(state.join(','));
      const d = describe(state, figuresOf(counter, state));
      if (d.predicted[kind] <= target) candidates.push({ t, ...d });
    }
  }
  return {
    budget,
    ratios,
    predicted,
    met,
    ...(bestReachable !== undefined ? { bestReachable } : {}),
    method: chosen.method,
    plan,
    baseline,
    target,
    searches: searches.map((s) => ({ method: s.method, predicted: { ...s.figures, loss: round3(s.figures.loss), score: round3(s.figures.score) }, met: s.met, plan: counter.planOf(s.state) })),
    objective: opts.objective ?? 'loss',
    groups: perGroup,
    notes,
    ...(candidates ? { candidates } : {}),
  };
}

const round3 = (v: number) => Math.round(v * 1000) / 1000;
const pct = (v: number) => `${(v * 100).toFixed(1)}%`;
function fmt(v: number): string {
  const a = Math.abs(v);
  if (a >= 1e9) return `${(v / 1e9).toFixed(3)} G`;
  if (a >= 1e6) return `${(v / 1e6).toFixed(3)} M`;
  if (a >= 1e3) return `${(v / 1e3).toFixed(3)} k`;
  return `${+v.toFixed(3)}`;
}

/**
 * The sentence for a budget the scan cannot reach: the best reachable value, and how to reach
 * further — a larger break loss when groups stopped early along their ratios (their narrowest
 * scanned width is where their loss passed it), else larger ratios — or to ask for what is reachable.
 */
export function unreachableMessage(a: Allocation, scan?: SensitivityScan): string {
  const kind = a.budget.kind;
  const unit = kind === 'macs' ? 'MACs' : kind === 'params' ? 'parameters' : 'points';
  const best = a.bestReachable ?? 0;
  const base = kind === 'macs' ? a.baseline.macs : kind === 'params' ? a.baseline.params : 0;
  const frac = base ? ` (${pct(best / base)} of the model; --target-${kind} ${(Math.ceil((best / base) * 1000) / 1000).toFixed(3)})` : '';
  return `the target (${fmt(a.target)} ${unit}) cannot be reached with the widths the sensitivity scan measured: the best reachable is ${fmt(best)} ${unit}${frac}, every group at its narrowest scanned width (predicted loss ${a.predicted.loss.toFixed(2)} points); ${further(scan)} or ask for at least that`;
}

/** How to reach further than the scanned widths: a larger break loss when groups stopped at it, else larger ratios. */
export function further(scan: SensitivityScan | undefined): string {
  const stopped = stoppedAtBreakLoss(scan);
  return stopped ? `${stopped}: scan again with a larger one (scan --break-loss, prune --scan-break-loss, or the view's scan settings),` : 'scan larger ratios';
}

/** "N of M groups stopped before their largest ratio, …" when some of the scan's groups stopped at its break loss. */
export function stoppedAtBreakLoss(scan: SensitivityScan | undefined): string | undefined {
  const stopped = scan?.groups.filter((g) => g.stoppedEarly).length ?? 0;
  if (!scan || !stopped) return undefined;
  return `${stopped} of ${scan.groups.length} groups stopped before their largest ratio, their loss past the break loss (${scan.settings.breakLoss} points)`;
}
