// Tensor slices (onnx/slice.ts) and row blocks (onnx/model.ts forEachRowBlock): the bytes a slice
// produces, in one copy (sliceBytes) or streamed in chunks (streamSlice), equal a plain
// element-by-element reference for every element size, source alignment, source kind (memory or a
// range of a file), pattern of kept indices (sparse, dense, whole rows) and rows longer than a
// stream chunk; row blocks give the tensor's values whatever the block size, storage and nesting.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import Long from 'long';
import { sliceBytes, sliceInto, sliceLength, streamSlice, type SliceSpec } from '../../src/engine/onnx/slice.ts';
import { forEachRowBlock, tensorToFloat32, type OnnxModel } from '../../src/engine/onnx/model.ts';
import { DataType, type TensorProto } from '../../src/engine/onnx/proto.ts';
import { tempDir } from '../helpers/paths.ts';

/** xorshift32: deterministic bytes. */
function bytes(n: number, seed: number): Uint8Array {
  const out = new Uint8Array(n);
  let s = seed >>> 0 || 1;
  for (let i = 0; i < n; i++) {
    s ^= s << 13;
    s ^= s >>> 17;
    s ^= s << 5;
    out[i] = s & 0xff;
  }
  return out;
}

/** The slice element by element: every index tuple kept on every axis, in row-major order. */
function reference(src: Uint8Array, dims: number[], es: number, keep: (number[] | undefined)[]): Uint8Array {
  const kept = dims.map((d, a) => keep[a] ?? Array.from({ length: d }, (_, i) => i));
  const strides = dims.map((_, a) => dims.slice(a + 1).reduce((x, y) => x * y, 1));
  const out = new Uint8Array(kept.reduce((n, k) => n * k.length, es));
  let pos = 0;
  const walk = (a: number, base: number) => {
    if (a === dims.length) {
      for (let b = 0; b < es; b++) out[pos++] = src[base * es + b];
      return;
    }
    const k = kept[a];
    for (let i = 0; i < k.length; i++) walk(a + 1, base + k[i] * strides[a]);
  };
  walk(0, 0);
  return out;
}

/** Every `step`-th index of `n` from `from` (a sparse or dense kept set). */
const every = (n: number, step: number, from = 0) => Array.from({ length: n }, (_, i) => i).filter((i) => i >= from && (i - from) % step === 0);
/** A kept set with runs of various lengths (1, 2, ... units), so both gather paths see it. */
const runs = (n: number) => Array.from({ length: n }, (_, i) => i).filter((i) => (i * 7) % 11 < 6);

async function streamed(spec: SliceSpec): Promise<Buffer> {
  const parts: Buffer[] = [];
  const n = await streamSlice(spec, async (chunk) => {
    parts.push(Buffer.from(chunk)); // the chunk is reused: copy it
  });
  const all = Buffer.concat(parts);
  assert.equal(n, all.length);
  return all;
}

