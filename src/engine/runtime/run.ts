// Running a session: feeds in, plain outputs back; latency measurement; classifier accuracy.
import * as fs from 'node:fs';
import { PrunerError, throwIfAborted } from '../errors.ts';
import type { OrtModule, OrtSession } from './session.ts';
import type { InputTensor, LatencyStats } from './types.ts';

/** A model output copied out of ONNX Runtime. Numeric outputs carry `data`; others only their type. */
export interface OutputTensor {
  type: string;
  dims: number[];
  data?: Float32Array | Float64Array | Int32Array | BigInt64Array | Uint8Array | Int8Array | Uint16Array | Int16Array | Uint32Array | BigUint64Array;
}

export function toOrtFeeds(ort: OrtModule, feeds: Record<string, InputTensor>): Record<string, InstanceType<OrtModule['Tensor']>> {
  const out: Record<string, InstanceType<OrtModule['Tensor']>> = {};
  for (const [name, t] of Object.entries(feeds)) {
    out[name] = t.type === 'bool' ? new ort.Tensor('bool', t.data as Uint8Array, t.dims) : new ort.Tensor(t.data as Float32Array, t.dims);
  }
  return out;
}

/** Runs a session once and returns its outputs by name. */
export async function runModel(session: OrtSession, feeds: Record<string, InputTensor>, ort: OrtModule): Promise<Record<string, OutputTensor>> {
  const results = await session.run(toOrtFeeds(ort, feeds));
  const out: Record<string, OutputTensor> = {};
  for (const [name, v] of Object.entries(results)) {
    const t = v as { type: string; dims: readonly number[]; data: unknown; dispose?: () => void };
    const data = ArrayBuffer.isView(t.data) && !(t.data instanceof DataView) ? (t.data as OutputTensor['data']) : undefined;
    out[name] = { type: t.type, dims: [...t.dims], ...(data ? { data } : {}) };
  }
  return out;
}

/** Median, p90 (nearest rank), min and mean of run times in ms. */
export function latencyStats(times: number[]): LatencyStats {
  const s = [...times].sort((a, b) => a - b);
  const rank = (p: number) => s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))];
  const mid = s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2;
  const r3 = (v: number) => Math.round(v * 1000) / 1000; // microsecond resolution is plenty
  return {
    runs: s.length,
    medianMs: s.length ? r3(mid) : 0,
    p90Ms: s.length ? r3(rank(0.9)) : 0,
    minMs: s.length ? r3(s[0]) : 0,
    meanMs: s.length ? r3(s.reduce((a, b) => a + b, 0) / s.length) : 0,
  };
}

/** Warm-up runs, then `runs` timed runs of the same feeds. */
export async function measureLatency(
  session: OrtSession,
  feeds: Record<string, InputTensor>,
  ort: OrtModule,
  opts: { runs: number; warmup: number; signal?: AbortSignal },
): Promise<LatencyStats> {
  return latencyStats(await timeRuns(session, feeds, ort, opts));
}

/** Warm-up runs, then the times (ms) of `runs` runs of the same feeds, each timed alone. */
export async function timeRuns(
  session: OrtSession,
  feeds: Record<string, InputTensor>,
  ort: OrtModule,
  opts: { runs: number; warmup: number; signal?: AbortSignal },
): Promise<number[]> {
  const ortFeeds = toOrtFeeds(ort, feeds);
  for (let i = 0; i < opts.warmup; i++) {
    throwIfAborted(opts.signal);
    await session.run(ortFeeds);
  }
  const times: number[] = [];
  for (let i = 0; i < opts.runs; i++) {
    throwIfAborted(opts.signal);
    const t0 = performance.now();
    await session.run(ortFeeds);
    times.push(performance.now() - t0);
  }
  return times;
}

export function argmaxRows(data: ArrayLike<number>, rows: number, k: number): Int32Array {
  const out = new Int32Array(rows);
  for (let r = 0; r < rows; r++) {
    let best = 0;
    let bv = -Infinity;
    for (let j = 0; j < k; j++) {
      const v = data[r * k + j];
      if (v > bv) {
        bv = v;
        best = j;
      }
    }
    out[r] = best;
  }
  return out;
}

/** Reads a raw float32 image file and a uint8 label file (the Fashion-MNIST sample's format). */
export function readImagesAndLabels(imagesFile: string, labelsFile: string): { images: Float32Array; labels: Uint8Array } {
  const read = (f: string) => {
    try {
      return fs.readFileSync(f);
    } catch (e) {
      throw new PrunerError(`${f}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { subject: f });
    }
  };
  const ib = read(imagesFile);
  if (ib.length % 4) throw new PrunerError(`${imagesFile}: not a whole number of float32 values`, { subject: imagesFile });
  const images = new Float32Array(ib.length / 4);
  for (let i = 0; i < images.length; i++) images[i] = ib.readFloatLE(i * 4);
  return { images, labels: Uint8Array.from(read(labelsFile)) };
}
