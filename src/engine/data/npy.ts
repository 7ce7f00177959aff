// NumPy's array formats, read natively: `.npy` (a magic string, a format version 1-3, a short header
// dict with dtype, order and shape, then the raw C-order data) and `.npz` (a zip archive of `.npy`
// members, stored or deflated). Data is read as byte streams, so a 1 GB array is never held whole.
import * as fs from 'node:fs';
import { PrunerError } from '../errors.ts';

/** An element type a .npy file can hold and this reader converts. */
export interface NpyDtype {
  /** NumPy's descr, e.g. `<f4`. */
  readonly descr: string;
  readonly kind: 'f' | 'i' | 'u' | 'b';
  readonly size: 1 | 2 | 4 | 8;
  readonly littleEndian: boolean;
}

export interface NpyHeader {
  readonly dtype: NpyDtype;
  /** The array's shape (C order). */
  readonly shape: number[];
  /** Bytes from the start of the .npy data (file or zip member) to the first element. */
  readonly dataOffset: number;
}

const SUPPORTED = 'float16/32/64, int8/16/32/64, uint8/16/32/64 or bool';

/** Parses a NumPy descr such as `<f4`, `>i8`, `|u1`, `=f8`; undefined for types this reader cannot convert. */
export function parseDtype(descr: string): NpyDtype | undefined {
  const m = /^([<>|=]?)([fiub])(\d)$/.exec(descr);
  if (!m) return undefined;
  const size = Number(m[3]);
  const kind = m[2] as NpyDtype['kind'];
  const ok = kind === 'f' ? size === 2 || size === 4 || size === 8 : kind === 'b' ? size === 1 : size === 1 || size === 2 || size === 4 || size === 8;
  if (!ok) return undefined;
  // '=' is the writer's native order: little-endian on every platform NumPy and ONNX Runtime ship for.
  return { descr, kind, size: size as NpyDtype['size'], littleEndian: m[1] !== '>' };
}

/** How many bytes of a .npy's start hold the header: 0 when `prefix` (at least 12 bytes, or the whole file) is not a .npy. */
function headerEnd(prefix: Buffer, bad: (why: string) => PrunerError): number {
  if (prefix.length < 10 || prefix[0] !== 0x93 || prefix.toString('latin1', 1, 6) !== 'NUMPY') throw bad('no NUMPY magic');
  const major = prefix[6];
  if (major === 1) return 10 + prefix.readUInt16LE(8);
  if (major === 2 || major === 3) {
    if (prefix.length < 12) throw bad('truncated header');
    return 12 + prefix.readUInt32LE(8);
  }
  throw bad(`format version ${major}`);
}

/** Parses a .npy header from the file's first bytes (`buf` must hold the whole header). */
export function parseNpyHeader(buf: Buffer, file: string): NpyHeader {
  const bad = (why: string) => new PrunerError(`${file}: not a usable .npy file (${why})`, { subject: file });
  const end = headerEnd(buf, bad);
  if (end > buf.length) throw bad('truncated header');
  const start = buf[6] === 1 ? 10 : 12;
  const header = buf.toString(buf[6] === 3 ? 'utf8' : 'latin1', start, end);
  const descr = /'descr'\s*:\s*'([^']*)'/.exec(header)?.[1];
  const fortran = /'fortran_order'\s*:\s*(True|False)/.exec(header)?.[1];
  const shapeText = /'shape'\s*:\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr === undefined || fortran === undefined || shapeText === undefined) throw bad('header is not a NumPy dict');
  if (fortran === 'True') throw bad('fortran_order arrays are not supported; save with np.ascontiguousarray');
  const shape = shapeText.split(',').map((s) => s.trim()).filter((s) => s !== '').map(Number);
  if (shape.some((d) => !Number.isInteger(d) || d < 0)) throw bad(`shape (${shapeText})`);
  const dtype = parseDtype(descr);
  if (!dtype) throw bad(`dtype ${descr}; use ${SUPPORTED}`);
  return { dtype, shape, dataOffset: end };
}

/** IEEE 754 half precision to a number. */
export function halfToNumber(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exp = (h >> 10) & 0x1f;
  const frac = h & 0x3ff;
  if (exp === 0) return sign * frac * 2 ** -24;
  if (exp === 0x1f) return frac ? NaN : sign * Infinity;
  return sign * (1 + frac / 1024) * 2 ** (exp - 15);
}

