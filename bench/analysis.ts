// Dependency analysis time: shape inference + channel groups, on resnet18_bn (shared models) and on a
// ResNet-50-sized model built in code (bottleneck blocks 3-4-6-3, widths 64..2048, ~25.6 M parameters).
// Run: node --import tsx bench/analysis.ts
import * as fs from 'node:fs';
import * as path from 'node:path';
import { analyzeDependencies } from '../src/engine/analysis/groups.ts';
import { Graph } from '../src/engine/graph/graph.ts';
import { inferShapes } from '../src/engine/graph/shapes.ts';
import { loadModel, tensorElementCount } from '../src/engine/onnx/model.ts';
import { ModelBuilder } from '../test/helpers/modelBuilder.ts';
import { shared, sharedModels, tempDir } from '../test/helpers/paths.ts';

interface ModelTiming {
  model: string;
  params: number;
  nodes: number;
  groups: number;
  prunable: number;
  /** loadModel + Graph index (not part of the analysis; for scale). */
  loadMs: number;
  shapesMs: number;
  /** analyzeDependencies with precomputed shapes: the groups alone. */
  groupsMs: number;
  /** analyzeDependencies as called by the product (it runs shape inference itself), median of warm runs. */
  fullMs: number;
  /** The first call in the process (includes JIT warm-up): what a one-shot CLI run pays. */
  coldMs: number;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (v: number) => Math.round(v * 100) / 100;

/** ResNet-50 (torchvision layout: conv-BN-ReLU, bottleneck with 1x1 / 3x3 / 1x1 and a projection shortcut). */
/**
 * A ResNet-50-sized model (torchvision's layout, random weights). With `heInit`, conv weights are
 * scaled by fan-in (He) and the BatchNorms are identity statistics, so activations keep a unit scale
 * through the 16 blocks, as in a trained net (what a benchmark that runs the model needs); without it,
 * the builder's default weights make activations grow by orders of magnitude per layer (enough for
 * timing the analysis, which never runs the model).
 */
export function buildResNet50(file: string, opts: { heInit?: boolean } = {}): string {
  const b = new ModelBuilder({ opset: 13 });
  let x = b.input('input', ['N', 3, 224, 224]);
  const heWeight = (cin: number, cout: number, k: number) => {
    const a = Math.sqrt(6 / (cin * k * k));
    return Float32Array.from({ length: cout * cin * k * k }, () => a * b.random());
  };
  const cbr = (v: string, cin: number, cout: number, k: number, stride: number, name: string, relu = true) => {
    const conv = b.conv(v, cin, cout, { k, stride, bias: false, name: `${name}.conv`, ...(opts.heInit ? { weight: heWeight(cin, cout, k) } : {}) });
    const stats = opts.heInit ? { mean: 'zeros' as const, var: 'ones' as const, gamma: Array.from({ length: cout }, () => (relu ? 0.5 : 0.2) + 0.5 * Math.abs(b.random())) } : {};
    const y = b.bn(conv, cout, { name: `${name}.bn`, ...stats });
    return relu ? b.relu(y) : y;
  };
  x = cbr(x, 3, 64, 7, 2, 'stem');
  x = b.node('MaxPool', [x], { kernel_shape: [3, 3], strides: [2, 2], pads: [1, 1, 1, 1] });
  let cin = 64;
  [3, 4, 6, 3].forEach((blocks, s) => {
    const width = 64 << s;
    const cout = width * 4;
    for (let i = 0; i < blocks; i++) {
      const stride = i === 0 && s > 0 ? 2 : 1;
      const name = `layer${s + 1}.${i}`;
      let y = cbr(x, cin, width, 1, 1, `${name}.1`);
      y = cbr(y, width, width, 3, stride, `${name}.2`);
      y = cbr(y, width, cout, 1, 1, `${name}.3`, false);
      const shortcut = i === 0 ? cbr(x, cin, cout, 1, stride, `${name}.down`, false) : x;
      x = b.relu(b.add(y, shortcut));
      cin = cout;
    }
  });
  x = b.flatten(b.gap(x));
  b.output(b.gemm(x, 2048, 1000, 'fc'), ['N', 1000]);
  return b.save(file);
}

function timeModel(label: string, file: string, repeats: number): ModelTiming {
  const t0 = performance.now();
  const graph = new Graph(loadModel(file));
  const loadMs = performance.now() - t0;
  const shapes: number[] = [];
  const groups: number[] = [];
  const full: number[] = [];
  const tc = performance.now();
  let result = analyzeDependencies(graph);
  const coldMs = performance.now() - tc;
  for (let i = 0; i < repeats; i++) {
    let t = performance.now();
    const s = inferShapes(graph).shapes;
    shapes.push(performance.now() - t);
    t = performance.now();
    analyzeDependencies(graph, { shapes: s });
    groups.push(performance.now() - t);
    t = performance.now();
    result = analyzeDependencies(graph);
    full.push(performance.now() - t);
  }
  let params = 0;
  for (const init of graph.initializers.values()) params += tensorElementCount(init);
  return {
    model: label,
    params,
    nodes: graph.nodes.length,
    groups: result.groups.length,
    prunable: result.groups.filter((g) => g.prunable).length,
    loadMs: round(loadMs),
    shapesMs: round(median(shapes)),
    groupsMs: round(median(groups)),
    fullMs: round(median(full)),
    coldMs: round(coldMs),
  };
}

export async function runAnalysisBench(): Promise<object> {
  const rows: ModelTiming[] = [];
  if (sharedModels) rows.push(timeModel('resnet18_bn', shared('synthetic/resnet18_bn.onnx'), 15));
  const dir = tempDir('onnx-pruner-bench-');
  try {
    const file = buildResNet50(path.join(dir, 'resnet50.onnx'));
    rows.push(timeModel('resnet50 (built)', file, 15));
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  console.log('model              params      nodes  groups  prunable  load ms  shapes ms  groups ms  full ms  cold ms (target <= 500)');
  for (const r of rows) {
    console.log(
      `${r.model.padEnd(18)} ${(r.params / 1e6).toFixed(2).padStart(6)} M  ${String(r.nodes).padStart(5)}  ${String(r.groups).padStart(6)}  ${String(r.prunable).padStart(8)}  ${String(r.loadMs).padStart(7)}  ${String(r.shapesMs).padStart(9)}  ${String(r.groupsMs).padStart(9)}  ${String(r.fullMs).padStart(7)}  ${String(r.coldMs).padStart(7)}`,
    );
  }
  return { repeats: 15, statistic: 'median', models: rows };
}

if (process.argv[1]?.endsWith('analysis.ts')) {
  runAnalysisBench().then((r) => console.log(JSON.stringify(r)), (e) => {
    console.error(e);
    process.exitCode = 1;
  });
}