describe('slices', () => {
  const dir = tempDir('slice-');

  const cases: { name: string; dims: number[]; keep: (d: number[]) => (number[] | undefined)[] }[] = [
    { name: 'axis 0 only (whole rows)', dims: [10, 6, 3, 3], keep: (d) => [every(d[0], 3), undefined, undefined, undefined] },
    { name: 'axis 1 sparse (1x1 conv)', dims: [9, 40, 1, 1], keep: (d) => [undefined, every(d[1], 3, 1), undefined, undefined] },
    { name: 'axes 0 and 1, runs (3x3 conv)', dims: [13, 21, 3, 3], keep: (d) => [runs(d[0]), runs(d[1]), undefined, undefined] },
    { name: 'axes 0 and 1, dense runs (Gemm)', dims: [7, 300], keep: (d) => [every(d[0], 2), runs(d[1]).filter((i) => i < 100 || i > 180)] },
    { name: 'last axis', dims: [5, 4, 33], keep: (d) => [undefined, undefined, every(d[2], 4, 2)] },
    { name: 'a middle axis and the last one', dims: [3, 8, 5, 6], keep: (d) => [undefined, every(d[1], 2), undefined, runs(d[3])] },
    { name: 'one dimension', dims: [50], keep: (d) => [runs(d[0])] },
  ];

  for (const es of [1, 2, 4, 8, 16]) {
    for (const c of cases) {
      test(`${c.name}, ${es}-byte elements: sliceBytes and streamSlice equal the reference at every source alignment`, async () => {
        const n = c.dims.reduce((a, b) => a * b, 1) * es;
        const keep = c.keep(c.dims);
        const data = bytes(n + 8, n + es);
        for (let shift = 0; shift < 4; shift++) {
          const src = data.subarray(shift, shift + n);
          const spec: SliceSpec = { src, dims: c.dims, elementSize: es, keep };
          const want = reference(src, c.dims, es, keep);
          assert.equal(sliceLength(spec), want.length);
          assert.deepEqual(sliceBytes(spec), Buffer.from(want), `sliceBytes, source at +${shift}`);
          assert.deepEqual(await streamed(spec), Buffer.from(want), `streamSlice, source at +${shift}`);
        }
      });
    }
  }

  test('a source in a file (at an odd offset) gives the same bytes as in memory', async () => {
    const dims = [31, 17, 3, 3];
    const n = dims.reduce((a, b) => a * b, 1) * 4;
    const data = bytes(n + 3, 7);
    const file = path.join(dir, 'w.bin');
    fs.writeFileSync(file, data);
    const keep = [runs(dims[0]), every(dims[1], 2, 1), undefined, undefined];
    const want = reference(data.subarray(3), dims, 4, keep);
    const spec: SliceSpec = { src: { file, offset: 3, length: n }, dims, elementSize: 4, keep };
    assert.deepEqual(sliceBytes(spec), Buffer.from(want));
    assert.deepEqual(await streamed(spec), Buffer.from(want));
  });

  test('rows longer than a stream chunk (16 MiB): gathered and whole, in memory and from a file', async () => {
    const dims = [3, 4_200_000]; // 16.8 MB rows of float32 (a chunk is 16 MiB = 16.78 MB)
    const n = dims[0] * dims[1] * 4;
    const data = bytes(n + 1, 99);
    const src = data.subarray(1); // unaligned
    const file = path.join(dir, 'big.bin');
    fs.writeFileSync(file, src);
    const cols = Array.from({ length: dims[1] }, (_, i) => i).filter((i) => i % 5 !== 2);
    for (const keep of [[[0, 2], cols], [[0, 2], undefined], [undefined, cols]] as (number[] | undefined)[][]) {
      const want = Buffer.from(reference(src, dims, 4, keep));
      for (const s of [src, { file, offset: 0, length: n }]) {
        const spec: SliceSpec = { src: s, dims, elementSize: 4, keep };
        const got = await streamed(spec);
        assert.equal(got.length, want.length);
        assert.ok(got.equals(want), `streamSlice ${keep.map((k) => (k ? k.length : 'all')).join('×')} from ${'file' in s ? 'a file' : 'memory'}`);
        if (!('file' in s)) assert.ok(sliceBytes(spec).equals(want));
      }
    }
  });

  test('sliceInto at every destination alignment writes the slice there and nothing else', () => {
    for (const es of [1, 2, 4]) {
      for (const c of cases) {
        const n = c.dims.reduce((a, b) => a * b, 1) * es;
        const keep = c.keep(c.dims);
        const src = bytes(n, n + 3 * es);
        const want = reference(src, c.dims, es, keep);
        for (const at of [0, 1, 2, 3, 5]) {
          const out = new Uint8Array(want.length + 16).fill(0xa5);
          sliceInto({ src, dims: c.dims, elementSize: es, keep }, out, at);
          assert.deepEqual(out.subarray(at, at + want.length), want, `${c.name}, ${es}-byte elements, at +${at}`);
          assert.ok(out.subarray(0, at).every((b) => b === 0xa5) && out.subarray(at + want.length).every((b) => b === 0xa5), `${c.name}: bytes outside the slice untouched`);
        }
      }
    }
  });

  test('a run of consecutive rows longer than a stream chunk is split between chunks, in memory and from a file', async () => {
    const dims = [3000, 3001]; // 36 MB of float32; kept rows of 7.4 KB do not divide a 16 MiB chunk
    const n = dims[0] * dims[1] * 4;
    const src = bytes(n, 5);
    const file = path.join(dir, 'rows.bin');
    fs.writeFileSync(file, src);
    const keep = [undefined, runs(dims[1])];
    const want = Buffer.from(reference(src, dims, 4, keep));
    assert.ok(want.length > 16 * 2 ** 20);
    for (const s of [src, { file, offset: 0, length: n }]) {
      const spec: SliceSpec = { src: s, dims, elementSize: 4, keep };
      const chunks: number[] = [];
      const parts: Buffer[] = [];
      await streamSlice(spec, async (chunk) => {
        chunks.push(chunk.length);
        parts.push(Buffer.from(chunk));
      });
      assert.ok(chunks.length >= 2, `${chunks.length} chunks`);
      assert.ok(Buffer.concat(parts).equals(want), `streamSlice from ${'file' in s ? 'a file' : 'memory'}`);
      assert.ok(sliceBytes(spec).equals(want));
    }
  });

  test('two slices streamed at the same time each get their own bytes', async () => {
    const dims = [600, 700]; // 1.6 MiB each: both use the reused chunk path
    const a = bytes(dims[0] * dims[1] * 4, 1);
    const b = bytes(dims[0] * dims[1] * 4, 2);
    const keep = [every(dims[0], 2), runs(dims[1])];
    const sa: SliceSpec = { src: a, dims, elementSize: 4, keep };
    const sb: SliceSpec = { src: b, dims, elementSize: 4, keep };
    const slow = async (spec: SliceSpec) => {
      const parts: Buffer[] = [];
      await streamSlice(spec, async (chunk) => {
        await new Promise((r) => setTimeout(r, 5));
        parts.push(Buffer.from(chunk));
      });
      return Buffer.concat(parts);
    };
    const [ga, gb] = await Promise.all([slow(sa), slow(sb)]);
    assert.ok(ga.equals(Buffer.from(reference(a, dims, 4, keep))));
    assert.ok(gb.equals(Buffer.from(reference(b, dims, 4, keep))));
  });

  test('cleanup', () => fs.rmSync(dir, { recursive: true, force: true }));
});