/** The element reader of a dtype: element `i` of `view` as a number (int64 beyond 2^53 rounds). */
export function elementReader(dtype: NpyDtype): (view: DataView, i: number) => number {
  const le = dtype.littleEndian;
  switch (`${dtype.kind}${dtype.size}`) {
    case 'f2': return (v, i) => halfToNumber(v.getUint16(i * 2, le));
    case 'f4': return (v, i) => v.getFloat32(i * 4, le);
    case 'f8': return (v, i) => v.getFloat64(i * 8, le);
    case 'i1': return (v, i) => v.getInt8(i);
    case 'i2': return (v, i) => v.getInt16(i * 2, le);
    case 'i4': return (v, i) => v.getInt32(i * 4, le);
    case 'i8': return (v, i) => Number(v.getBigInt64(i * 8, le));
    case 'u2': return (v, i) => v.getUint16(i * 2, le);
    case 'u4': return (v, i) => v.getUint32(i * 4, le);
    case 'u8': return (v, i) => Number(v.getBigUint64(i * 8, le));
    default: return (v, i) => v.getUint8(i); // u1, b1
  }
}

/** Converts `count` elements of `bytes` (of `dtype`) into `out` from `outOffset`. */
export function decodeInto(bytes: Uint8Array, dtype: NpyDtype, count: number, out: Float32Array | Float64Array | Int32Array, outOffset = 0): void {
  const view = new DataView(bytes.buffer, bytes.byteOffset, count * dtype.size);
  if (dtype.kind === 'f' && dtype.size === 4 && dtype.littleEndian && out instanceof Float32Array && bytes.byteOffset % 4 === 0) {
    out.set(new Float32Array(bytes.buffer, bytes.byteOffset, count), outOffset);
    return;
  }
  const get = elementReader(dtype);
  for (let i = 0; i < count; i++) out[outOffset + i] = get(view, i);
}

/** Sequential reads of a byte stream: exactly `n` bytes, or fewer only at its end. */
export interface ByteReader {
  read(n: number): Promise<Buffer>;
  close(): Promise<void>;
}

function cannotRead(file: string, e: unknown): PrunerError {
  return new PrunerError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { subject: file, cause: e });
}

/** Reads bytes [start, end) of a file in order, one positioned read per call. */
export async function fileRangeReader(file: string, start: number, end: number): Promise<ByteReader> {
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r');
  } catch (e) {
    throw cannotRead(file, e);
  }
  let pos = start;
  return {
    async read(n: number): Promise<Buffer> {
      const want = Math.max(0, Math.min(n, end - pos));
      const buf = Buffer.alloc(want);
      let got = 0;
      while (got < want) {
        const { bytesRead } = await handle.read(buf, got, want - got, pos + got);
        if (bytesRead === 0) break;
        got += bytesRead;
      }
      pos += got;
      return got === want ? buf : buf.subarray(0, got);
    },
    close: () => handle.close(),
  };
}

/** Reads the deflated bytes [start, start + compressedSize) of a file, inflated, in order. */
async function inflatingReader(file: string, start: number, compressedSize: number): Promise<ByteReader> {
  const raw = await fileRangeReader(file, start, start + compressedSize);
  // loaded for a compressed .npz member only (see decoders.ts)
  const { Inflate } = await import('./decoders.ts');
  const pending: Uint8Array[] = [];
  let pendingBytes = 0;
  let ended = false;
  const inflate = new Inflate((chunk, final) => {
    if (chunk.length) {
      pending.push(chunk);
      pendingBytes += chunk.length;
    }
    if (final) ended = true;
  });
  let inputDone = false;
  return {
    async read(n: number): Promise<Buffer> {
      while (pendingBytes < n && !ended && !inputDone) {
        const chunk = await raw.read(1 << 20);
        inputDone = chunk.length === 0;
        try {
          inflate.push(chunk, inputDone);
        } catch (e) {
          throw new PrunerError(`${file}: corrupt compressed data (${(e as Error).message})`, { subject: file, cause: e });
        }
      }
      const all = Buffer.concat(pending);
      const out = all.subarray(0, Math.min(n, all.length));
      pending.length = 0;
      if (all.length > out.length) pending.push(all.subarray(out.length));
      pendingBytes = all.length - out.length;
      return out;
    },
    close: () => raw.close(),
  };
}

async function readAll(r: ByteReader, n: number): Promise<Buffer> {
  try {
    return await r.read(n);
  } finally {
    await r.close();
  }
}

