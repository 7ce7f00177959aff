// Parameters and multiply-accumulates before/after, added to a validation report.
import { Graph } from '../graph/graph.ts';
import { loadModel } from '../onnx/model.ts';
import type { ValidationReport } from './types.ts';

/** Counts a model's parameters and MACs from its graph. */
export type CostFunction = (graph: Graph) => { params: number; macs: number };

/**
 * The report with `params` and `macs` before/after filled from both models' graphs (MACs at batch 1).
 * Without a cost function the report is returned unchanged; when counting fails the reason goes to
 * `notes` and the rest of the report stands.
 */
export function withCost(report: ValidationReport, cost?: CostFunction): ValidationReport {
  if (!cost) return report;
  try {
    const before = cost(new Graph(loadModel(report.original.path, { weights: 'file' })));
    const after = cost(new Graph(loadModel(report.pruned.path, { weights: 'file' })));
    return { ...report, params: { before: before.params, after: after.params }, macs: { before: before.macs, after: after.macs } };
  } catch (e) {
    return { ...report, notes: [...(report.notes ?? []), `parameters and MACs not counted: ${(e as Error).message}`] };
  }
}
