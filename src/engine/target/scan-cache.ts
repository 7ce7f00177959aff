// The sensitivity scan's cache: `<model>.onnx.sensitivity.json` beside the model (or in a chosen
// folder), holding the latest scans of that model, each under a key made of the model's hash (the
// .onnx file and its external data), the scan settings and the data it measured on. A scan with the
// same key is read back instead of computed; a partial entry (a cancelled scan) is completed by the
// next scan with the same key. Written atomically (files.ts): never over the model or a file it
// reads; a cache that cannot be read is ignored, one that cannot be written is skipped.
import { createHash } from 'node:crypto';
import * as fs from 'node:fs';
import * as path from 'node:path';
import type { OnnxModel } from '../onnx/model.ts';
import type { InputSet } from '../data/types.ts';
import { writeTextFileSafely } from '../files.ts';
import type { ScanSettings, SensitivityScan } from './types.ts';

export const SCAN_CACHE_SUFFIX = '.sensitivity.json';
const CACHE_VERSION = 1;
/** Scans kept per model (different criteria, recoveries, data). */
const MAX_ENTRIES = 8;

interface CacheFile {
  version: number;
  entries: { key: string; scan: SensitivityScan }[];
}

/** The cache file of a model: `<model file name>.sensitivity.json` in `dir` (default: beside it). */
export function scanCachePath(modelPath: string, dir?: string): string {
  return path.join(dir ?? path.dirname(modelPath), `${path.basename(modelPath)}${SCAN_CACHE_SUFFIX}`);
}

/** Hashes of loaded models: a model is hashed once while it is held (the view looks the cache up on every change of criterion or data). */
const hashes = new WeakMap<OnnxModel, string>();

/** SHA-256 of the model file followed by its external-data files, hex; computed once per loaded model. */
export function hashModelFiles(model: OnnxModel): string {
  let known = hashes.get(model);
  if (known === undefined) hashes.set(model, (known = hashFiles([model.path, ...(model.externalFiles ?? [])])));
  return known;
}

function hashFiles(files: string[]): string {
  const h = createHash('sha256');
  const buf = Buffer.allocUnsafe(1 << 20);
  for (const f of files) {
    const fd = fs.openSync(f, 'r');
    try {
      for (;;) {
        const n = fs.readSync(fd, buf, 0, buf.length, null);
        if (n <= 0) break;
        h.update(buf.subarray(0, n));
      }
    } finally {
      fs.closeSync(fd);
    }
    h.update('\0');
  }
  return h.digest('hex');
}

/** Size and modification time of the data file or folder, so a changed file under the same name is a different key. */
function dataStamp(file: string | undefined): string {
  if (!file) return '';
  try {
    const st = fs.statSync(file.replace(/:[^:/\\]*$/, '') || file);
    return `${st.size}:${Math.round(st.mtimeMs)}`;
  } catch {
    try {
      const st = fs.statSync(file);
      return `${st.size}:${Math.round(st.mtimeMs)}`;
    } catch {
      return '';
    }
  }
}

/** The cache key of a scan: model hash, settings, and the data (source, stamp, shape, count, labels, preprocessing). */
export function scanCacheKey(modelHash: string, settings: ScanSettings, data: InputSet, extra: Record<string, unknown> = {}): string {
  let labels = '';
  if (data.labels) {
    const h = createHash('sha256');
    h.update(Buffer.from(data.labels.buffer, data.labels.byteOffset, Math.min(data.labels.byteLength, settings.inputs * 4)));
    labels = `${data.labelsSource ?? ''}:${h.digest('hex').slice(0, 16)}`;
  }
  const key = {
    modelHash,
    criterion: settings.criterion,
    recover: settings.recover,
    ratios: settings.ratios,
    inputs: settings.inputs,
    breakLoss: settings.breakLoss,
    roundTo: settings.roundTo,
    data: { source: path.resolve(data.source), stamp: dataStamp(data.source), count: data.count, shape: data.sampleShape, preprocess: data.preprocess ?? null, labels },
    ...extra,
  };
  return createHash('sha256').update(JSON.stringify(key)).digest('hex');
}

function readFile(file: string): CacheFile | undefined {
  try {
    const parsed = JSON.parse(fs.readFileSync(file, 'utf8')) as CacheFile;
    if (parsed?.version !== CACHE_VERSION || !Array.isArray(parsed.entries)) return undefined;
    return parsed;
  } catch {
    return undefined;
  }
}

/** The cached scan with this key, if any (partial ones included: the caller completes them). */
export function readScanCache(modelPath: string, key: string, opts: { dir?: string } = {}): SensitivityScan | undefined {
  const entry = readFile(scanCachePath(modelPath, opts.dir))?.entries.find((e) => e.key === key);
  if (!entry || !entry.scan || !Array.isArray(entry.scan.groups)) return undefined;
  return entry.scan;
}

/**
 * Stores `scan` under `key` (replacing an entry with the same key, dropping the oldest beyond 8).
 * Returns the file written, or undefined when it could not be written (an unwritable folder: the
 * scan still returns, uncached).
 */
export function writeScanCache(modelPath: string, key: string, scan: SensitivityScan & { stats?: unknown }, opts: { dir?: string; protect?: readonly string[] } = {}): string | undefined {
  const file = scanCachePath(modelPath, opts.dir);
  const old = readFile(file);
  const { stats: _stats, ...stored } = scan;
  void _stats;
  const entries = [{ key, scan: { ...stored, source: 'computed' as const } }, ...(old?.entries ?? []).filter((e) => e.key !== key)].slice(0, MAX_ENTRIES);
  try {
    return writeTextFileSafely(file, `${JSON.stringify({ version: CACHE_VERSION, entries } satisfies CacheFile)}\n`, { replace: true, protect: opts.protect ?? [modelPath], what: 'the sensitivity cache' });
  } catch {
    return undefined;
  }
}
