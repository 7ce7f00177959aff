// Image folders for tests: normalised Fashion-MNIST arrays written back as 8-bit PNG files in the
// ImageFolder layout (one sub-folder per class, named by the class index so that the sorted
// folder names give the class indices back).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { PNG } from 'pngjs';

/** Fashion-MNIST's normalisation (the `fmnist` preset): x = (v / 255 − mean) / std. */
export const FMNIST_MEAN = 0.286;
export const FMNIST_STD = 0.353;

/**
 * Writes the first `count` 28×28 images of `x` (normalised float32, [N, 1, 28, 28]) with labels `y`
 * as `dir/<label>/<index>.png`; returns the labels written, in the folder's (sorted) order.
 */
export function writeFmnistImageFolder(dir: string, x: Float32Array, y: ArrayLike<number | bigint>, count: number): number[] {
  const side = 28;
  const per = side * side;
  const written: { label: number; file: string }[] = [];
  for (let i = 0; i < count; i++) {
    const label = Number(y[i]);
    const png = new PNG({ width: side, height: side });
    for (let p = 0; p < per; p++) {
      const v = Math.max(0, Math.min(255, Math.round((x[i * per + p]! * FMNIST_STD + FMNIST_MEAN) * 255)));
      png.data[p * 4] = v;
      png.data[p * 4 + 1] = v;
      png.data[p * 4 + 2] = v;
      png.data[p * 4 + 3] = 255;
    }
    const sub = path.join(dir, String(label));
    fs.mkdirSync(sub, { recursive: true });
    const file = path.join(sub, `${String(i).padStart(5, '0')}.png`);
    fs.writeFileSync(file, PNG.sync.write(png));
    written.push({ label, file });
  }
  return written.sort((a, b) => a.label - b.label || a.file.localeCompare(b.file)).map((w) => w.label);
}

/** Reads a raw little-endian float32 file, or a .npy of float32 / int64 / uint8 values (header skipped). */
export function readArray(file: string): Float32Array | BigInt64Array | Uint8Array {
  const b = fs.readFileSync(file);
  if (!file.endsWith('.npy')) return file.endsWith('.u8') ? new Uint8Array(b) : new Float32Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.length));
  const headerLen = b.readUInt16LE(8);
  const header = b.subarray(10, 10 + headerLen).toString('latin1');
  const body = b.buffer.slice(b.byteOffset + 10 + headerLen, b.byteOffset + b.length);
  if (header.includes("'<f4'")) return new Float32Array(body);
  if (header.includes("'<i8'")) return new BigInt64Array(body);
  if (header.includes("'|u1'")) return new Uint8Array(body);
  throw new Error(`${file}: unsupported dtype in ${header}`);
}