describe('row blocks', () => {
  const dir = tempDir('rowblocks-');

  const tensor = (dims: number[], dt: number, raw: Uint8Array): TensorProto =>
    ({ name: 'w', data_type: dt, dims: dims.map((d) => Long.fromNumber(d)), raw_data: raw, float_data: [], int32_data: [], string_data: [], int64_data: [], double_data: [], uint64_data: [], external_data: [], metadata_props: [] }) as unknown as TensorProto;
  const model: OnnxModel = { path: path.join(dir, 'm.onnx'), dir, fileSize: 0, sizeOnDisk: 0, proto: { graph: { initializer: [] } } as never };

  /** The values forEachRowBlock hands out, in order, with the rows each block says it holds. */
  const collect = (t: TensorProto, rows: number, blockFloats?: number) => {
    const got: number[] = [];
    let next = 0;
    assert.ok(forEachRowBlock(model, t, (block, first, n) => {
      assert.equal(first, next);
      assert.equal(block.length, (n * block.length) / n);
      next += n;
      got.push(...block);
    }, blockFloats));
    assert.equal(next, rows);
    return got;
  };

  test('unaligned FLOAT, FLOAT16 and BFLOAT16 raw data, by any block size: the tensor\'s values', () => {
    const dims = [37, 5, 3];
    const n = 37 * 15;
    const f = Float32Array.from({ length: n }, (_, i) => Math.sin(i) * 3);
    const cases: [number, Uint8Array][] = [
      [DataType.FLOAT, new Uint8Array(f.buffer)],
      [DataType.FLOAT16, bytes(n * 2, 5).map((v, i) => (i % 2 ? v & 0x3b : v))], // finite halves
      [DataType.BFLOAT16, bytes(n * 2, 6).map((v, i) => (i % 2 ? v & 0x3f : v))],
    ];
    for (const [dt, raw] of cases) {
      for (const shift of [0, 1, 2, 3]) {
        const buf = new Uint8Array(raw.length + shift);
        buf.set(raw, shift);
        const t = tensor(dims, dt, buf.subarray(shift));
        const want = [...tensorToFloat32(model, t)];
        for (const block of [undefined, 15, 16, 40, 1]) assert.deepEqual(collect(t, 37, block), want, `type ${dt}, +${shift}, block ${block ?? 'default'}`);
      }
    }
  });

  test('external data read by blocks of rows', () => {
    const f = Float32Array.from({ length: 64 * 9 }, (_, i) => i / 7);
    fs.writeFileSync(path.join(dir, 'm.data'), Buffer.concat([Buffer.alloc(5), Buffer.from(f.buffer)]));
    const t = { ...tensor([64, 9], DataType.FLOAT, new Uint8Array(0)), raw_data: undefined, data_location: 1, external_data: [{ key: 'location', value: 'm.data' }, { key: 'offset', value: '5' }, { key: 'length', value: String(f.byteLength) }] } as unknown as TensorProto;
    assert.deepEqual(collect(t, 64, 30), [...f]);
  });

  test('a block read inside another block\'s call is a block of its own', () => {
    const a = Float32Array.from({ length: 40 * 4 }, (_, i) => i);
    const b = Float32Array.from({ length: 40 * 4 }, (_, i) => -i);
    const unaligned = (x: Float32Array) => {
      const buf = new Uint8Array(x.byteLength + 1);
      buf.set(new Uint8Array(x.buffer), 1);
      return buf.subarray(1);
    };
    const ta = tensor([40, 4], DataType.FLOAT, unaligned(a));
    const tb = tensor([40, 4], DataType.FLOAT, unaligned(b));
    const seen: number[] = [];
    forEachRowBlock(model, ta, (outer) => {
      const before = [...outer];
      forEachRowBlock(model, tb, (inner) => {
        for (const v of inner) assert.ok(v <= 0);
      }, 8);
      assert.deepEqual([...outer], before, 'the outer block is untouched by the inner read');
      seen.push(...outer);
    }, 16);
    assert.deepEqual(seen, [...a]);
  });

  test('cleanup', () => fs.rmSync(dir, { recursive: true, force: true }));
});
