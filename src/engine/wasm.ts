// The engine's WebAssembly kernels (gather.wat, fold.wat) ship as base64 bytes in generated modules;
// this instantiates one on first use, once per thread (the worker and the extension host each get
// their own).

/** A kernel's exports, from its module's bytes (base64), instantiated on the first call. */
export function lazyKernel<T>(base64: string): () => T {
  let exports: T | undefined;
  return () => (exports ??= new WebAssembly.Instance(new WebAssembly.Module(Buffer.from(base64, 'base64'))).exports as unknown as T);
}
