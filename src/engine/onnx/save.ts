// Saving a model without encoding it whole in memory.
//
// A reflection-based encoder walks the protobufjs types and produces the file as a list of
// parts: small structural chunks (encoded with protobufjs' own Writer, field by field, in the
// same order and with the same presence rules as protobufjs' generated encoder, so the bytes are
// identical) and references to large tensor buffers, to byte ranges of external-data files, or to
// lazy slices of a source tensor (a pruned weight, streamed from its source in 16 MiB chunks).
// The parts are then streamed to a temporary file with writev (batches of at most 256 MB),
// synced, and published under the final name (files.ts: never over a file that appeared meanwhile).
import * as fs from 'node:fs';
import * as path from 'node:path';
import protobuf from 'protobufjs/light.js';
import { CancelledError, PrunerError, throwIfAborted } from '../errors.ts';
import { NameTakenError, dropTemp, publish, removeStaleTemps, sameFile, tempPathFor, trackTemp, unpublish } from '../files.ts';
import { checkStamp, ExternalResolver, type FileRange, inFileRange, isExternal, readRangeInto } from './external.ts';
import { PROTOBUF_LIMIT, type OnnxModel, resolverFor } from './model.ts';
import { lazySliceOf, sliceInto, sliceLength, streamSlice, type SliceSpec } from './slice.ts';
import { DataType, ModelProtoType, TensorProtoType, type ModelProto, type StringStringEntry, type TensorProto } from './proto.ts';

export interface SaveOptions {
  /**
   * true: weights of 1 KiB and more go to an external-data file beside the model; false: all inline.
   * 'auto' (default): external when the model would pass protobuf's 2 GiB limit, or when the source
   * model already kept its weights in external data.
   */
  externalData?: boolean | 'auto';
  /** File name (no folder) of the external-data file; default `<output file name>.data`. */
  externalDataName?: string;
  signal?: AbortSignal;
  /** Overwriting the model's own input file (or a file it reads) is refused (PrunerError); there is no option to allow it. */
  overwriteInput?: never;
  /** Replace existing files at the final names (`--force`); without it a name that exists is never replaced. */
  replace?: boolean;
  /** More files never to replace, even with `replace` (e.g. the original model a pruned one came from, and its data). */
  protect?: readonly string[];
  /**
   * When the name is taken at the moment of publishing (a file appeared meanwhile): the name to try
   * next, for attempt 2, 3, ... (automatically chosen names); undefined, or no callback: fail.
   */
  nextName?: (attempt: number) => string | undefined;
}

export interface SaveResult {
  /** Absolute path of the written .onnx file. */
  path: string;
  /** Bytes of the .onnx file. */
  bytes: number;
  /** Absolute path of the written external-data file, when one was written. */
  externalDataPath?: string;
  externalDataBytes?: number;
}

/** A model to save: a loaded model, or a proto whose external locations are relative to `dir`. */
export type SaveSource = OnnxModel | { proto: ModelProto; dir: string; path?: string };

/** Tensors with at least this many bytes go to external data (the ONNX tools' default threshold). */
const EXTERNAL_THRESHOLD = 1024;
/** bytes fields at least this long are written from their own buffer instead of being copied. */
const BIG_BYTES = 64 * 1024;
/** writeParts' windows: an eighth of the file, from 1 to 16 MiB. */
const WINDOW_MIN = 2 ** 20;
const WINDOW_MAX = 16 * 2 ** 20;
/** Buffer size for copying byte ranges of external-data files. */
const COPY_CHUNK = 16 * 2 ** 20;

/** A lazy slice (onnx/slice.ts) written by streaming from its source. */
interface SlicePart {
  sliceSpec: SliceSpec;
  length: number;
}
type Part = Uint8Array | FileRange | SlicePart;
interface Encoded {
  parts: Part[];
  len: number;
}

const partLength = (p: Part) => p.length;
const isRange = (p: Part | unknown): p is FileRange => typeof p === 'object' && p !== null && 'file' in p && 'offset' in p;
const isSlice = (p: Part | unknown): p is SlicePart => typeof p === 'object' && p !== null && 'sliceSpec' in p;
/** A part that is not bytes in memory (written by copying or streaming). */
const isDeferred = (p: Part | unknown): p is FileRange | SlicePart => isRange(p) || isSlice(p);
const slicePart = (sliceSpec: SliceSpec): SlicePart => ({ sliceSpec, length: sliceLength(sliceSpec) });

