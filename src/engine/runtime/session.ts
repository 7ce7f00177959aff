// ONNX Runtime sessions with an honest execution-provider choice.
//
// onnxruntime-node does not fall back by itself: asking for ['cuda', 'cpu'] on a machine without
// the CUDA provider libraries makes session creation throw. So `auto` tries CUDA alone, catches,
// and creates a CPU session, reporting why. The native module is loaded on first use only, so
// importing the engine never loads the binary.
import * as fs from 'node:fs';
import * as path from 'node:path';
import type * as OrtTypes from 'onnxruntime-node';
import { PrunerError } from '../errors.ts';
import { ModelProtoType } from '../onnx/proto.ts';
import type { ExecutionProvider, ExecutionProviderChoice, ProviderInfo } from './types.ts';

export type OrtSession = OrtTypes.InferenceSession;
export type OrtSessionOptions = OrtTypes.InferenceSession.SessionOptions;

/** The part of the onnxruntime-node module the product uses; tests pass a fake to simulate CUDA. */
export interface OrtModule {
  env: { logLevel?: OrtTypes.Env['logLevel'] };
  InferenceSession: { create(model: string | Uint8Array, options?: OrtSessionOptions): Promise<OrtSession> };
  Tensor: typeof OrtTypes.Tensor;
  listSupportedBackends?: () => { name: string; bundled: boolean }[];
}

let ortModule: OrtModule | undefined;

/** The real onnxruntime-node, loaded (and its native library with it) on first call. */
export async function loadOrt(): Promise<OrtModule> {
  if (ortModule) return ortModule;
  let mod: OrtModule & { default?: OrtModule };
  try {
    // `require` where it exists (the CommonJS bundles, tsx): a dynamic `import()` inside the VS Code
    // extension host has not always been supported. Plain ESM falls back to `import()`.
    mod = (
      typeof require === 'function'
        ? require('onnxruntime-node') // eslint-disable-line @typescript-eslint/no-require-imports
        : await import('onnxruntime-node')
    ) as OrtModule & { default?: OrtModule };
  } catch (e) {
    throw new PrunerError(`onnxruntime-node cannot be loaded on this platform (${shortenError(e)})`, { cause: e });
  }
  // A CommonJS module imported dynamically may put its exports under `default`.
  const m: OrtModule = mod.InferenceSession ? mod : (mod.default as OrtModule);
  // Keep ORT's own native log lines (e.g. the CUDA library load failure) off stderr: we report those ourselves.
  m.env.logLevel = 'fatal';
  ortModule = m;
  return m;
}

export interface CreateSessionOptions {
  /** Intra-op threads (default 1: on small hosts 1 thread without spinning is as fast as 2, and leaves the editor responsive). */
  threads?: number;
  /** Inject an ONNX Runtime module (tests); the real one is loaded lazily otherwise. */
  ort?: OrtModule;
}

export interface CreatedSession {
  session: OrtSession;
  provider: ExecutionProvider;
  /** Why `auto` did not use CUDA. */
  fallbackReason?: string;
  /** The module the session came from (tensors for it must be made with its `Tensor`). */
  ort: OrtModule;
}

/** Session options that never let ONNX Runtime spin threads (spinning burns cores of the editor's host). */
export function sessionOptions(provider: ExecutionProvider, threads = 1): OrtSessionOptions {
  return {
    executionProviders: [provider],
    intraOpNumThreads: threads,
    interOpNumThreads: 1,
    executionMode: 'sequential',
    graphOptimizationLevel: 'all',
    logSeverityLevel: 4,
    extra: { session: { intra_op: { allow_spinning: '0' }, inter_op: { allow_spinning: '0' } } },
  };
}

/**
 * A small compute graph of the engine's own (a block of Gemms, a distance block) as a function: its
 * ONNX Runtime sessions (one per graph) are created once per name and thread count and kept for the
 * process, threads never spinning; `wrap` turns them into the function. Undefined when ONNX Runtime
 * cannot be loaded or the sessions cannot be created (callers then compute in JavaScript).
 */
