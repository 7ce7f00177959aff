// Fuzzing the loader: thousands of damaged copies of real models (byte flips, truncations,
// length prefixes bumped to wrong or absurd values). Loading, indexing and reading every tensor
// may succeed or fail with a PrunerError; any other exception, a hang or a crash is a bug.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import * as fs from 'node:fs';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { PrunerError } from '../../src/engine/errors.ts';
import { Graph } from '../../src/engine/graph/graph.ts';
import { loadModel, modelFromBuffer, tensorToFloat32 } from '../../src/engine/onnx/model.ts';
import { prng } from '../helpers/modelBuilder.ts';
import { fmnistBn, repoRoot, shared, sharedModels, tempDir } from '../helpers/paths.ts';

/** Positions and values of length prefixes of length-delimited fields, found by parsing nested messages heuristically. */
interface LengthField {
  /** offset of the varint */
  at: number;
  /** its size in bytes */
  size: number;
  value: number;
}

function readVarint(buf: Uint8Array, pos: number): { value: number; size: number } | undefined {
  let value = 0;
  let mul = 1;
  for (let i = 0; i < 10 && pos + i < buf.length; i++) {
    const b = buf[pos + i];
    value += (b & 0x7f) * mul;
    mul *= 128;
    if (!(b & 0x80)) return { value, size: i + 1 };
  }
  return undefined;
}

/** Walks [start, end) as a protobuf message; returns false when it is not one. */
function scan(buf: Uint8Array, start: number, end: number, out: LengthField[], depth: number): boolean {
  let pos = start;
  const found: LengthField[] = [];
  while (pos < end) {
    const tag = readVarint(buf, pos);
    if (!tag || tag.value >>> 3 === 0) return false;
    pos += tag.size;
    switch (tag.value & 7) {
      case 0: {
        const v = readVarint(buf, pos);
        if (!v) return false;
        pos += v.size;
        break;
      }
      case 1: pos += 8; break;
      case 5: pos += 4; break;
      case 2: {
        const len = readVarint(buf, pos);
        if (!len || pos + len.size + len.value > end) return false;
        found.push({ at: pos, size: len.size, value: len.value });
        const body = pos + len.size;
        // Recurse into what parses as a message (tensor bytes almost never do, and fail fast).
        if (depth < 8 && len.value > 0) scan(buf, body, body + len.value, found, depth + 1);
        pos = body + len.value;
        break;
      }
      default: return false;
    }
  }
  if (pos !== end) return false;
  out.push(...found);
  return true;
}

function encodeVarint(v: number): number[] {
  const bytes: number[] = [];
  do {
    let b = v % 128;
    v = Math.floor(v / 128);
    if (v > 0) b |= 0x80;
    bytes.push(b);
  } while (v > 0);
  return bytes;
}

type Mutation = (src: Buffer, rand: () => number) => Buffer;

const flipBytes: Mutation = (src, rand) => {
  const b = Buffer.from(src);
  const n = 1 + Math.floor(rand() * 8);
  for (let i = 0; i < n; i++) b[Math.floor(rand() * b.length)] ^= 1 + Math.floor(rand() * 255);
  return b;
};

// Flips in the structural part (the first and last KiB) where the tags and lengths are.
const flipStructure: Mutation = (src, rand) => {
  const b = Buffer.from(src);
  const n = 1 + Math.floor(rand() * 4);
  for (let i = 0; i < n; i++) {
    const at = rand() < 0.5 ? Math.floor(rand() * Math.min(1024, b.length)) : b.length - 1 - Math.floor(rand() * Math.min(4096, b.length));
    b[at] = Math.floor(rand() * 256);
  }
  return b;
};

const truncate: Mutation = (src, rand) => src.subarray(0, Math.floor(rand() * src.length));

function bumpLength(fields: LengthField[]): Mutation {
  return (src, rand) => {
    const f = fields[Math.floor(rand() * fields.length)];
    const choices = [f.value + 1, Math.max(0, f.value - 1), f.value + 1000, f.value * 2, 0, 2 ** 31, 2 ** 40, 2 ** 53 - 1];
    const v = choices[Math.floor(rand() * choices.length)];
    return Buffer.concat([src.subarray(0, f.at), Buffer.from(encodeVarint(v)), src.subarray(f.at + f.size)]);
  };
}

