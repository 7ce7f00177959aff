// Image preprocessing: how decoded pixels (0-255) become a model input. A small JSON object saved
// with the plan; presets for the common conventions; a proposal from the model's input shape.
//   resize    the shorter side to this many pixels (bilinear, no antialiasing), before the crop
//   crop      centre crop [height, width] (default: the model's input size)
//   scale     multiply 0-255 pixel values by this (1/255 for [0, 1])
//   mean/std  per channel, after scaling: (v * scale - mean) / std (one number for every channel)
//   channels  'rgb' or 'bgr' (order of colour channels); 1-channel models take luminance
//   layout    'nchw' or 'nhwc'
import { PrunerError } from '../errors.ts';
import type { ModelInputSpec } from '../runtime/types.ts';

export const PRESET_NAMES = ['imagenet', 'raw255', 'unit', 'signed', 'fmnist'] as const;
export type PresetName = (typeof PRESET_NAMES)[number];

export interface Preprocess {
  /** The preset this started from, for people reading a plan. */
  preset?: PresetName;
  resize?: number;
  crop?: [number, number];
  scale: number;
  mean: number[];
  std: number[];
  channels: 'rgb' | 'bgr';
  layout: 'nchw' | 'nhwc';
}

export const PRESETS: Record<PresetName, Preprocess> = {
  /** torchvision's ImageNet convention: shorter side 256, centre 224, [0, 1], ImageNet mean and std. */
  imagenet: { preset: 'imagenet', resize: 256, crop: [224, 224], scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channels: 'rgb', layout: 'nchw' },
  /** Pixel values 0-255 as they are. */
  raw255: { preset: 'raw255', scale: 1, mean: [0], std: [1], channels: 'rgb', layout: 'nchw' },
  /** Pixel values scaled to [0, 1]. */
  unit: { preset: 'unit', scale: 1 / 255, mean: [0], std: [1], channels: 'rgb', layout: 'nchw' },
  /** [-1, 1]: (v - 127.5) / 127.5. */
  signed: { preset: 'signed', scale: 1, mean: [127.5], std: [127.5], channels: 'rgb', layout: 'nchw' },
  /** Fashion-MNIST as the bundled sample was trained: [0, 1], then (v - 0.2860) / 0.3530. */
  fmnist: { preset: 'fmnist', scale: 1 / 255, mean: [0.286], std: [0.353], channels: 'rgb', layout: 'nchw' },
};

const KEYS = new Set(['preset', 'resize', 'crop', 'scale', 'mean', 'std', 'channels', 'layout']);

function copy(p: Preprocess): Preprocess {
  return { ...p, ...(p.crop ? { crop: [p.crop[0], p.crop[1]] } : {}), mean: [...p.mean], std: [...p.std] };
}

/**
 * Checks a preprocessing description (from a plan or `--preprocess` JSON): a preset name's fields,
 * overridden by the object's. Throws a PrunerError saying which field is wrong and where.
 */
export function parsePreprocess(json: unknown, where = 'preprocess'): Preprocess {
  const fail = (why: string): never => {
    throw new PrunerError(`${where}: ${why}`, { subject: where });
  };
  if (typeof json === 'string') {
    if (!(PRESET_NAMES as readonly string[]).includes(json)) fail(`unknown preset "${json}" (expected ${PRESET_NAMES.join(', ')} or a JSON object)`);
    return copy(PRESETS[json as PresetName]);
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) return fail('preprocessing must be a preset name or a JSON object');
  const o = json as Record<string, unknown>;
  for (const k of Object.keys(o)) if (!KEYS.has(k)) fail(`unknown preprocessing field ${JSON.stringify(k)} (fields: ${[...KEYS].join(', ')})`);
  if (o.preset !== undefined && !(PRESET_NAMES as readonly unknown[]).includes(o.preset)) fail(`unknown preset ${JSON.stringify(o.preset)} (expected ${PRESET_NAMES.join(', ')})`);
  const base: Preprocess = copy(o.preset !== undefined ? PRESETS[o.preset as PresetName] : PRESETS.unit);
  if (o.preset === undefined) delete base.preset;
  const posInt = (k: string, v: unknown): number => (typeof v === 'number' && Number.isInteger(v) && v > 0 ? v : fail(`${k} must be a positive integer, got ${JSON.stringify(v)}`));
  const numbers = (k: string, v: unknown, positive: boolean): number[] => {
    const arr = typeof v === 'number' ? [v] : v;
    if (!Array.isArray(arr) || arr.length === 0 || !arr.every((x) => typeof x === 'number' && Number.isFinite(x) && (!positive || x > 0))) {
      return fail(`${k} must be a ${positive ? 'positive ' : ''}number or a list of them, got ${JSON.stringify(v)}`);
    }
    return arr as number[];
  };
  if (o.resize !== undefined) base.resize = posInt('resize', o.resize);
  if (o.crop !== undefined) {
    const c = typeof o.crop === 'number' ? [o.crop, o.crop] : o.crop;
    if (!Array.isArray(c) || c.length !== 2) fail(`crop must be a size or [height, width], got ${JSON.stringify(o.crop)}`);
    base.crop = [posInt('crop', (c as unknown[])[0]), posInt('crop', (c as unknown[])[1])];
  }
  if (o.scale !== undefined) {
    if (typeof o.scale !== 'number' || !Number.isFinite(o.scale) || o.scale <= 0) fail(`scale must be a positive number, got ${JSON.stringify(o.scale)}`);
    base.scale = o.scale as number;
  }
  if (o.mean !== undefined) base.mean = numbers('mean', o.mean, false);
  if (o.std !== undefined) base.std = numbers('std', o.std, true);
  if (o.channels !== undefined) base.channels = o.channels === 'rgb' || o.channels === 'bgr' ? o.channels : fail(`channels must be "rgb" or "bgr", got ${JSON.stringify(o.channels)}`);
  if (o.layout !== undefined) base.layout = o.layout === 'nchw' || o.layout === 'nhwc' ? o.layout : fail(`layout must be "nchw" or "nhwc", got ${JSON.stringify(o.layout)}`);
  return base;
}

