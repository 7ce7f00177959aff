// Pruning plans: validation of a plan document, and resolution against one model's groups and
// importance into the kept channel indices of every group that loses channels.
//
// Semantics (for the README):
//   - scope 'uniform' + ratio: every prunable group keeps floor(C·(1−ratio)) channels (Torch-Pruning's
//     rounding, then minChannels / roundTo / divisor), its best ones by the group score.
//   - scope 'global' + ratio: one ranking over all channels of all candidate groups; the
//     total − floor(total·(1−ratio)) lowest are removed, so each group ends up with its own ratio;
//     then minChannels / roundTo / divisor per group (which may keep a few more).
//   - threshold (either scope): remove every channel whose score is below the threshold. Scope does
//     not change a threshold's meaning; with normalisation it is relative to each group's mean.
//   - bn-gamma threshold on a coupled group (Network Slimming): a channel is removed only when its
//     |γ| is below the threshold in EVERY BatchNormalization of its group, i.e. the threshold is
//     compared with the group's max |γ|, not the mean that ranks ratios. A channel with a large γ in
//     one BN of a residual chain is not a constant there, so compensation could not make up for it.
//     The max is taken over the BNs that follow the group's layers (importance.ts' per-layer γ), and
//     never below the group mean (which also covers a BN that follows no layer of the group).
//     Ratios (uniform or global) keep ranking by the mean (Torch-Pruning's BNScaleImportance).
//   - normalize (default: true for the norms and FPGM, false for bn-gamma, whose raw |γ| Network
//     Slimming compares network-wide): a group's scores are divided by their mean before a global
//     ranking or a threshold (Torch-Pruning's normalizer='mean'). It never changes a uniform choice.
//   - bn-gamma on a group with no BatchNormalization: the group is left whole and a warning says so
//     (an override with a ratio on such a layer is an error: it cannot be honoured).
//   - exclude: a group is left whole when any of its layers matches a pattern (`*`/`?` glob on the
//     whole node name, or `/regex/flags`).
//   - overrides: keyed by layer name, mapped to the layer's group; `keep` lists exact indices (not
//     rounded), `ratio` replaces the plan's ratio for that group (ranked on its own, also in a global plan).
//     An override beats an exclusion. Two layers of one group overridden differently is an error.
//   - The result lists only the groups that lose channels; a group absent from `kept` stays whole.
//   - divisor (grouped convolution): equal numbers are removed from each of the group's equal blocks,
//     each block keeping its best channels.
import { PrunerError } from '../errors.ts';
import { parsePreprocess } from '../data/preprocess.ts';
import { channelsToKeep } from '../analysis/groups.ts';
import type { ChannelGroup, DependencyAnalysis } from '../analysis/types.ts';
import type { ModelImportance } from '../analysis/importance.ts';
import { isCriterion } from '../analysis/criteria.ts';
import { PLAN_CRITERIA, type LayerOverride, type PlanCriterion, type PruningPlan, type ResolvedPlan } from './types.ts';

export interface ResolveOptions {
  /**
   * Which scores rank a group's channels: 'group' (default: the combination documented in
   * importance.ts) or 'first' (the scores of the group's layer nearest the input only: the
   * classic single-layer criterion, Torch-Pruning's `l1_first`).
   */
  groupScore?: 'group' | 'first';
}

export interface PlanResolution extends ResolvedPlan {
  /** Groups whose ratio or threshold asked to remove every channel (kept at their minimum width instead). */
  emptied: number[];
  /** Things people should know (groups left whole and why, patterns matching nothing). */
  warnings: string[];
}

const PLAN_KEYS = new Set(['version', 'criterion', 'ratio', 'threshold', 'scope', 'normalize', 'roundTo', 'minChannels', 'exclude', 'overrides', 'compensate', 'model', 'removeBlocks', 'preprocess']);

function fail(msg: string, subject?: string): never {
  throw new PrunerError(msg, subject ? { subject } : {});
}

const isObj = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);
const isPosInt = (v: unknown): v is number => typeof v === 'number' && Number.isInteger(v) && v >= 1;

