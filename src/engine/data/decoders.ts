// The third-party decoders of calibration data, in a module of their own that the readers import
// when they first need one (images.ts, npy.ts): pngjs brings zlib, stream and assert with it and
// fflate builds its tables when loaded, none of which a command that reads no data should pay for.
export { PNG } from 'pngjs';
export { default as jpeg } from 'jpeg-js';
export { Inflate } from 'fflate';
