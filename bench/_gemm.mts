import Long from 'long';
import { ModelProtoType, DataType } from '/work/main/src/engine/onnx/proto.ts';
import { loadOrt } from '/work/main/src/engine/runtime/session.ts';
const ort = await loadOrt();
function mk(op: string) {
  const vi = (name: string, dims: string[]) => ({ name, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dim_param: d })) } } } });
  const node = op === 'Gemm' ? { op_type: 'Gemm', name: 'g', input: ['a', 'b'], output: ['g'], attribute: [{ name: 'transB', type: 2, i: 1 }] }
    : { op_type: 'MatMul', name: 'g', input: ['a', 'b'], output: ['g'] };
  const model = { ir_version: Long.fromNumber(7), opset_import: [{ domain: '', version: Long.fromNumber(13) }],
    graph: { name: 'gram', node: [node], input: [vi('a', ['m', 'k']), vi('b', op === 'Gemm' ? ['n', 'k'] : ['k', 'n'])], output: [vi('g', ['m', 'n'])], initializer: [] } };
  return ModelProtoType.encode(ModelProtoType.fromObject(model)).finish();
}
const N = 2048, K = 512;
const w = new Float32Array(N * K).map(() => Math.random());
for (const spin of ['0', '1']) for (const op of ['Gemm']) for (const blk of [2048, 1024, 512, 256]) {
  const s = await ort.InferenceSession.create(mk(op), { intraOpNumThreads: 2, graphOptimizationLevel: 'all', extra: { session: { intra_op: { allow_spinning: spin } } } });
  const run = async () => { let macs = 0; for (let a0 = 0; a0 < N; a0 += blk) for (let b0 = a0; b0 < N; b0 += blk) { await s.run({ a: new ort.Tensor('float32', w.subarray(a0 * K, (a0 + blk) * K), [blk, K]), b: new ort.Tensor('float32', w.subarray(b0 * K, (b0 + blk) * K), [blk, K]) }); macs += blk * blk * K; } return macs; };
  await run();
  const t = performance.now(); let macs = 0; for (let i = 0; i < 5; i++) macs += await run(); const dt = (performance.now() - t) / 1000;
  console.log(`spin=${spin} ${op} blk=${blk}: ${(dt / 5 * 1000).toFixed(1)} ms per 2048x512 gram, ${(2 * macs / dt / 1e9).toFixed(1)} GFLOPS`);
}