/** Loads, indexes and reads every tensor as numbers; returns 'ok' or 'pruner-error', throws anything else. */
function exercise(buf: Uint8Array, file: string): 'ok' | 'pruner-error' {
  try {
    const m = modelFromBuffer(buf, file);
    const g = new Graph(m);
    for (const t of g.initializers.values()) {
      try {
        tensorToFloat32(m, t);
      } catch (e) {
        if (!(e instanceof PrunerError)) throw e;
      }
    }
    return 'ok';
  } catch (e) {
    if (e instanceof PrunerError) {
      assert.ok(!e.message.includes('\n'), `one-line message: ${e.message}`);
      assert.ok(e.message.includes(path.basename(file)), `message names the file: ${e.message}`);
      return 'pruner-error';
    }
    throw e;
  }
}

function fuzz(file: string, iterations: number, seed: number): { ok: number; errors: number } {
  const src = fs.readFileSync(file);
  const fields: LengthField[] = [];
  assert.ok(scan(src, 0, src.length, fields, 0), 'the unmodified model parses as protobuf');
  assert.ok(fields.length > 10);
  const mutations: Mutation[] = [flipBytes, flipStructure, truncate, bumpLength(fields), bumpLength(fields.filter((f) => f.value < 4096))];
  assert.equal(exercise(src, file), 'ok', 'the unmodified model loads');
  const rand = prng(seed);
  const counts = { ok: 0, errors: 0 };
  // a fake path in a folder that does not exist: external-data references can never resolve to real files
  const name = path.join(path.dirname(file), 'fuzz-nonexistent', path.basename(file));
  for (let i = 0; i < iterations; i++) {
    const kind = Math.floor(rand() * mutations.length);
    const mutated = mutations[kind](src, rand);
    try {
      if (exercise(mutated, name) === 'ok') counts.ok++;
      else counts.errors++;
    } catch (e) {
      assert.fail(`iteration ${i} (seed ${seed}, mutation ${kind}): ${(e as Error).stack ?? e}`);
    }
  }
  return counts;
}

describe('fuzzing the loader', () => {
  test('the bundled sample: 8000 damaged copies give success or a PrunerError', () => {
    const t0 = Date.now();
    const r = fuzz(fmnistBn, 8000, 1);
    // both outcomes occur (flips in weight bytes still load)
    assert.ok(r.ok > 500, `loaded: ${r.ok}`);
    assert.ok(r.errors > 2000, `refused: ${r.errors}`);
    assert.ok(Date.now() - t0 < 40_000, `took ${Date.now() - t0} ms`);
  });

  const sharedSet = ['real/ultraface/version-RFB-320.onnx', 'real/ppocr/ch_ppocr_mobile_v2.0_cls_infer.onnx', 'synthetic/mobilenet_v1_w025_bn.onnx'];
  for (const rel of sharedSet) {
    test(`shared ${rel}: 1000 damaged copies`, { skip: sharedModels ? false : 'shared models folder not present: skipped' }, () => {
      const r = fuzz(shared(rel), 1000, 7);
      assert.equal(r.ok + r.errors, 1000);
    });
  }

  test('damaged files on disk: loadModel and the CLI report them in one line', () => {
    const dir = tempDir('onnx-pruner-fuzz-');
    const src = fs.readFileSync(fmnistBn);
    const rand = prng(99);
    const files: string[] = [];
    for (let i = 0; i < 6; i++) {
      const p = path.join(dir, `damaged${i}.onnx`);
      fs.writeFileSync(p, i === 0 ? src.subarray(0, 5000) : i % 2 ? truncate(src, rand) : flipStructure(src, rand));
      files.push(p);
      try {
        loadModel(p);
      } catch (e) {
        assert.ok(e instanceof PrunerError, String(e));
      }
    }
    // The inspect command runs the same loader; a damaged file must end with a one-line error, not a stack trace.
    const inspect = fs.readFileSync(path.join(repoRoot, 'src', 'cli', 'inspect.ts'), 'utf8');
    if (!inspect.includes('not implemented yet')) {
      for (const p of files.slice(0, 3)) {
        const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(repoRoot, 'src', 'cli', 'main.ts'), 'inspect', p], {
          cwd: repoRoot,
          encoding: 'utf8',
          timeout: 60_000,
        });
        assert.notEqual(r.status, null, 'the CLI finished');
        if (p === files[0]) assert.equal(r.status, 1, 'a truncated file fails');
        if (r.status !== 0) {
          assert.equal(r.stderr.trim().split('\n').length, 1, `one line: ${r.stderr}`);
          assert.ok(r.stderr.includes(path.basename(p)), `names the file: ${r.stderr}`);
        }
      }
    }
    fs.rmSync(dir, { recursive: true });
  });
});