export function computeGraph<F>(name: string, threads: number, graphs: () => Uint8Array[], wrap: (ort: OrtModule, sessions: OrtSession[]) => F): Promise<F | undefined> {
  const key = `${name}\u0000${threads}`;
  let made = computeGraphs.get(key) as Promise<F | undefined> | undefined;
  if (!made) {
    made = (async () => {
      try {
        const ort = await loadOrt();
        const options: OrtSessionOptions = { intraOpNumThreads: threads, graphOptimizationLevel: 'all', extra: { session: { intra_op: { allow_spinning: '0' } } } };
        return wrap(ort, await Promise.all(graphs().map((g) => ort.InferenceSession.create(g, options))));
      } catch {
        return undefined;
      }
    })();
    computeGraphs.set(key, made);
  }
  return made;
}
const computeGraphs = new Map<string, Promise<unknown>>();

/** A one-line, bounded version of an ONNX Runtime error message. */
export function shortenError(e: unknown, max = 200): string {
  // ORT's messages continue on further lines with the useful part ("index: 1 Got: 1 Expected: 3"): keep them, on one line.
  const s = (e instanceof Error ? e.message : String(e)).replace(/\s+/g, ' ').trim() || 'unknown error';
  return s.length > max ? `${s.slice(0, max - 1)}…` : s;
}

/** Does this session-creation failure come from the CUDA provider rather than from the model? */
function isProviderFailure(e: unknown): boolean {
  return /cuda|cudnn|shared library|execution provider|provider/i.test(e instanceof Error ? e.message : String(e));
}

export const CUDA_INSTALL_HINT =
  'Install the CUDA 12 provider with `ONNXRUNTIME_NODE_INSTALL=cuda12 npm install onnxruntime-node` (needs the CUDA 12 runtime and cuDNN 9), or use the cpu provider';

function checkReadable(modelPath: string): string {
  const abs = path.resolve(modelPath);
  try {
    fs.accessSync(abs, fs.constants.R_OK);
  } catch (e) {
    throw new PrunerError(`${abs}: cannot read (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`, { subject: abs, cause: e });
  }
  return abs;
}

async function createOn(ort: OrtModule, abs: string | Uint8Array, provider: ExecutionProvider, threads: number): Promise<OrtSession> {
  return ort.InferenceSession.create(abs, sessionOptions(provider, threads));
}

function modelLoadError(abs: string, e: unknown): PrunerError {
  // `abs` is a path, or a description of an in-memory model (e.g. "fmnist.onnx (probe)").
  return new PrunerError(`${path.basename(abs)}: ONNX Runtime cannot load the model (${shortenError(e)})`, {
    subject: abs,
    details: e instanceof Error ? e.stack : String(e),
    cause: e,
  });
}

/**
 * Creates a session on the chosen provider.
 * - `cpu`: CPU.
 * - `cuda`: CUDA or a PrunerError saying how to install it.
 * - `auto`: CUDA when it works, else CPU with `fallbackReason` (the CUDA error, shortened).
 * `modelPath` is a file, or `{ bytes, name }`: a model built in memory (`name` for messages).
 */