/** `--preprocess PRESET` or `--preprocess '{"preset": "imagenet", "channels": "bgr"}'`. */
export function parsePreprocessArg(arg: string): Preprocess {
  const t = arg.trim();
  if (!t.startsWith('{')) return parsePreprocess(t, '--preprocess');
  let json: unknown;
  try {
    json = JSON.parse(t);
  } catch (e) {
    throw new PrunerError(`--preprocess: not a preset name nor valid JSON (${(e as Error).message})`);
  }
  return parsePreprocess(json, '--preprocess');
}

/** What an image input of a model looks like: layout, channels, and the spatial size when fixed. */
export interface ImageInputShape {
  layout: 'nchw' | 'nhwc';
  channels: number;
  height?: number;
  width?: number;
}

/** Reads layout, channels and size from a 4-D model input ([N, C, H, W] or [N, H, W, C]); undefined when it is not image-like. */
export function imageInputShape(spec: ModelInputSpec): ImageInputShape | undefined {
  if (spec.dims.length !== 4) return undefined;
  const fixed = (d: number | string | null) => (typeof d === 'number' ? d : undefined);
  const [, a, b, c] = spec.dims.map(fixed);
  if (a !== undefined && a <= 4 && !(c !== undefined && c <= 4 && a > c)) return { layout: 'nchw', channels: a, height: b, width: c };
  if (c !== undefined && c <= 4) return { layout: 'nhwc', channels: c, height: a, width: b };
  return undefined;
}

/**
 * The preprocessing proposed for a model input: `imagenet` for 3-channel inputs of 224 (or larger,
 * resize in the same 256/224 proportion), `unit` ([0, 1]) otherwise, in the input's layout and at its
 * size. Only a proposal: the model's training decides; the report states what was used.
 */
export function proposePreprocess(spec: ModelInputSpec): Preprocess {
  const shape = imageInputShape(spec);
  const p = copy(shape?.channels === 3 && (shape.height ?? 224) >= 64 ? PRESETS.imagenet : PRESETS.unit);
  if (shape) {
    p.layout = shape.layout;
    if (shape.height !== undefined && shape.width !== undefined) {
      p.crop = [shape.height, shape.width];
      if (p.preset === 'imagenet') p.resize = Math.round((Math.min(shape.height, shape.width) * 256) / 224);
    }
  }
  return p;
}

/** A preprocessing fitted to a model input: the output size and channel count settled. */
export interface FittedPreprocess extends Preprocess {
  crop: [number, number];
  /** Channels of the model input: 1 (luminance) or 3. */
  inputChannels: 1 | 3;
}

