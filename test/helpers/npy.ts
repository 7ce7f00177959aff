// A tiny NumPy .npy / .npz writer for tests: the header dict padded to 64 bytes, then raw data.
import * as fs from 'node:fs';
import { zipSync } from 'fflate';

export function npyBytes(descr: string, shape: number[], body: Buffer, opts: { fortran?: boolean; version?: 1 | 2 | 3 } = {}): Buffer {
  const version = opts.version ?? 1;
  const pre = version === 1 ? 10 : 12;
  let header = `{'descr': '${descr}', 'fortran_order': ${opts.fortran ? 'True' : 'False'}, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`;
  header += ' '.repeat((64 - ((pre + header.length + 1) % 64)) % 64) + '\n';
  const head = Buffer.alloc(pre);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = version;
  if (version === 1) head.writeUInt16LE(header.length, 8);
  else head.writeUInt32LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, version === 3 ? 'utf8' : 'latin1'), body]);
}

export function writeNpy(file: string, descr: string, shape: number[], body: Buffer, opts: { fortran?: boolean; version?: 1 | 2 | 3 } = {}): void {
  fs.writeFileSync(file, npyBytes(descr, shape, body, opts));
}

/** A .npz: each array a member `name.npy`, stored (level 0, np.savez) or deflated (np.savez_compressed). */
export function writeNpz(file: string, arrays: Record<string, Buffer>, level: 0 | 6 = 0): void {
  const members = Object.fromEntries(Object.entries(arrays).map(([k, v]) => [`${k}.npy`, [new Uint8Array(v), { level }] as [Uint8Array, { level: 0 | 6 }]]));
  fs.writeFileSync(file, zipSync(members));
}

export function f32Bytes(values: ArrayLike<number>): Buffer {
  const b = Buffer.alloc(values.length * 4);
  for (let i = 0; i < values.length; i++) b.writeFloatLE(values[i], i * 4);
  return b;
}