/** One array of a .npy file or .npz member: its header and a way to stream its data bytes. */
export interface NpyArray {
  /** `file.npy`, or `file.npz:name` for a member. */
  readonly source: string;
  readonly header: NpyHeader;
  /** A fresh reader over the array's data bytes (from the first element). */
  open(): Promise<ByteReader>;
}

/** Reads a header from a reader at the start of a .npy stream; returns it with the reader positioned at the data. */
async function headerFrom(r: ByteReader, source: string): Promise<NpyHeader> {
  const prefix = await r.read(12);
  const end = headerEnd(prefix, (why) => new PrunerError(`${source}: not a usable .npy file (${why})`, { subject: source }));
  const rest = await r.read(Math.max(0, end - prefix.length));
  return parseNpyHeader(Buffer.concat([prefix, rest]), source);
}

function checkSize(source: string, header: NpyHeader, available: number): void {
  const need = header.shape.reduce((a, b) => a * b, 1) * header.dtype.size;
  if (available < need) {
    throw new PrunerError(`${source}: not a usable .npy file (shape (${header.shape.join(', ')}) needs ${need} data bytes, found ${available})`, { subject: source });
  }
}

/** A .npy file: the header is read now, the data when streamed. */
export async function openNpy(file: string): Promise<NpyArray> {
  let size: number;
  try {
    size = (await fs.promises.stat(file)).size;
  } catch (e) {
    throw cannotRead(file, e);
  }
  const r = await fileRangeReader(file, 0, size);
  let header: NpyHeader;
  try {
    header = await headerFrom(r, file);
  } finally {
    await r.close();
  }
  checkSize(file, header, size - header.dataOffset);
  return { source: file, header, open: () => fileRangeReader(file, header.dataOffset, size) };
}

interface ZipEntry {
  name: string;
  method: number;
  compressedSize: number;
  size: number;
  localOffset: number;
}

/** The central directory of a zip file (zip64 sizes and offsets included). */
async function zipEntries(file: string): Promise<ZipEntry[]> {
  const bad = (why: string) => new PrunerError(`${file}: not a usable .npz file (${why})`, { subject: file });
  let handle: fs.promises.FileHandle;
  try {
    handle = await fs.promises.open(file, 'r');
  } catch (e) {
    throw cannotRead(file, e);
  }
  try {
    const size = (await handle.stat()).size;
    const tailLen = Math.min(size, 22 + 0xffff + 20);
    const tail = Buffer.alloc(tailLen);
    await handle.read(tail, 0, tailLen, size - tailLen);
    let eocd = -1;
    for (let i = tailLen - 22; i >= 0; i--) if (tail.readUInt32LE(i) === 0x06054b50) { eocd = i; break; }
    if (eocd < 0) throw bad('no zip directory');
    let count = tail.readUInt16LE(eocd + 10);
    let dirSize = tail.readUInt32LE(eocd + 12);
    let dirOffset = tail.readUInt32LE(eocd + 16);
    if (eocd >= 20 && tail.readUInt32LE(eocd - 20) === 0x07064b50) {
      const rec = Buffer.alloc(56);
      await handle.read(rec, 0, 56, Number(tail.readBigUInt64LE(eocd - 20 + 8)));
      if (rec.readUInt32LE(0) !== 0x06064b50) throw bad('broken zip64 directory');
      count = Number(rec.readBigUInt64LE(32));
      dirSize = Number(rec.readBigUInt64LE(40));
      dirOffset = Number(rec.readBigUInt64LE(48));
    }
    if (dirOffset + dirSize > size) throw bad('truncated zip directory');
    const dir = Buffer.alloc(dirSize);
    await handle.read(dir, 0, dirSize, dirOffset);
    const entries: ZipEntry[] = [];
    let p = 0;
    for (let k = 0; k < count; k++) {
      if (p + 46 > dir.length || dir.readUInt32LE(p) !== 0x02014b50) throw bad('broken zip directory');
      const nameLen = dir.readUInt16LE(p + 28);
      const extraLen = dir.readUInt16LE(p + 30);
      const commentLen = dir.readUInt16LE(p + 32);
      const e: ZipEntry = {
        name: dir.toString('utf8', p + 46, p + 46 + nameLen),
        method: dir.readUInt16LE(p + 10),
        compressedSize: dir.readUInt32LE(p + 20),
        size: dir.readUInt32LE(p + 24),
        localOffset: dir.readUInt32LE(p + 42),
      };
      // zip64 extra field: the 0xffffffff fields, in order size, compressed size, offset.
      for (let x = p + 46 + nameLen; x + 4 <= p + 46 + nameLen + extraLen;) {
        const id = dir.readUInt16LE(x);
        const len = dir.readUInt16LE(x + 2);
        if (id === 1) {
          let q = x + 4;
          const next = () => { const v = Number(dir.readBigUInt64LE(q)); q += 8; return v; };
          if (e.size === 0xffffffff) e.size = next();
          if (e.compressedSize === 0xffffffff) e.compressedSize = next();
          if (e.localOffset === 0xffffffff) e.localOffset = next();
        }
        x += 4 + len;
      }
      entries.push(e);
      p += 46 + nameLen + extraLen + commentLen;
    }
    // Where each member's data starts: after its local header, whose name and extra lengths may differ.
    for (const e of entries) {
      const local = Buffer.alloc(30);
      await handle.read(local, 0, 30, e.localOffset);
      if (local.readUInt32LE(0) !== 0x04034b50) throw bad(`broken entry ${e.name}`);
      e.localOffset += 30 + local.readUInt16LE(26) + local.readUInt16LE(28);
    }
    return entries;
  } finally {
    await handle.close();
  }
}