/** Settles size and channels against the model input; a PrunerError when they cannot fit. */
export function fitPreprocess(p: Preprocess, spec: ModelInputSpec | undefined, where: string): FittedPreprocess {
  const shape = spec ? imageInputShape(spec) : undefined;
  if (spec && !shape) throw new PrunerError(`${where}: model input ${spec.name} [${spec.dims.map((d) => d ?? '?').join(', ')}] is not an image input ([N, C, H, W] or [N, H, W, C] with 1 or 3 channels)`, { subject: where });
  const layout = shape?.layout ?? p.layout;
  const channels = shape?.channels ?? 3;
  if (channels !== 1 && channels !== 3) throw new PrunerError(`${where}: model input ${spec?.name} takes ${channels} channels; images give 1 (luminance) or 3 (colour)`, { subject: where });
  const h = shape?.height ?? p.crop?.[0];
  const w = shape?.width ?? p.crop?.[1];
  if (h === undefined || w === undefined) throw new PrunerError(`${where}: the model input has no fixed height and width; give them with --preprocess '{"crop": [H, W]}'`, { subject: where });
  if (p.crop && (p.crop[0] !== h || p.crop[1] !== w)) throw new PrunerError(`${where}: preprocessing crops ${p.crop[0]}x${p.crop[1]}, model input ${spec?.name} takes ${h}x${w}`, { subject: where });
  for (const [k, v] of [['mean', p.mean], ['std', p.std]] as const) {
    if (v.length !== 1 && v.length !== channels) throw new PrunerError(`${where}: ${k} has ${v.length} values for a ${channels}-channel input`, { subject: where });
  }
  return { ...copy(p), layout, crop: [h, w], inputChannels: channels };
}

/**
 * One decoded image (`pixels`: height × width × `components`, 8-bit, RGB(A) or gray) to the model's
 * sample: channel conversion, shorter side resized (bilinear, half-pixel centres as torchvision),
 * centre crop, scale, mean/std, layout. Writes into `out` at `offset`.
 */
export function preprocessImage(
  img: { width: number; height: number; components: number; pixels: Uint8Array },
  p: FittedPreprocess,
  out: Float32Array,
  offset: number,
): void {
  const { width: W, height: H, components: K, pixels } = img;
  const [ch, cw] = p.crop;
  // Resized size: the shorter side to `resize`, or without it just enough to cover the crop.
  const f = p.resize !== undefined ? p.resize / Math.min(H, W) : Math.max(ch / H, cw / W);
  const rh = Math.max(ch, Math.round(H * f));
  const rw = Math.max(cw, Math.round(W * f));
  const top = Math.floor((rh - ch) / 2);
  const left = Math.floor((rw - cw) / 2);
  const sy = H / rh;
  const sx = W / rw;
  const C = p.inputChannels;
  const meanOf = (c: number) => (p.mean.length === 1 ? p.mean[0] : p.mean[c]);
  const stdOf = (c: number) => (p.std.length === 1 ? p.std[0] : p.std[c]);
  // Source component for each output channel: luminance for one channel, else R, G, B in the chosen order.
  const order = p.channels === 'bgr' ? [2, 1, 0] : [0, 1, 2];
  const value = (y: number, x: number, c: number): number => {
    const i = (y * W + x) * K;
    if (K < 3) return pixels[i];
    if (C === 1) return 0.299 * pixels[i] + 0.587 * pixels[i + 1] + 0.114 * pixels[i + 2];
    return pixels[i + order[c]];
  };
  for (let oy = 0; oy < ch; oy++) {
    const fy = Math.min(H - 1, Math.max(0, (oy + top + 0.5) * sy - 0.5));
    const y0 = Math.floor(fy);
    const y1 = Math.min(H - 1, y0 + 1);
    const dy = fy - y0;
    for (let ox = 0; ox < cw; ox++) {
      const fx = Math.min(W - 1, Math.max(0, (ox + left + 0.5) * sx - 0.5));
      const x0 = Math.floor(fx);
      const x1 = Math.min(W - 1, x0 + 1);
      const dx = fx - x0;
      for (let c = 0; c < C; c++) {
        const v =
          (value(y0, x0, c) * (1 - dx) + value(y0, x1, c) * dx) * (1 - dy) + (value(y1, x0, c) * (1 - dx) + value(y1, x1, c) * dx) * dy;
        const norm = (v * p.scale - meanOf(c)) / stdOf(c);
        const idx = p.layout === 'nchw' ? c * ch * cw + oy * cw + ox : (oy * cw + ox) * C + c;
        out[offset + idx] = norm;
      }
    }
  }
}

/** A one-line description of a preprocessing, e.g. "imagenet, resize 256, crop 224x224, scale 0.00392157, mean 0.485/0.456/0.406, std 0.229/0.224/0.225, rgb, nchw". */
export function describePreprocess(p: Preprocess): string {
  return [
    ...(p.preset ? [p.preset] : []),
    ...(p.resize ? [`resize ${p.resize}`] : []),
    ...(p.crop ? [`crop ${p.crop[0]}x${p.crop[1]}`] : []),
    `scale ${+p.scale.toPrecision(6)}`,
    `mean ${p.mean.join('/')}`,
    `std ${p.std.join('/')}`,
    p.channels,
    p.layout,
  ].join(', ');
}
