// How a sensitivity scan's groups are ranked, shared by the command line (`onnx-pruner scan`) and the
// view's Target section so both list the groups in the same order.

/** What the ranking reads of a scanned group: its id and its points (loss in points at each ratio, in ratio order). */
export interface RankedGroup {
  group: number;
  points: readonly { ratio: number; loss: number }[];
}

/** Mean loss over the scan's ratios, a ratio not measured (after an early stop) counting as 100 points. */
export function meanLoss(g: RankedGroup, ratios: readonly number[]): number {
  let s = 0;
  for (const r of ratios) s += g.points.find((p) => p.ratio === r)?.loss ?? 100;
  return s / Math.max(1, ratios.length);
}

/** The largest scanned ratio up to which the loss stays within `points` (0 when the first already passes it). */
export function tolerates(g: RankedGroup, points: number): number {
  let best = 0;
  for (const p of g.points) {
    if (p.loss > points) break;
    best = p.ratio;
  }
  return best;
}

/** The groups, most tolerant first (lowest mean loss; the group id breaks ties). */
export function rankGroups<G extends RankedGroup>(groups: readonly G[], ratios: readonly number[]): G[] {
  return [...groups].sort((a, b) => meanLoss(a, ratios) - meanLoss(b, ratios) || a.group - b.group);
}