/** Names of the arrays in a .npz file (member names without `.npy`). */
export async function npzArrayNames(file: string): Promise<string[]> {
  return (await zipEntries(file)).filter((e) => e.name.endsWith('.npy')).map((e) => e.name.slice(0, -4));
}

/** One array of a .npz file, by name, or the only one when `name` is not given. */
export async function openNpz(file: string, name?: string): Promise<NpyArray> {
  const entries = (await zipEntries(file)).filter((e) => e.name.endsWith('.npy'));
  const names = entries.map((e) => e.name.slice(0, -4));
  if (entries.length === 0) throw new PrunerError(`${file}: the .npz file holds no arrays`, { subject: file });
  let entry: ZipEntry;
  if (name !== undefined) {
    const found = entries.find((e) => e.name === `${name}.npy`);
    if (!found) throw new PrunerError(`${file}: no array "${name}" (it has ${names.join(', ')})`, { subject: file });
    entry = found;
  } else if (entries.length === 1) entry = entries[0];
  else throw new PrunerError(`${file}: holds ${entries.length} arrays (${names.join(', ')}); choose one as ${file}:NAME`, { subject: file });
  const source = `${file}:${entry.name.slice(0, -4)}`;
  if (entry.method !== 0 && entry.method !== 8) throw new PrunerError(`${source}: zip compression method ${entry.method} is not supported (stored or deflated only)`, { subject: file });
  const member = (): Promise<ByteReader> =>
    entry.method === 0 ? fileRangeReader(file, entry.localOffset, entry.localOffset + entry.size) : inflatingReader(file, entry.localOffset, entry.compressedSize);
  const r = await member();
  let header: NpyHeader;
  try {
    header = await headerFrom(r, source);
  } finally {
    await r.close();
  }
  checkSize(source, header, entry.size - header.dataOffset);
  return {
    source,
    header,
    async open(): Promise<ByteReader> {
      const reader = await member();
      await reader.read(header.dataOffset);
      return reader;
    },
  };
}

/** `file.npz:name` → the file and the array name (the suffix only when the file part ends in .npz). */
export function splitNpzArg(arg: string): { file: string; array?: string } {
  const m = /^(.*\.npz):([^:\\/]+)$/i.exec(arg);
  return m ? { file: m[1], array: m[2] } : { file: arg };
}

/** Opens a .npy file, or an array of a .npz file (`file.npz` or `file.npz:name`). */
export async function openArray(arg: string): Promise<NpyArray> {
  const { file, array } = splitNpzArg(arg);
  return file.toLowerCase().endsWith('.npz') ? openNpz(file, array) : openNpy(file);
}

/** Every element of an array as float64 (small arrays: labels, tests). */
export async function readArrayValues(a: NpyArray): Promise<Float64Array> {
  const n = a.header.shape.reduce((x, y) => x * y, 1);
  const bytes = await readAll(await a.open(), n * a.header.dtype.size);
  const out = new Float64Array(n);
  decodeInto(bytes, a.header.dtype, n, out);
  return out;
}