export async function createSession(modelPath: string | { bytes: Uint8Array; name: string }, choice: ExecutionProviderChoice, opts: CreateSessionOptions = {}): Promise<CreatedSession> {
  const abs = typeof modelPath === 'string' ? checkReadable(modelPath) : modelPath.name;
  const source = typeof modelPath === 'string' ? abs : modelPath.bytes;
  const ort = opts.ort ?? (await loadOrt());
  const threads = opts.threads ?? 1;
  let fallbackReason: string | undefined;
  if (choice === 'cuda' || choice === 'auto') {
    const known = cudaProbes.get(ort);
    // A failed probe is remembered: no need to pay for (and log) the same failure again.
    if (known && !known.usable) {
      if (choice === 'cuda') throw new PrunerError(`CUDA execution provider is not available: ${known.reason}. ${CUDA_INSTALL_HINT}`);
      fallbackReason = `CUDA not available (${known.reason})`;
    } else {
      try {
        const session = await createOn(ort, source, 'cuda', threads);
        cudaProbes.set(ort, { usable: true });
        return { session, provider: 'cuda', ort };
      } catch (e) {
        if (!isProviderFailure(e)) throw modelLoadError(abs, e);
        const reason = shortenError(e);
        if (known?.usable) {
          // CUDA works, but not for this model (an unsupported node, out of memory...).
          if (choice === 'cuda') throw new PrunerError(`${path.basename(abs)}: CUDA could not load the model (${reason})`, { subject: abs, cause: e });
          fallbackReason = `CUDA could not load the model (${reason})`;
        } else {
          cudaProbes.set(ort, { usable: false, reason });
          if (choice === 'cuda') throw new PrunerError(`CUDA execution provider is not available: ${reason}. ${CUDA_INSTALL_HINT}`, { cause: e });
          fallbackReason = `CUDA not available (${reason})`;
        }
      }
    }
  }
  try {
    const session = await createOn(ort, source, 'cpu', threads);
    return fallbackReason ? { session, provider: 'cpu', fallbackReason, ort } : { session, provider: 'cpu', ort };
  } catch (e) {
    throw modelLoadError(abs, e);
  }
}

interface ProbeResult {
  usable: boolean;
  reason?: string;
}
/** Outcome of trying CUDA, per ORT module (the real one, or a test's fake). */
const cudaProbes = new WeakMap<OrtModule, ProbeResult>();

/** A one-node (Identity) float model, built in memory, to probe a provider without any file. */
function identityModelBytes(): Uint8Array {
  const vi = (name: string) => ({ name, type: { tensor_type: { elem_type: 1, shape: { dim: [{ dim_value: 1 }] } } } });
  const msg = ModelProtoType.fromObject({
    ir_version: 8,
    opset_import: [{ domain: '', version: 13 }],
    producer_name: 'onnx-pruner-probe',
    graph: { name: 'probe', node: [{ op_type: 'Identity', input: ['x'], output: ['y'] }], input: [vi('x')], output: [vi('y')] },
  });
  return ModelProtoType.encode(msg).finish();
}

/** Tries to create a CUDA session once (cached per ORT module). */
export async function probeCuda(ortIn?: OrtModule): Promise<ProbeResult> {
  const ort = ortIn ?? (await loadOrt());
  const known = cudaProbes.get(ort);
  if (known) return known;
  let result: ProbeResult;
  try {
    const s = await ort.InferenceSession.create(identityModelBytes(), sessionOptions('cuda'));
    await s.release();
    result = { usable: true };
  } catch (e) {
    result = { usable: false, reason: shortenError(e) };
  }
  cudaProbes.set(ort, result);
  return result;
}

/**
 * The providers the installed onnxruntime-node lists, with CUDA actually probed (once).
 * WebGPU is listed as ORT reports it but never used unless asked for elsewhere.
 */
export async function availableProviders(ortIn?: OrtModule): Promise<ProviderInfo[]> {
  const ort = ortIn ?? (await loadOrt());
  const listed = ort.listSupportedBackends?.() ?? [{ name: 'cpu', bundled: true }];
  const cuda = await probeCuda(ort);
  const out: ProviderInfo[] = listed.map((b) => {
    if (b.name === 'cpu') return { name: b.name, bundled: b.bundled, usable: true };
    if (b.name === 'cuda') return { name: b.name, bundled: b.bundled, usable: cuda.usable, ...(cuda.reason ? { reason: cuda.reason } : {}) };
    return { name: b.name, bundled: b.bundled };
  });
  if (!out.some((p) => p.name === 'cuda')) out.push({ name: 'cuda', bundled: false, usable: cuda.usable, ...(cuda.reason ? { reason: cuda.reason } : {}) });
  return out;
}
