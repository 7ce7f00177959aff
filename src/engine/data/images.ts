// A folder of JPEG/PNG images as an InputSet. In the ImageFolder layout (one sub-folder per class)
// the labels are the class indices: position of the sub-folder in the sorted names, as torchvision's
// ImageFolder numbers them. A folder of images without sub-folders has no labels. Images are
// decoded and preprocessed batch by batch (jpeg-js and pngjs: pure JavaScript, nothing native).
import * as fs from 'node:fs';
import * as path from 'node:path';
import { CancelledError, PrunerError } from '../errors.ts';
import type { ModelInputSpec } from '../runtime/types.ts';
import { fitPreprocess, preprocessImage, type Preprocess } from './preprocess.ts';
import type { InputBatch, InputSet } from './types.ts';

const IMAGE_EXT = /\.(jpe?g|png)$/i;

function listDir(dir: string): fs.Dirent[] {
  try {
    return fs.readdirSync(dir, { withFileTypes: true }).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  } catch (e) {
    throw new PrunerError(`${dir}: cannot read the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { subject: dir, cause: e });
  }
}

/** Image files under `dir` (its sub-folders too), sorted by path. */
function imagesUnder(dir: string): string[] {
  const out: string[] = [];
  for (const e of listDir(dir)) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) out.push(...imagesUnder(p));
    else if (e.isFile() && IMAGE_EXT.test(e.name)) out.push(p);
  }
  return out;
}

/** The images of a folder and, in the ImageFolder layout, their class names and labels. */
export function listImageFolder(dir: string): { files: string[]; classes?: string[]; labels?: Int32Array } {
  const entries = listDir(dir);
  const subdirs = entries.filter((e) => e.isDirectory()).map((e) => e.name);
  let files: string[];
  let classes: string[] | undefined;
  let labels: Int32Array | undefined;
  if (subdirs.length) {
    classes = subdirs;
    const perClass = subdirs.map((c) => imagesUnder(path.join(dir, c)));
    files = perClass.flat();
    labels = new Int32Array(files.length);
    let k = 0;
    perClass.forEach((list, c) => list.forEach(() => (labels![k++] = c)));
  } else files = entries.filter((e) => e.isFile() && IMAGE_EXT.test(e.name)).map((e) => path.join(dir, e.name));
  if (files.length === 0) throw new PrunerError(`${dir}: no JPEG or PNG images in the folder${subdirs.length ? ' or its sub-folders' : ''}`, { subject: dir });
  return { files, ...(classes ? { classes, labels } : {}) };
}

/** The PNG and JPEG decoders. */
export type ImageDecoders = Pick<typeof import('./decoders.ts'), 'PNG' | 'jpeg'>;

/** The decoders, loaded on first use (see decoders.ts). */
export function imageDecoders(): Promise<ImageDecoders> {
  return import('./decoders.ts');
}

/** Decodes one JPEG or PNG file to 8-bit RGBA. */
export function decodeImage(file: string, { PNG, jpeg }: ImageDecoders): { width: number; height: number; components: number; pixels: Uint8Array } {
  let buf: Buffer;
  try {
    buf = fs.readFileSync(file);
  } catch (e) {
    throw new PrunerError(`${file}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { subject: file, cause: e });
  }
  try {
    if (buf.length >= 8 && buf.readUInt32BE(0) === 0x89504e47) {
      const png = PNG.sync.read(buf);
      return { width: png.width, height: png.height, components: 4, pixels: png.data };
    }
    if (buf.length >= 3 && buf[0] === 0xff && buf[1] === 0xd8) {
      const img = jpeg.decode(buf, { useTArray: true, formatAsRGBA: true, tolerantDecoding: false });
      return { width: img.width, height: img.height, components: 4, pixels: img.data };
    }
  } catch (e) {
    throw new PrunerError(`${file}: not a readable image (${(e as Error).message ?? String(e)})`, { subject: file, cause: e });
  }
  throw new PrunerError(`${file}: not a JPEG or PNG image`, { subject: file });
}

/**
 * A folder of images for a model input, preprocessed as `pre` says (its size and channels fitted to
 * `spec`; see preprocess.ts). 1-channel models get each image's luminance, 3-channel models get
 * grey images repeated in R, G and B; alpha is dropped.
 */
export function imageFolderInputSet(dir: string, pre: Preprocess, spec?: ModelInputSpec): InputSet {
  const fitted = fitPreprocess(pre, spec, dir);
  const { files, classes, labels } = listImageFolder(dir);
  const [h, w] = fitted.crop;
  const C = fitted.inputChannels;
  const sampleShape = fitted.layout === 'nchw' ? [C, h, w] : [h, w, C];
  const sampleSize = C * h * w;
  const { inputChannels: _fittedChannels, ...preprocess } = fitted;
  return {
    source: dir,
    sampleShape,
    count: files.length,
    ...(labels ? { labels } : {}),
    ...(classes ? { classes } : {}),
    preprocess,
    async *batches(batchSize: number, signal?: AbortSignal): AsyncIterable<InputBatch> {
      const size = Math.max(1, Math.floor(batchSize));
      const dec = await imageDecoders();
      for (let offset = 0; offset < files.length; offset += size) {
        const n = Math.min(size, files.length - offset);
        const data = new Float32Array(n * sampleSize);
        for (let i = 0; i < n; i++) {
          if (signal?.aborted) throw new CancelledError();
          preprocessImage(decodeImage(files[offset + i], dec), fitted, data, i * sampleSize);
        }
        yield { data, count: n, offset };
        await new Promise<void>((r) => setImmediate(r));
      }
    },
  };
}
