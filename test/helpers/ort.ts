// Running a model in ONNX Runtime from the tests, and comparing outputs.
import assert from 'node:assert/strict';
import * as ort from 'onnxruntime-node';

/** Runs a one-input model (file or bytes) on `x` and returns its first output. */
export async function runFirstOutput(model: string | Uint8Array, x: Float32Array, dims: readonly number[]): Promise<{ data: Float32Array; dims: number[] }> {
  const s = typeof model === 'string' ? await ort.InferenceSession.create(model, { logSeverityLevel: 4 }) : await ort.InferenceSession.create(model, { logSeverityLevel: 4 });
  try {
    const r = await s.run({ [s.inputNames[0]]: new ort.Tensor('float32', x, [...dims]) });
    const o = r[s.outputNames[0]];
    return { data: o.data as Float32Array, dims: [...o.dims] };
  } finally {
    await s.release();
  }
}

/** The largest absolute element-wise difference of two equally long arrays. */
export function maxAbsDiff(a: Float32Array, b: Float32Array): number {
  assert.equal(a.length, b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}
