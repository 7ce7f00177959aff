// buildAnalysisReport / buildLayerReport: the analysis as plain JSON, matching the engine's own objects.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { fmnistBn, fmnistFused } from '../helpers/paths.ts';
import { loadModel } from '../../src/engine/onnx/model.ts';
import { Graph } from '../../src/engine/graph/graph.ts';
import { analyzeDependencies } from '../../src/engine/analysis/groups.ts';
import { computeImportance } from '../../src/engine/analysis/importance.ts';
import { importanceStats } from '../../src/engine/analysis/stats.ts';
import { buildAnalysisReport, buildLayerReport } from '../../src/engine/analysis/report.ts';

async function analyse(file: string) {
  const graph = new Graph(loadModel(file));
  const deps = analyzeDependencies(graph);
  const importance = await computeImportance(graph, deps, { fpgmBackend: 'js' });
  const stats = importanceStats(importance);
  return { graph, deps, importance, stats, report: buildAnalysisReport(graph, deps, importance, stats) };
}

test('the sample: groups and importance as plain JSON, equal to the engine objects', async () => {
  const { deps, importance, stats, report } = await analyse(fmnistBn);
  assert.deepEqual(JSON.parse(JSON.stringify(report)), report);
  assert.equal(report.groups.length, deps.groups.length);
  report.groups.forEach((g, i) => {
    const d = deps.groups[i];
    assert.equal(g.id, d.id);
    assert.equal(g.channels, d.channels);
    assert.equal(g.prunable, d.prunable);
    assert.deepEqual(g.layers, d.layers);
    assert.deepEqual(g.bnNodes, d.bnNodes);
    assert.equal(g.memberDetails.length, d.members.length);
    assert.deepEqual(g.members, [...new Set(d.members.map((m) => m.node))]);
    assert.equal(new Set(g.members).size, g.members.length);
    if (!g.prunable) assert.ok(g.reason);
    else assert.equal(g.reason, undefined);
  });
  assert.equal(report.importance.hasBn, true);
  assert.equal(report.importance.layers.length, importance.layers.size);
  for (const l of report.importance.layers) {
    const s = stats.layers.find((x) => x.name === l.name)!;
    assert.equal(l.criteria.l1!.median, s.criteria.l1!.median);
    assert.equal('histogram' in l.criteria.l1!, false);
    if (l.bn) assert.equal(l.criteria['bn-gamma']!.count, l.channels);
  }
  assert.ok(report.importance.model.l1!.histogram.counts.length > 0);
});

test('a fused model: no γ anywhere, the advice carried', async () => {
  const { report } = await analyse(fmnistFused);
  assert.equal(report.importance.hasBn, false);
  assert.ok(report.importance.advice.length > 0);
  assert.equal(report.importance.model['bn-gamma'], undefined);
  for (const l of report.importance.layers) assert.equal(l.criteria['bn-gamma'], undefined);
});

test('buildLayerReport: rows per channel and the coupled group; undefined for an unknown layer', async () => {
  const { deps, importance } = await analyse(fmnistBn);
  const r = buildLayerReport(deps, importance, '/res/conv2/Conv')!;
  assert.equal(r.rows.length, 64);
  const gid = deps.groupOfLayer.get('/res/conv2/Conv')!;
  assert.equal(r.coupled!.id, gid);
  assert.ok(r.coupled!.layers.includes('/res/conv2/Conv'));
  assert.ok(r.coupled!.layers.length >= 2, 'the residual add couples it with another layer');
  assert.equal(buildLayerReport(deps, importance, 'nope'), undefined);
});
