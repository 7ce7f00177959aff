// Is a Conv whose weight is a graph input (fed at run time) as fast as one whose weight is an
// initializer on the CPU provider? (A scan session shared by a group's ratios would feed the
// pruned weights as inputs.) A 3×3 conv, 64→64 channels at 56×56, batch 16, timed over runs.
// Run: node --import tsx bench/conv-weight-input.ts
import { ModelProtoType } from '../src/engine/onnx/proto.ts';
import { loadOrt, sessionOptions } from '../src/engine/runtime/session.ts';
import { seededNormal } from '../src/engine/runtime/inputs.ts';
import { defaultRecoveryThreads } from '../src/engine/recovery/working.ts';

const B = 16, C = 64, H = 56, RUNS = 20;
const vi = (name: string, dims: (number | string)[]) => ({ name, type: { tensor_type: { elem_type: 1, shape: { dim: dims.map((d) => (typeof d === 'number' ? { dim_value: d } : { dim_param: d })) } } } });

function model(weightInput: boolean, w: Float32Array): Uint8Array {
  const wt = { name: 'w', dims: [C, C, 3, 3], data_type: 1, raw_data: new Uint8Array(w.buffer.slice(0)) };
  return ModelProtoType.encode(ModelProtoType.fromObject({
    ir_version: 8, opset_import: [{ domain: '', version: 13 }],
    graph: {
      name: 'g',
      node: [{ op_type: 'Conv', input: ['x', 'w'], output: ['y'], attribute: [{ name: 'pads', type: 7, ints: [1, 1, 1, 1] }] }],
      input: [vi('x', [B, C, H, H]), ...(weightInput ? [vi('w', ['co', 'ci', 3, 3])] : [])],
      initializer: weightInput ? [] : [wt],
      output: [vi('y', [B, 'co', H, H])],
    },
  })).finish();
}

async function main() {
const ort = await loadOrt();
const w = seededNormal(C * C * 9, 1);
const x = seededNormal(B * C * H * H, 2);
for (const round of [0, 1]) {
  for (const weightInput of [false, true]) {
    const s = await ort.InferenceSession.create(model(weightInput, w), sessionOptions('cpu', defaultRecoveryThreads()));
    const feeds: Record<string, unknown> = { x: new ort.Tensor('float32', x, [B, C, H, H]) };
    if (weightInput) feeds.w = new ort.Tensor('float32', w, [C, C, 3, 3]);
    await s.run(feeds as never);
    const t = performance.now();
    for (let i = 0; i < RUNS; i++) await s.run(feeds as never);
    console.log(`round ${round} weight ${weightInput ? 'input      ' : 'initializer'}: ${((performance.now() - t) / RUNS).toFixed(1)} ms per run`);
    await s.release();
  }
}
}

void main();