/** Replacement field values for one tensor while encoding (the model itself is never changed). */
type TensorPatch = Record<string, unknown>;

// ---- reflection encoder ----

const types = (protobuf as unknown as { types: { basic: Record<string, number | undefined>; packed: Record<string, number | undefined>; long: Record<string, number | undefined> } }).types;

interface FieldPlan {
  name: string;
  id: number;
  repeated: boolean;
  packed: boolean;
  required: boolean;
  hasPresence: boolean;
  /** protobufjs scalar type name ('int32' for enums), or undefined for messages. */
  scalar?: string;
  wireType?: number;
  isEnum: boolean;
  message?: protobuf.Type;
  typeDefault: unknown;
}

const planCache = new Map<protobuf.Type, FieldPlan[]>();

function fieldPlans(type: protobuf.Type): FieldPlan[] {
  let plans = planCache.get(type);
  if (plans) return plans;
  const fields = type.fieldsArray.slice().sort((a, b) => a.id - b.id);
  plans = fields.map((f0) => {
    const f = f0.resolve();
    if (f.map || (f as unknown as { delimited?: boolean }).delimited) throw new Error(`save: unsupported field ${type.name}.${f.name}`);
    const isEnum = f.resolvedType instanceof protobuf.Enum;
    const t = isEnum ? 'int32' : f.type;
    const wireType = types.basic[t];
    return {
      name: f.name,
      id: f.id,
      repeated: f.repeated,
      packed: (f as unknown as { packed: boolean }).packed && types.packed[t] !== undefined,
      required: f.required,
      hasPresence: (f as unknown as { hasPresence: boolean }).hasPresence,
      scalar: wireType === undefined ? undefined : t,
      wireType,
      isEnum,
      message: wireType === undefined ? (f.resolvedType as protobuf.Type) : undefined,
      typeDefault: f.typeDefault,
    };
  });
  planCache.set(type, plans);
  return plans;
}

const holdsBytesCache = new Map<protobuf.Type, boolean>();
/** Whether a message type can (transitively) contain a bytes field: only those need the streaming path. */
function canHoldBytes(type: protobuf.Type, seen = new Set<protobuf.Type>()): boolean {
  const hit = holdsBytesCache.get(type);
  if (hit !== undefined) return hit;
  if (seen.has(type)) return false;
  seen.add(type);
  let r = false;
  for (const p of fieldPlans(type)) {
    if (p.scalar === 'bytes' || (p.message && canHoldBytes(p.message, seen))) r = true;
  }
  holdsBytesCache.set(type, r);
  return r;
}

const has = (m: object, k: string) => Object.prototype.hasOwnProperty.call(m, k);

/** The presence test of protobufjs' generated encoder for a non-repeated field. */
function present(m: Record<string, any>, p: FieldPlan): boolean {
  const v = m[p.name];
  if (p.required) return true;
  if (v == null || !has(m, p.name)) return false;
  if (p.hasPresence || p.message) return true;
  if (p.isEnum) return v !== p.typeDefault;
  switch (p.scalar) {
    case 'bool': return v !== false;
    case 'string': return v !== '';
    case 'bytes': return v.length > 0;
    case 'double': case 'float': return !Object.is(v, 0);
  }
  if (types.long[p.scalar!] !== undefined) return typeof v === 'object' ? Boolean(v.low || v.high) : v !== 0;
  return v !== 0;
}

class StreamEncoder {
  constructor(private readonly patch: (t: TensorProto) => TensorPatch | undefined) {}

