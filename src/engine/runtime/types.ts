// Types of the runtime part: execution providers, input tensors and the validation report.
// Everything here is plain data (JSON-serialisable) so it can cross to the webview or be printed by `--json`.

/** What the user asks for. `auto` tries CUDA and falls back to CPU, saying why. */
export type ExecutionProviderChoice = 'auto' | 'cuda' | 'cpu';
/** What actually ran. */
export type ExecutionProvider = 'cuda' | 'cpu';

/** Element types the product can create or read inputs for (ONNX Runtime's tensor type names). */
export type InputElementType = 'float32' | 'float64' | 'int64' | 'int32' | 'uint8' | 'int8' | 'bool';

export type InputData = Float32Array | Float64Array | BigInt64Array | Int32Array | Uint8Array | Int8Array;

/** One input tensor, independent of ONNX Runtime (converted to an `ort.Tensor` only when run). */
export interface InputTensor {
  type: InputElementType;
  dims: number[];
  data: InputData;
}

/** A graph input as the model declares it: dims are numbers, symbolic names, or null when unknown. */
export interface ModelInputSpec {
  name: string;
  /** The ONNX element type mapped to ONNX Runtime's name, or undefined for types the product cannot feed. */
  type: InputElementType | undefined;
  /** ONNX element type number, for messages. */
  onnxType: number;
  dims: (number | string | null)[];
}

export interface ProviderInfo {
  name: string;
  /** Shipped with the installed onnxruntime-node package. */
  bundled: boolean;
  /** Result of an actual session-creation probe, when one was made (CUDA only); cpu is always usable. */
  usable?: boolean;
  /** Why it is not usable (shortened error text). */
  reason?: string;
}

export interface LatencyStats {
  /** Timed runs (after warm-up). */
  runs: number;
  medianMs: number;
  p90Ms: number;
  minMs: number;
  meanMs: number;
}

export interface ModelRunInfo {
  path: string;
  /** Bytes on disk: the .onnx file plus every distinct external-data file it references. */
  sizeBytes: number;
  /** Time to create the ONNX Runtime session (load + graph optimisation). */
  sessionMs: number;
  latency: LatencyStats;
}

export interface InputDescription {
  name: string;
  type: InputElementType;
  dims: number[];
  /** `random` (seeded), `file` (read from `file`) or `given` (passed as an array by the caller). */
  source: 'random' | 'file' | 'given';
  file?: string;
}

export interface OutputComparison {
  name: string;
  originalShape: number[];
  /** Undefined when the pruned model has no output of that name. */
  prunedShape?: number[];
  /** Same shape and both numeric: the statistics below are filled. */
  comparable: boolean;
  maxAbsDiff?: number;
  meanAbsDiff?: number;
  /** Cosine similarity of the two outputs as flat vectors (1 when both are all zero). */
  cosine?: number;
  /** Classifier-like outputs ([N, K], K > 1): share of rows whose arg-max agrees. */
  top1Agreement?: number;
  /** Count of NaN/Infinity values (original + pruned); such pairs are left out of the statistics. */
  nonFinite?: number;
  /** Why the output was not compared, when it was not. */
  note?: string;
}

export interface BeforeAfter {
  before: number;
  after: number;
}

export interface ValidationReport {
  requestedProvider: ExecutionProviderChoice;
  provider: ExecutionProvider;
  /** Set when `auto` could not use CUDA: the reason, shortened. */
  fallbackReason?: string;
  intraOpThreads: number;
  warmup: number;
  /** Seed of the random inputs, when inputs were random. */
  seed?: number;
  inputs: InputDescription[];
  outputs: OutputComparison[];
  original: ModelRunInfo;
  pruned: ModelRunInfo;
  /** Learnable parameters (weights, biases, BN scale and shift). */
  params?: BeforeAfter;
  /** Multiply-accumulates at batch 1. */
  macs?: BeforeAfter;
  /** Things the reader should know that are not errors (e.g. why params/MACs are missing). */
  notes?: string[];
}