/** Validates a plan's fields (not against a model). `where` names the plan in messages (a file name). */
export function validatePlan(plan: PruningPlan, where = 'plan'): void {
  if (plan.version !== 1) fail(`${where}: unsupported plan version ${JSON.stringify(plan.version)} (expected 1)`, where);
  if (!PLAN_CRITERIA.includes(plan.criterion)) fail(`${where}: unknown criterion ${JSON.stringify(plan.criterion)} (expected one of ${PLAN_CRITERIA.join(', ')})`, where);
  if (plan.scope !== 'uniform' && plan.scope !== 'global') fail(`${where}: unknown scope ${JSON.stringify(plan.scope)} (expected uniform or global)`, where);
  const hasRatio = plan.ratio !== undefined;
  const hasThreshold = plan.threshold !== undefined;
  if (hasRatio === hasThreshold) fail(`${where}: give exactly one of ratio and threshold`, where);
  if (hasRatio) checkRatio(plan.ratio, `${where}: ratio`, where);
  if (hasThreshold && !(typeof plan.threshold === 'number' && Number.isFinite(plan.threshold) && plan.threshold >= 0))
    fail(`${where}: threshold ${JSON.stringify(plan.threshold)} must be a number >= 0`, where);
  if (plan.normalize !== undefined && typeof plan.normalize !== 'boolean') fail(`${where}: normalize must be true or false`, where);
  if (plan.compensate !== undefined && typeof plan.compensate !== 'boolean') fail(`${where}: compensate must be true or false`, where);
  if (plan.roundTo !== undefined && !isPosInt(plan.roundTo)) fail(`${where}: roundTo ${JSON.stringify(plan.roundTo)} must be an integer >= 1`, where);
  if (plan.minChannels !== undefined && !isPosInt(plan.minChannels)) fail(`${where}: minChannels ${JSON.stringify(plan.minChannels)} must be an integer >= 1`, where);
  if (plan.model !== undefined && typeof plan.model !== 'string') fail(`${where}: model must be a string`, where);
  if (plan.removeBlocks !== undefined) {
    const rb = plan.removeBlocks as unknown;
    const keys = isObj(rb) ? Object.keys(rb) : [];
    const okThreshold = isObj(rb) && keys.length === 1 && typeof rb.threshold === 'number' && Number.isFinite(rb.threshold) && rb.threshold >= 0;
    const okCount = isObj(rb) && keys.length === 1 && isPosInt(rb.count);
    const okNames = isObj(rb) && keys.length === 1 && Array.isArray(rb.names) && rb.names.every((n) => typeof n === 'string' && n !== '') && new Set(rb.names).size === rb.names.length;
    if (!okThreshold && !okCount && !okNames) fail(`${where}: removeBlocks must be { "threshold": T >= 0 }, { "count": N >= 1 } or { "names": [distinct Add node names] }`, where);
  }
  if (plan.preprocess !== undefined) parsePreprocess(plan.preprocess, `${where}: preprocess`);
  if (plan.exclude !== undefined) {
    if (!Array.isArray(plan.exclude) || !plan.exclude.every((p) => typeof p === 'string')) fail(`${where}: exclude must be a list of name patterns`, where);
    for (const p of plan.exclude) patternMatcher(p, where);
  }
  if (plan.overrides !== undefined) {
    if (!isObj(plan.overrides)) fail(`${where}: overrides must map layer names to { ratio } or { keep }`, where);
    for (const [layer, o] of Object.entries(plan.overrides)) {
      if (!isObj(o)) fail(`${where}: override for ${layer} must be { ratio } or { keep }`, layer);
      for (const k of Object.keys(o)) if (k !== 'ratio' && k !== 'keep') fail(`${where}: override for ${layer} has unknown field ${JSON.stringify(k)}`, layer);
      const ov = o as LayerOverride;
      if ((ov.ratio === undefined) === (ov.keep === undefined)) fail(`${where}: override for ${layer} needs exactly one of ratio and keep`, layer);
      if (ov.ratio !== undefined) checkRatio(ov.ratio, `${where}: override ratio for ${layer}`, layer);
      if (ov.keep !== undefined) {
        if (!Array.isArray(ov.keep) || !ov.keep.every((i) => typeof i === 'number' && Number.isInteger(i) && i >= 0))
          fail(`${where}: override keep for ${layer} must be a list of channel indices (integers >= 0)`, layer);
        if (ov.keep.length === 0) fail(`${where}: override for ${layer} keeps 0 channels (a layer cannot be removed entirely)`, layer);
        if (new Set(ov.keep).size !== ov.keep.length) fail(`${where}: override keep for ${layer} lists a channel twice`, layer);
      }
    }
  }
}

function checkRatio(r: unknown, what: string, subject: string): void {
  if (!(typeof r === 'number' && r >= 0 && r < 1)) fail(`${what} ${JSON.stringify(r)} is outside [0, 1)`, subject);
}