  encode(m0: Record<string, any>, type: protobuf.Type): Encoded {
    let m = m0;
    if (type === TensorProtoType) {
      const p = this.patch(m0 as unknown as TensorProto);
      if (p) m = patched(m0, p);
    }
    const parts: Part[] = [];
    let len = 0;
    let w = protobuf.Writer.create();
    const flush = () => {
      if (w.len) {
        const b = w.finish();
        parts.push(b);
        len += b.length;
        w = protobuf.Writer.create();
      }
    };
    const big = (p: Part) => {
      flush();
      parts.push(p);
      len += partLength(p);
    };
    const writeBytes = (tag: number, v: Part) => {
      w.uint32(tag);
      if (isDeferred(v) || v.length >= BIG_BYTES) {
        w.uint32(v.length);
        big(v);
      } else w.bytes(v);
    };
    const writeMessage = (tag: number, v: Record<string, any>, sub: protobuf.Type) => {
      w.uint32(tag);
      if (!canHoldBytes(sub)) {
        w.bytes(sub.encode(v).finish());
        return;
      }
      const e = this.encode(v, sub);
      w.uint32(e.len);
      for (const part of e.parts) {
        if (!isDeferred(part) && part.length < BIG_BYTES) w.raw(part);
        else big(part);
      }
    };
    for (const p of fieldPlans(type)) {
      const v = m[p.name];
      if (p.repeated) {
        if (v == null || !v.length) continue;
        if (p.packed) {
          (w as any)[`${p.scalar}s`].call(w.uint32(((p.id << 3) | 2) >>> 0), v);
        } else if (p.message) {
          for (let i = 0; i < v.length; i++) writeMessage(((p.id << 3) | 2) >>> 0, v[i], p.message);
        } else if (p.scalar === 'bytes') {
          for (let i = 0; i < v.length; i++) writeBytes(((p.id << 3) | 2) >>> 0, v[i]);
        } else {
          const tag = ((p.id << 3) | p.wireType!) >>> 0;
          for (let i = 0; i < v.length; i++) (w as any)[p.scalar!].call(w.uint32(tag), v[i]);
        }
        continue;
      }
      if (!present(m, p)) continue;
      if (p.message) writeMessage(((p.id << 3) | 2) >>> 0, v, p.message);
      else if (p.scalar === 'bytes') writeBytes(((p.id << 3) | p.wireType!) >>> 0, v);
      else (w as any)[p.scalar!].call(w.uint32(((p.id << 3) | p.wireType!) >>> 0), v);
    }
    const unknowns = has(m, '$unknowns') ? (m.$unknowns as Uint8Array[] | null) : null;
    if (unknowns != null) for (const u of unknowns) w.raw(u);
    flush();
    return { parts, len };
  }
}

/** A shallow copy of a decoded message with some fields replaced (undefined removes a field). */
function patched(m: Record<string, any>, p: TensorPatch): Record<string, any> {
  const out: Record<string, any> = Object.assign({}, m);
  if (has(m, '$unknowns')) out.$unknowns = m.$unknowns;
  for (const [k, v] of Object.entries(p)) {
    if (v === undefined) delete out[k];
    else out[k] = v;
  }
  return out;
}

// ---- planning ----

interface Plan {
  onnx: Encoded;
  data?: Encoded;
  dataName?: string;
}

function planSave(src: SaveSource, resolver: ExternalResolver, external: boolean, dataName: string): Plan {
  if (!external) {
    // Inline: only external source tensors change (their bytes become raw_data, copied by range).
    const enc = new StreamEncoder((t) => {
      const lazy = lazySliceOf(t);
      if (lazy) return { raw_data: slicePart(lazy) };
      const inFile = inFileRange(t);
      if (inFile) return { raw_data: inFile };
      return isExternal(t) ? { raw_data: resolver.resolve(t), external_data: [], data_location: undefined } : undefined;
    });
    return { onnx: enc.encode(src.proto as unknown as Record<string, any>, ModelProtoType) };
  }
  const data: Part[] = [];
  let offset = 0;
  const zeros = new Uint8Array(4096);
  const enc = new StreamEncoder((t) => {
    let bytes: Part | undefined;
    const lazy = lazySliceOf(t);
    if (lazy) bytes = slicePart(lazy);
    else if (isExternal(t)) bytes = resolver.resolve(t);
    else bytes = inFileRange(t) ?? (t.raw_data && t.raw_data.length >= EXTERNAL_THRESHOLD ? t.raw_data : undefined);
    if (!bytes) return undefined;
    // Align like the ONNX tools do: big tensors to a page, the rest to 64 bytes.
    const align = bytes.length >= 2 ** 20 ? 4096 : 64;
    const pad = (align - (offset % align)) % align;
    if (pad) {
      data.push(zeros.subarray(0, pad));
      offset += pad;
    }
    const entries: StringStringEntry[] = [
      { key: 'location', value: dataName },
      { key: 'offset', value: String(offset) },
      { key: 'length', value: String(bytes.length) },
    ];
    data.push(bytes);
    offset += bytes.length;
    return { raw_data: undefined, external_data: entries, data_location: 1 };
  });
  const onnx = enc.encode(src.proto as unknown as Record<string, any>, ModelProtoType);
  return { onnx, data: { parts: data, len: offset }, dataName };
}

