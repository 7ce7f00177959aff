// Generates large benchmark models: a chain of Gemm + Relu layers with 4096 x 4096 random float32
// weights (64 MiB each) kept in external data, written by streaming (never held in memory).
// With `inline`, the external-data model is then rewritten with every weight inside the .onnx.
//
//   node --import tsx scripts/make-big-model.ts <out.onnx> <size in GiB> [--inline]
import * as fs from 'node:fs';
import * as path from 'node:path';
import Long from 'long';
import { loadModel } from '../src/engine/onnx/model.ts';
import { saveModel } from '../src/engine/onnx/save.ts';
import { DataType, ModelProtoType } from '../src/engine/onnx/proto.ts';

export interface BigModel {
  path: string;
  /** Bytes on disk, external data included. */
  bytes: number;
  layers: number;
}

const WIDTH = 4096;
const WEIGHT_BYTES = WIDTH * WIDTH * 4;
const CHUNK_FLOATS = 4 * 2 ** 20;

/** Fills `out` with uniform values in [-a, a) from a xorshift32 state; returns the next state. */
export function fillRandom(out: Float32Array, state: number, a: number): number {
  let s = state >>> 0 || 1;
  for (let i = 0; i < out.length; i++) {
    s ^= s << 13;
    s >>>= 0;
    s ^= s >>> 17;
    s ^= s << 5;
    s >>>= 0;
    out[i] = (s / 4294967296 - 0.5) * 2 * a;
  }
  return s;
}

/**
 * Writes `<out>` (+ `<out>.data` unless `inline`) of at least `gib` GiB of weights.
 * The inline variant is first written with external data in a scratch folder, then re-saved inline.
 */
export async function makeBigModel(out: string, gib: number, opts: { inline?: boolean; seed?: number } = {}): Promise<BigModel> {
  const layers = Math.max(1, Math.ceil((gib * 2 ** 30) / WEIGHT_BYTES));
  const target = path.resolve(out);
  const dir = opts.inline ? fs.mkdtempSync(path.join(path.dirname(target), '.scratch-')) : path.dirname(target);
  const extFile = opts.inline ? path.join(dir, 'ext.onnx') : target;
  const dataName = `${path.basename(extFile)}.data`;

  // Weights: streamed to the data file in 16 MiB chunks.
  const fd = fs.openSync(path.join(dir, dataName), 'w');
  const chunk = new Float32Array(CHUNK_FLOATS);
  const bytes = new Uint8Array(chunk.buffer);
  let state = opts.seed ?? 12345;
  const scale = Math.sqrt(6 / (2 * WIDTH));
  try {
    for (let l = 0; l < layers; l++) {
      for (let done = 0; done < WEIGHT_BYTES; done += bytes.length) {
        state = fillRandom(chunk, state + l, scale);
        let off = 0;
        while (off < bytes.length) off += fs.writeSync(fd, bytes, off, bytes.length - off);
      }
    }
    fs.fsyncSync(fd);
  } finally {
    fs.closeSync(fd);
  }

  const dim = (n: number) => Long.fromNumber(n);
  const nodes: object[] = [];
  const inits: object[] = [];
  let x = 'input';
  for (let l = 0; l < layers; l++) {
    const w = `layer${l}.weight`;
    const b = `layer${l}.bias`;
    inits.push({
      name: w,
      dims: [dim(WIDTH), dim(WIDTH)],
      data_type: DataType.FLOAT,
      data_location: 1,
      external_data: [
        { key: 'location', value: dataName },
        { key: 'offset', value: String(l * WEIGHT_BYTES) },
        { key: 'length', value: String(WEIGHT_BYTES) },
      ],
    });
    const bias = new Float32Array(WIDTH);
    fillRandom(bias, l + 1, 0.01);
    inits.push({ name: b, dims: [dim(WIDTH)], data_type: DataType.FLOAT, raw_data: Buffer.from(bias.buffer) });
    const y = `/layer${l}/Gemm_output_0`;
    nodes.push({ name: `/layer${l}/Gemm`, op_type: 'Gemm', input: [x, w, b], output: [y], attribute: [{ name: 'transB', type: 2, i: dim(1) }] });
    const r = l === layers - 1 ? 'output' : `/layer${l}/Relu_output_0`;
    nodes.push({ name: `/layer${l}/Relu`, op_type: 'Relu', input: [y], output: [r] });
    x = r;
  }
  const io = (name: string) => ({ name, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: [{ dim_param: 'N' }, { dim_value: dim(WIDTH) }] } } } });
  const proto = {
    ir_version: dim(8),
    producer_name: 'onnx-pruner make-big-model',
    opset_import: [{ domain: '', version: dim(13) }],
    graph: { name: 'big', node: nodes, initializer: inits, input: [io('input')], output: [io('output')] },
  };
  fs.writeFileSync(extFile, ModelProtoType.encode(ModelProtoType.fromObject(proto)).finish());

  if (opts.inline) {
    try {
      await saveModel(loadModel(extFile), target, { externalData: false });
    } finally {
      fs.rmSync(dir, { recursive: true, force: true });
    }
    return { path: target, bytes: fs.statSync(target).size, layers };
  }
  return { path: target, bytes: fs.statSync(target).size + fs.statSync(path.join(dir, dataName)).size, layers };
}

if (/make-big-model\.ts$/.test(process.argv[1] ?? '')) {
  const [out, size] = process.argv.slice(2).filter((a) => !a.startsWith('--'));
  if (!out || !size || !(Number(size) > 0)) {
    console.error('usage: node --import tsx scripts/make-big-model.ts <out.onnx> <size in GiB> [--inline]');
    process.exit(2);
  }
  makeBigModel(out, Number(size), { inline: process.argv.includes('--inline') }).then(
    (m) => console.log(`${m.path}: ${m.layers} layers, ${(m.bytes / 2 ** 30).toFixed(2)} GiB`),
    (e) => {
      console.error((e as Error).message);
      process.exit(1);
    },
  );
}
