// The dependency analysis and channel importance as one plain-JSON object, for
// `onnx-pruner inspect --json` (merged into the model summary) and `inspect --layer`.
// Layer statistics keep their histograms out (they share the model-level edges and would
// make the JSON long); the model-level statistics keep theirs.
import type { Graph } from '../graph/graph.ts';
import type { Criterion } from './criteria.ts';
import type { ModelImportance } from './importance.ts';
import { type LayerChannelScores, type LayerInfo, type ModelStats, type ScoreStats, layerChannelScores } from './stats.ts';
import type { ChannelGroup, DependencyAnalysis, MemberRole } from './types.ts';

export interface GroupReport {
  id: number;
  channels: number;
  /** Node names of the group's members (each node once, in member order). */
  members: string[];
  memberDetails: { node: string; op: string; role: MemberRole; axis: number }[];
  layers: string[];
  bnNodes: string[];
  prunable: boolean;
  reason?: string;
  divisor?: number;
}

export type LayerScoreStats = Omit<ScoreStats, 'histogram' | 'logHistogram'>;

export interface LayerImportanceReport extends LayerInfo {
  criteria: Partial<Record<Criterion, LayerScoreStats>>;
}

export interface AnalysisReport {
  groups: GroupReport[];
  importance: {
    /** The criteria that were computed (`inspect` computes BN γ, L1 and L2 unless asked for FPGM). */
    criteria: Criterion[];
    hasBn: boolean;
    advice: string[];
    model: Partial<Record<Criterion, ScoreStats>>;
    layers: LayerImportanceReport[];
  };
}

function groupReport(g: ChannelGroup): GroupReport {
  const out: GroupReport = {
    id: g.id,
    channels: g.channels,
    members: [...new Set(g.members.map((m) => m.node))],
    memberDetails: g.members.map((m) => ({ node: m.node, op: m.op, role: m.role, axis: m.axis })),
    layers: [...g.layers],
    bnNodes: [...g.bnNodes],
    prunable: g.prunable,
  };
  if (g.reason !== undefined) out.reason = g.reason;
  if (g.divisor !== undefined) out.divisor = g.divisor;
  return out;
}

/** The analysis as plain JSON (no Maps, no typed arrays). `graph` is accepted for callers that have it; names come from the analysis. */
export function buildAnalysisReport(_graph: Graph | undefined, deps: DependencyAnalysis, importance: ModelImportance, stats: ModelStats): AnalysisReport {
  const groups = deps.groups.map(groupReport);
  const layers = stats.layers.map((l): LayerImportanceReport => {
    const criteria: Partial<Record<Criterion, LayerScoreStats>> = {};
    for (const [c, s] of Object.entries(l.criteria) as [Criterion, ScoreStats][]) {
      const { histogram: _h, logHistogram: _lh, ...rest } = s;
      criteria[c] = rest;
    }
    const out: LayerImportanceReport = { name: l.name, op: l.op, channels: l.channels, bnFused: l.bnFused, criteria };
    if (l.group !== undefined) out.group = l.group;
    if (l.bn) out.bn = l.bn;
    if (l.gammaFrom) out.gammaFrom = l.gammaFrom;
    return out;
  });
  return { groups, importance: { criteria: [...importance.criteria], hasBn: stats.hasBn, advice: [...stats.advice], model: stats.model, layers } };
}

export interface LayerReport extends LayerChannelScores {
  /** The layer's group: its other layers and members, and whether it is prunable. */
  coupled?: GroupReport;
}

/** One layer's channel scores and its coupling; undefined for an unknown layer. */
export function buildLayerReport(deps: DependencyAnalysis, importance: ModelImportance, layer: string): LayerReport | undefined {
  const scores = layerChannelScores(importance, layer);
  if (!scores) return undefined;
  const gid = scores.group ?? deps.groupOfLayer.get(layer);
  const g = gid === undefined ? undefined : deps.groups.find((x) => x.id === gid);
  const out: LayerReport = { ...scores };
  if (g) {
    out.coupled = groupReport(g);
  }
  return out;
}