/**
 * The model's bytes in memory with every tensor inline (external data read, lazy slices cut): the
 * bytes saveModel writes inline, for an ONNX Runtime session built in memory. Each large buffer is
 * copied once, straight into the result (protobufjs' encoder copies it twice). `proto` (default
 * the model's) may be a part of the model whose external tensors are the model's.
 */
export function encodeInline(model: OnnxModel, proto: ModelProto = model.proto): Uint8Array {
  const { parts, len } = planSave({ proto, dir: model.dir }, resolverFor(model), false, '').onnx;
  const out = Buffer.allocUnsafe(len);
  let pos = 0;
  for (const p of parts) {
    if (isSlice(p)) sliceInto(p.sliceSpec, out, pos);
    else if (isRange(p)) readRangeInto(p, out.subarray(pos, pos + p.length));
    else out.set(p, pos);
    pos += p.length;
  }
  return out;
}

/** Applies the externalData option: 'auto' goes external past 2 GiB or when the source had external data. */
function choosePlan(model: SaveSource, resolver: ExternalResolver, mode: boolean | 'auto', dataName: string): Plan {
  const plan = planSave(model, resolver, mode === true, dataName);
  if (mode === 'auto' && (plan.onnx.len > PROTOBUF_LIMIT || anyExternal(model.proto))) return planSave(model, resolver, true, dataName);
  return plan;
}

/**
 * What saveModel would write, without writing: whether weights go to external data and the
 * byte counts of the .onnx and of the external-data file. Nothing is read or copied.
 */
export function estimateSave(model: SaveSource, opts: Pick<SaveOptions, 'externalData'> = {}): { external: boolean; onnxBytes: number; externalDataBytes: number } {
  const resolver = 'fileSize' in model ? resolverFor(model) : new ExternalResolver(path.join(model.dir, '<model>'), model.dir);
  const plan = choosePlan(model, resolver, opts.externalData ?? 'auto', 'model.onnx.data');
  return { external: Boolean(plan.data), onnxBytes: plan.onnx.len, externalDataBytes: plan.data?.len ?? 0 };
}

// ---- writing ----

/**
 * Writes the parts in order. Small pieces (the encoder's bytes, slices that fit) are gathered into a
 * window of a few MiB, written in one call while the next window fills: a few large writes instead
 * of one per tensor, and the slicing of the next tensors overlaps the writing of the previous ones.
 * Pieces larger than a window go straight to the file (slices streamed in chunks).
 */
async function writeParts(fh: fs.promises.FileHandle, parts: Part[], signal?: AbortSignal): Promise<number> {
  const length = parts.reduce((n, p) => n + p.length, 0);
  const size = Math.min(WINDOW_MAX, Math.max(WINDOW_MIN, Math.ceil(length / 8)));
  let window: Buffer = Buffer.allocUnsafe(Math.min(size, Math.max(1, length)));
  let spare: Buffer | undefined;
  let fill = 0;
  let total = 0;
  // The window being written (at most one), and the buffer it will free.
  let writing: Promise<void> = Promise.resolve();
  let writingBuf: Buffer | undefined;
  const settle = async () => {
    await writing;
    if (writingBuf) spare = writingBuf;
    writingBuf = undefined;
  };
  /** Starts writing the filled window and continues in the other one (once its own write ended). */
  const ship = async () => {
    if (!fill) return;
    await settle();
    const full = window;
    const n = fill;
    writing = writevAll(fh, [full.subarray(0, n)]);
    writingBuf = full;
    window = spare ?? Buffer.allocUnsafe(full.length);
    spare = undefined;
    fill = 0;
    total += n;
    throwIfAborted(signal);
  };
  /** Everything before the next direct write: the window written, the write finished. */
  const drain = async () => {
    await ship();
    await settle();
  };
  try {
    for (const part of parts) {
      throwIfAborted(signal);
      if (isRange(part)) {
        await drain();
        total += await copyRange(fh, part, signal);
        continue;
      }
      if (part.length > window.length) {
        await drain();
        if (isSlice(part))
          total += await streamSlice(part.sliceSpec, async (chunk) => {
            await writevAll(fh, [chunk]);
            throwIfAborted(signal);
          });
        else {
          await writevAll(fh, [part]);
          total += part.length;
        }
        continue;
      }
      if (fill + part.length > window.length) await ship();
      if (isSlice(part)) sliceInto(part.sliceSpec, window, fill);
      else window.set(part, fill);
      fill += part.length;
    }
    await drain();
    return total;
  } finally {
    // Never leave a write in flight behind: the caller closes (and may remove) the file next.
    await writing.catch(() => {});
  }
}