/** Validates a loaded JSON document as a plan (version 1) and returns it; unknown fields are errors (typos would be silently ignored otherwise). */
export function parsePlan(json: unknown, where = 'plan'): PruningPlan {
  if (!isObj(json)) fail(`${where}: a pruning plan must be a JSON object`, where);
  for (const k of Object.keys(json)) if (!PLAN_KEYS.has(k)) fail(`${where}: unknown field ${JSON.stringify(k)}`, where);
  const plan = { ...json, scope: json.scope ?? 'uniform' } as unknown as PruningPlan;
  validatePlan(plan, where);
  const out: PruningPlan = { version: 1, criterion: plan.criterion, scope: plan.scope };
  for (const k of ['ratio', 'threshold', 'normalize', 'roundTo', 'minChannels', 'compensate', 'model'] as const)
    if (plan[k] !== undefined) (out as unknown as Record<string, unknown>)[k] = plan[k];
  if (plan.exclude) out.exclude = [...plan.exclude];
  if (plan.preprocess !== undefined) out.preprocess = parsePreprocess(plan.preprocess, `${where}: preprocess`);
  if (plan.overrides)
    out.overrides = Object.fromEntries(Object.entries(plan.overrides).map(([k, v]) => [k, v.keep ? { keep: [...v.keep] } : { ratio: v.ratio }]));
  if (plan.removeBlocks) out.removeBlocks = 'names' in plan.removeBlocks ? { names: [...plan.removeBlocks.names] } : { ...plan.removeBlocks };
  return out;
}

/** The plan as a JSON document (stable field order, two-space indent, final newline). */
export function serializePlan(plan: PruningPlan): string {
  const order = ['version', 'model', 'criterion', 'scope', 'ratio', 'threshold', 'normalize', 'roundTo', 'minChannels', 'compensate', 'removeBlocks', 'exclude', 'overrides', 'preprocess'] as const;
  const out: Record<string, unknown> = {};
  for (const k of order) if (plan[k] !== undefined) out[k] = plan[k];
  return JSON.stringify(out, null, 2) + '\n';
}

