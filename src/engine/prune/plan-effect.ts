// What a resolved plan does at its extremes, so that nothing happens silently: a plan that removes
// nothing (bn-gamma on a model whose BatchNorms were folded, a ratio too small for the rounding) is
// refused before anything is written; a plan that cuts a group down to the least its structure
// allows (one channel, or one block of round-to or of a grouped convolution; `--threshold 1e30`,
// `--ratio 0.999`) needs the user's explicit consent; a minimum width or round-to at least as large
// as a group is named.
import { channelsToKeep } from '../analysis/groups.ts';
import type { DependencyAnalysis } from '../analysis/types.ts';
import type { ModelImportance } from '../analysis/importance.ts';
import { PrunerError } from '../errors.ts';
import type { PruningPlan, ResolvedPlan } from './types.ts';

export interface PlanEffect {
  /** The plan removes no channel at all. */
  removesNothing: boolean;
  /** Layers (the first of each group) cut down to the least their structure allows, with the width left. */
  atMinimum: { layer: string; channelsBefore: number; channelsAfter: number }[];
  /** Warnings: minChannels / roundTo at least as large as some groups (left whole because of it). */
  warnings: string[];
}

const nameOf = (g: { id: number; layers: string[]; values: string[] }) => g.layers[0] ?? g.values[0] ?? `group ${g.id}`;

export function planEffect(plan: PruningPlan, deps: DependencyAnalysis, resolved: ResolvedPlan): PlanEffect {
  const keepOverride = new Set<number>();
  for (const [layer, o] of Object.entries(plan.overrides ?? {})) {
    const gid = deps.groupOfLayer.get(layer);
    if (gid !== undefined && o.keep) keepOverride.add(gid);
  }
  const atMinimum: PlanEffect['atMinimum'] = [];
  for (const g of deps.groups) {
    const kept = resolved.kept.get(g.id);
    if (!kept || keepOverride.has(g.id)) continue;
    // The least the group's structure allows (round-to, grouped convolution): a user's minChannels above it is a deliberate floor.
    const floor = channelsToKeep(g.channels, (g.channels - 1) / g.channels, { roundTo: plan.roundTo, divisor: g.divisor });
    if (kept.length <= floor && kept.length < g.channels) atMinimum.push({ layer: nameOf(g), channelsBefore: g.channels, channelsAfter: kept.length });
  }
  const warnings: string[] = [];
  const prunable = deps.groups.filter((g) => g.prunable && g.layers.length);
  for (const [flag, v] of [['minChannels', plan.minChannels], ['roundTo', plan.roundTo]] as const) {
    if (v === undefined || v <= 1) continue;
    const whole = prunable.filter((g) => g.channels <= v);
    if (whole.length) {
      const eg = whole.slice(0, 3).map((g) => `${nameOf(g)}: ${g.channels}`).join(', ');
      warnings.push(`${flag} ${v} is at least the width of ${whole.length} of ${prunable.length} prunable layer groups (${eg}${whole.length > 3 ? ', …' : ''}): they cannot lose channels`);
    }
  }
  return { removesNothing: resolved.kept.size === 0, atMinimum, warnings };
}

/** One line for a plan that removes nothing: why, and what to do instead. */
export function nothingRemovedError(file: string, plan: PruningPlan, importance: Pick<ModelImportance, 'hasBn'>, effect: PlanEffect): PrunerError {
  if (plan.criterion === 'bn-gamma' && !importance.hasBn) {
    return new PrunerError(
      `${file}: no BatchNormalization (folded into the convolutions at export), so bn-gamma has nothing to rank and would remove nothing; use --criterion l1, l2 or fpgm, or re-export with BN kept (torch.onnx.export(..., training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)); nothing written`,
      { subject: file },
    );
  }
  const why = effect.warnings.length ? ` (${effect.warnings[0]})` : '';
  const amount = plan.ratio !== undefined ? `ratio ${plan.ratio}` : `threshold ${plan.threshold}`;
  return new PrunerError(`${file}: the plan (${plan.criterion}, ${amount}) removes no channel${why}; nothing written`, { subject: file });
}

/** The loud warning for groups cut to their minimum. */
export function atMinimumWarning(effect: PlanEffect): string | undefined {
  const m = effect.atMinimum;
  if (!m.length) return undefined;
  const eg = m.slice(0, 3).map((x) => `${x.layer} ${x.channelsBefore} → ${x.channelsAfter}`).join(', ');
  return `the plan cuts ${m.length} layer group(s) down to the least they can keep (${eg}${m.length > 3 ? ', …' : ''}): the model will hardly work without retraining`;
}