/** writev that finishes partial writes (the kernel and libuv may write less than asked). */
async function writevAll(fh: fs.promises.FileHandle, bufs: Uint8Array[]): Promise<void> {
  let rest = bufs;
  while (rest.length) {
    const want = rest.reduce((s, b) => s + b.length, 0);
    const { bytesWritten } = await fh.writev(rest);
    if (bytesWritten >= want) return;
    let skip = bytesWritten;
    let i = 0;
    while (i < rest.length && skip >= rest[i].length) skip -= rest[i++].length;
    rest = rest.slice(i);
    if (skip) rest[0] = rest[0].subarray(skip);
  }
}

async function copyRange(out: fs.promises.FileHandle, r: FileRange, signal?: AbortSignal): Promise<number> {
  const src = await fs.promises.open(r.file, 'r');
  try {
    checkStamp(r.file, await src.stat());
    const buf = Buffer.allocUnsafe(Math.min(COPY_CHUNK, Math.max(1, r.length)));
    let done = 0;
    while (done < r.length) {
      const want = Math.min(buf.length, r.length - done);
      const { bytesRead } = await src.read(buf, 0, want, r.offset + done);
      if (bytesRead === 0) throw new PrunerError(`${r.file}: ended early while copying external data`, { subject: r.file });
      await writevAll(out, [buf.subarray(0, bytesRead)]);
      done += bytesRead;
      throwIfAborted(signal);
    }
    return done;
  } finally {
    await src.close();
  }
}

/**
 * Writes a model to `outPath`, atomically: temporary files in the same folder (this tool's names,
 * see files.ts), synced, then published. The external-data file (when there is one) is published
 * first and the .onnx last, so a model never appears before its data. Without `replace`, a name
 * that exists at that moment is never replaced: the next name from `nextName` is tried, or the
 * save fails (NameTakenError) and leaves nothing. The input model and every file it reads are never
 * replaced, even with `replace`. An unmodified loaded model saves byte-identical. Tensor bytes are
 * streamed from their buffers or copied by range from external-data files (never referenced across
 * folders).
 */