/** A matcher for one exclude pattern: `/regex/flags`, or a glob where `*` is any run and `?` one character, matching the whole name. */
export function patternMatcher(pattern: string, where = 'plan'): (name: string) => boolean {
  const re = /^\/(.*)\/([a-z]*)$/s.exec(pattern);
  if (re) {
    try {
      const rx = new RegExp(re[1], re[2]);
      return (n) => rx.test(n);
    } catch (e) {
      fail(`${where}: exclude pattern ${pattern} is not a valid regular expression (${(e as Error).message})`, where);
    }
  }
  const rx = new RegExp('^' + pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.') + '$', 's');
  return (n) => rx.test(n);
}

/** Indices of the best `keep` scores (ties: the lower index wins), sorted ascending; per block when divisor > 1. */
export function topChannels(scores: ArrayLike<number>, keep: number, divisor = 1): number[] {
  const C = scores.length;
  const block = C / divisor;
  const perBlock = keep / divisor;
  const out: number[] = [];
  for (let b = 0; b < divisor; b++) {
    const idx = Array.from({ length: block }, (_, i) => b * block + i);
    idx.sort((x, y) => scores[y] - scores[x] || x - y);
    out.push(...idx.slice(0, perBlock));
  }
  return out.sort((x, y) => x - y);
}

/** keep channels of C, adjusted for minChannels, roundTo and divisor (the same rounding as a ratio). */
function adjustKeep(C: number, keep: number, plan: PruningPlan, divisor: number): number {
  return channelsToKeep(C, (C - Math.max(1, keep)) / C, { roundTo: plan.roundTo, minChannels: plan.minChannels, divisor });
}

/** Resolves a plan against a model: kept channel indices for every group that loses channels. */
export function resolvePlan(plan: PruningPlan, deps: DependencyAnalysis, importance: ModelImportance, opts: ResolveOptions = {}): PlanResolution {
  validatePlan(plan);
  const warnings: string[] = [];
  const crit: PlanCriterion = plan.criterion;
  // Scores are computed per criterion on demand: a plan on one that was not computed is a caller's bug, not "no score".
  if (importance.criteria && isCriterion(crit) && !importance.criteria.includes(crit)) throw new Error(`resolvePlan: criterion ${crit} was not computed (computeImportance criteria: ${importance.criteria.join(', ')})`);
  const normalize = plan.normalize ?? crit !== 'bn-gamma';
  const groupById = new Map(deps.groups.map((g) => [g.id, g]));
  const layerNames = new Set(deps.groups.flatMap((g) => g.layers));
  const groupName = (g: ChannelGroup) => g.layers[0] ?? g.values[0] ?? `group ${g.id}`;

  // Overrides -> groups.
  const overrideOf = new Map<number, { layer: string; o: LayerOverride }>();
  for (const [layer, o] of Object.entries(plan.overrides ?? {})) {
    const gid = deps.groupOfLayer.get(layer);
    if (gid === undefined || !layerNames.has(layer)) fail(`plan names unknown layer ${layer} (not a prunable layer of this model)`, layer);
    const g = groupById.get(gid)!;
    if (!g.prunable) fail(`plan overrides layer ${layer}, whose channels cannot be pruned: ${g.reason ?? 'frozen'}`, layer);
    const prev = overrideOf.get(gid);
    if (prev && JSON.stringify(prev.o) !== JSON.stringify(o))
      fail(`plan overrides ${prev.layer} and ${layer} differently, but they share their channels (one group)`, layer);
    if (o.keep) {
      const bad = o.keep.find((i) => i >= g.channels);
      if (bad !== undefined) fail(`plan override for ${layer}: channel ${bad} is out of range (the layer has ${g.channels})`, layer);
      if (g.divisor && g.divisor > 1) {
        const block = g.channels / g.divisor;
        const per = new Array<number>(g.divisor).fill(0);
        for (const i of o.keep) per[Math.floor(i / block)]++;
        if (per.some((n) => n !== per[0])) fail(`plan override for ${layer}: a grouped convolution must keep the same number of channels in each of its ${g.divisor} groups`, layer);
      }
    }
    overrideOf.set(gid, { layer, o });
  }

  const matchers = (plan.exclude ?? []).map((p) => ({ p, m: patternMatcher(p), used: false }));
  const scoresOf = (g: ChannelGroup): Float32Array | undefined => {
    const gi = importance.groups.get(g.id);
    if (opts.groupScore === 'first' && gi?.firstLayer) {
      const own = importance.layers.get(gi.firstLayer)?.scores[crit];
      if (own && own.length === g.channels) return own;
    }
    return gi?.scores[crit];
  };

  /** Network Slimming's threshold score of a group: max |γ| over its BNs (see the file comment). */
  const gammaMax = (g: ChannelGroup, mean: Float32Array): Float32Array => {
    const out = Float32Array.from(mean);
    for (const l of importance.layers.values()) {
      const gamma = l.group === g.id ? l.scores['bn-gamma'] : undefined;
      if (!gamma || gamma.length !== g.channels) continue;
      for (let i = 0; i < out.length; i++) if (gamma[i] > out[i]) out[i] = gamma[i];
    }
    return out;
  };
  const thresholdOnMax = crit === 'bn-gamma' && plan.threshold !== undefined && opts.groupScore !== 'first';

  const kept = new Map<number, number[]>();
  const emptied: number[] = [];
  const setKept = (g: ChannelGroup, idx: number[], scores?: Float32Array) => {
    if (scores) idx = keepOnePerSegment(g, idx, scores);
    if (idx.length < g.channels) kept.set(g.id, idx);
  };
  // Candidates of the plan's own ratio / threshold: [group, (normalised) scores].
  const candidates: { g: ChannelGroup; s: Float32Array }[] = [];
  let coupledKept = 0;
  for (const g of deps.groups) {
    if (!g.prunable) continue;
    const ov = overrideOf.get(g.id);
    const excluded = matchers.filter((x) => g.layers.some((l) => x.m(l)));
    for (const x of excluded) x.used = true;
    if (excluded.length && !ov) continue;
    if (ov?.o.keep) {
      setKept(g, [...ov.o.keep].sort((a, b) => a - b));
      continue;
    }
    const raw = scoresOf(g);
    if (!raw) {
      if (ov) fail(`plan override for ${ov.layer}: criterion ${crit} has no score for it${crit === 'bn-gamma' ? ' (no BatchNormalization in its group)' : ''}`, ov.layer);
      if (g.layers.length)
        warnings.push(`${groupName(g)}: no ${crit === 'bn-gamma' ? 'BatchNormalization γ' : crit + ' score'} for its channels; left whole`);
      continue;
    }
    const divisor = g.divisor ?? 1;
    if (ov?.o.ratio !== undefined) {
      if (Math.floor(g.channels * (1 - ov.o.ratio) + 1e-9) <= 0) emptied.push(g.id);
      setKept(g, topChannels(raw, channelsToKeep(g.channels, ov.o.ratio, { roundTo: plan.roundTo, minChannels: plan.minChannels, divisor }), divisor), raw);
      continue;
    }
    if (plan.ratio !== undefined && plan.scope === 'uniform') {
      if (Math.floor(g.channels * (1 - plan.ratio) + 1e-9) <= 0) emptied.push(g.id);
      setKept(g, topChannels(raw, channelsToKeep(g.channels, plan.ratio, { roundTo: plan.roundTo, minChannels: plan.minChannels, divisor }), divisor), raw);
      continue;
    }
    let s = raw;
    if (thresholdOnMax && g.bnNodes.length > 1) {
      s = gammaMax(g, raw);
      if (!normalize) for (let i = 0; i < s.length; i++) if (raw[i] < plan.threshold! && s[i] >= plan.threshold!) coupledKept++;
    }
    candidates.push({ g, s: normalize ? normalizeByMean(s) : s });
  }
  for (const x of matchers) if (!x.used) warnings.push(`exclude pattern ${x.p} matches no prunable layer`);
  if (coupledKept)
    warnings.push(`bn-gamma threshold: ${coupledKept} coupled channel(s) kept whose mean |γ| is below ${plan.threshold} but not every BN's of their group (a channel goes only when |γ| < ${plan.threshold} in all of them)`);

  if (plan.threshold !== undefined) {
    for (const { g, s } of candidates) {
      let n = 0;
      for (let i = 0; i < s.length; i++) if (s[i] >= plan.threshold) n++;
      if (n === 0) emptied.push(g.id);
      setKept(g, topChannels(s, adjustKeep(g.channels, n, plan, g.divisor ?? 1), g.divisor ?? 1), s);
    }
  } else if (plan.ratio !== undefined && candidates.length) {
    // global ranking: remove exactly the n lowest channels of all candidates (ties: lower group, then lower index, go first)
    const total = candidates.reduce((a, c) => a + c.s.length, 0);
    const nRemove = total - Math.floor(total * (1 - plan.ratio) + 1e-9);
    const all = new Float64Array(total);
    const owner = new Int32Array(total);
    let o = 0;
    candidates.forEach((c, ci) => {
      all.set(c.s, o);
      owner.fill(ci, o, o + c.s.length);
      o += c.s.length;
    });
    const order = Array.from({ length: total }, (_, i) => i).sort((a, b) => all[a] - all[b] || a - b);
    const removed = new Int32Array(candidates.length);
    for (let k = 0; k < nRemove; k++) removed[owner[order[k]]]++;
    candidates.forEach((c, ci) => {
      const keep = c.g.channels - removed[ci];
      if (keep <= 0) emptied.push(c.g.id);
      setKept(c.g, topChannels(c.s, adjustKeep(c.g.channels, keep, plan, c.g.divisor ?? 1), c.g.divisor ?? 1), c.s);
    });
  }
  return { plan, kept, warnings, emptied };
}

/**
 * A group whose members see only part of it (a layer reading one half of a channel split, the
 * inputs of a Concat read apart) must keep at least one channel in each such part, or that layer
 * would read an empty tensor: a part the ranking leaves empty keeps its best-scored channel. A
 * member's part is the union of its segments (a layer behind a channel shuffle sees many).
 */
function keepOnePerSegment(g: ChannelGroup, idx: number[], scores: Float32Array): number[] {
  const parts = new Map<string, number[]>();
  for (const m of g.members) {
    if (m.span === undefined || m.span >= g.channels || m.role === 'shape') continue;
    const key = `${m.node}\u0000${m.role}\u0000${m.tensor ?? ''}\u0000${m.inputIndex ?? ''}`;
    const list = parts.get(key) ?? [];
    for (let i = m.start ?? 0; i < (m.start ?? 0) + m.span && i < g.channels; i++) list.push(i);
    parts.set(key, list);
  }
  if (parts.size === 0) return idx;
  const keptSet = new Set(idx);
  let added = false;
  for (const channels of parts.values()) {
    if (channels.length >= g.channels || channels.some((i) => keptSet.has(i))) continue;
    let best = channels[0];
    for (const i of channels) if (scores[i] > scores[best]) best = i;
    keptSet.add(best);
    added = true;
  }
  return added ? [...keptSet].sort((a, b) => a - b) : idx;
}

/** Scores divided by their mean (unchanged when the mean is 0). */
export function normalizeByMean(s: Float32Array): Float32Array {
  let sum = 0;
  for (let i = 0; i < s.length; i++) sum += s[i];
  const mean = sum / s.length;
  if (!(mean > 0)) return s;
  return s.map((v) => v / mean);
}