export async function saveModel(model: SaveSource, outPath: string, opts: SaveOptions = {}): Promise<SaveResult> {
  const signal = opts.signal;
  throwIfAborted(signal);
  let target = path.resolve(outPath);
  const dir = path.dirname(target);
  const srcPath = 'path' in model && model.path ? model.path : undefined;
  const srcName = srcPath ?? path.join(model.dir, '<model>');
  const resolver = 'fileSize' in model ? resolverFor(model) : new ExternalResolver(srcName, model.dir);
  const protect = [...(srcPath ? [srcPath] : []), ...(('externalFiles' in model && model.externalFiles) || []), ...(opts.protect ?? [])];
  const refuse = (file: string, what: string) => {
    if (srcPath && sameFile(srcPath, file)) throw new PrunerError(`${file}: refusing to overwrite the model's own input file; choose another name`, { subject: file });
    for (const f of [...protect, ...resolver.resolvedFiles().map((x) => x.file)]) {
      if (sameFile(f, file)) throw new PrunerError(`${file}: refusing to overwrite ${what === 'data' ? 'with external data ' : ''}a file the model is read from (${path.basename(f)}); choose another name`, { subject: file });
    }
  };
  const dataNameFor = (t: string) => {
    const n = opts.externalDataName ?? `${path.basename(t)}.data`;
    if (!n || n !== path.basename(n) || n === '.' || n === '..') throw new PrunerError(`${t}: external data name ${JSON.stringify(n)} must be a plain file name`, { subject: t });
    return n;
  };
  refuse(target, 'model');
  let plan = choosePlan(model, resolver, opts.externalData ?? 'auto', dataNameFor(target));
  if (plan.onnx.len > PROTOBUF_LIMIT) {
    const gib = (plan.onnx.len / 2 ** 30).toFixed(2);
    throw new PrunerError(
      plan.data
        ? `${target}: the model's structure alone would be ${gib} GiB, over protobuf's 2 GiB limit`
        : `${target}: the model would be ${gib} GiB, over protobuf's 2 GiB limit; save it with external data`,
      { subject: target },
    );
  }
  const external = Boolean(plan.data);
  removeStaleTemps(dir);

  const temps: string[] = [];
  const handles: fs.promises.FileHandle[] = [];
  const writeTemp = async (file: string, parts: Part[]): Promise<{ tmp: string; bytes: number }> => {
    const tmp = tempPathFor(file);
    temps.push(tmp);
    trackTemp(tmp);
    let fh: fs.promises.FileHandle;
    try {
      fh = await fs.promises.open(tmp, 'wx');
    } catch (e) {
      throw new PrunerError(`${file}: cannot write (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { subject: file, cause: e });
    }
    handles.push(fh);
    const bytes = await writeParts(fh, parts, signal);
    await fh.sync();
    await fh.close();
    handles.splice(handles.indexOf(fh), 1);
    return { tmp, bytes };
  };
  try {
    // The data file's bytes do not depend on its name: written once, published under each name tried.
    let data: { tmp: string; bytes: number } | undefined;
    if (plan.data) data = await writeTemp(path.join(dir, dataNameFor(target)), plan.data.parts);
    let onnx: { tmp: string; bytes: number } | undefined;
    for (let attempt = 1; ; attempt++) {
      const dataPath = path.join(dir, dataNameFor(target));
      if (external) {
        if (sameFile(dataPath, target)) throw new PrunerError(`${target}: external data name equals the model file name`, { subject: target });
        refuse(dataPath, 'data');
      }
      // The .onnx names its data file: with external data it is encoded again for each name tried.
      if (!onnx || (external && attempt > 1)) {
        if (onnx) dropTemp(onnx.tmp);
        if (attempt > 1 && external) plan = choosePlan(model, resolver, true, dataNameFor(target));
        onnx = await writeTemp(target, plan.onnx.parts);
      }
      throwIfAborted(signal);
      refuse(target, 'model');
      let dataIno: number | undefined;
      try {
        if (data) dataIno = publish(data.tmp, dataPath, { replace: opts.replace, keepTemp: true });
        publish(onnx.tmp, target, { replace: opts.replace });
      } catch (e) {
        if (dataIno !== undefined) unpublish(dataPath, dataIno);
        const next = e instanceof NameTakenError && attempt < 10000 ? opts.nextName?.(attempt + 1) : undefined;
        if (!next) throw e;
        target = path.resolve(next);
        refuse(target, 'model');
        continue;
      }
      if (data) dropTemp(data.tmp);
      await syncDir(dir);
      return data ? { path: target, bytes: onnx.bytes, externalDataPath: dataPath, externalDataBytes: data.bytes } : { path: target, bytes: onnx.bytes };
    }
  } catch (e) {
    for (const fh of handles) await fh.close().catch(() => undefined);
    if (e instanceof PrunerError || e instanceof CancelledError) throw e;
    const code = (e as NodeJS.ErrnoException).code;
    if (code) throw new PrunerError(`${target}: cannot write (${code})`, { subject: target, cause: e });
    throw e;
  } finally {
    for (const t of temps) dropTemp(t);
  }
}

async function syncDir(dir: string): Promise<void> {
  try {
    const fh = await fs.promises.open(dir, 'r');
    try {
      await fh.sync();
    } finally {
      await fh.close();
    }
  } catch {
    // Some platforms cannot fsync a folder; the rename is still atomic.
  }
}

function anyExternal(proto: ModelProto): boolean {
  let found = false;
  // Hand-built protos may leave repeated fields out: treat missing as empty.
  const visit = (g: NonNullable<ModelProto['graph']>) => {
    for (const t of g.initializer ?? []) if (isExternal(t)) found = true;
    for (const n of g.node ?? []) {
      for (const a of n.attribute ?? []) {
        if (a.t && isExternal(a.t)) found = true;
        for (const t of a.tensors ?? []) if (isExternal(t)) found = true;
        if (a.g) visit(a.g);
        for (const s of a.graphs ?? []) visit(s);
      }
    }
  };
  if (proto.graph) visit(proto.graph);
  return found;
}

/**
 * Replaces a tensor's data with `data` in raw_data, clearing the typed fields and external-data
 * markers. The tensor keeps a view of `data` (no copy): do not change `data` afterwards.
 * `dataType` defaults to FLOAT for a Float32Array and to the tensor's current type otherwise.
 * Set `dims` separately.
 */
export function setTensorData(t: TensorProto, data: Float32Array | Uint8Array, dataType?: number): void {
  t.raw_data = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  t.data_type = dataType ?? (data instanceof Float32Array ? DataType.FLOAT : t.data_type);
  t.float_data = [];
  t.int32_data = [];
  t.string_data = [];
  t.int64_data = [];
  t.double_data = [];
  t.uint64_data = [];
  t.external_data = [];
  delete t.data_location;
}
