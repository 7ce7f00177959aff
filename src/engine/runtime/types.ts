// Types of the runtime part: execution providers, input tensors and the validation report.
// Everything here is plain data (JSON-serialisable) so it can cross to the webview or be printed by `--json`.
import type { Preprocess } from '../data/preprocess.ts';

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

/** Accuracy of one model on a labelled evaluation set. */
export interface ModelAccuracy {
  /** Share of inputs whose highest-scoring class is the label. */
  top1: number;
  /** Inputs classified correctly (top-1). */
  correct: number;
  /** Share of inputs whose label is among the five highest scores (models with more than 5 classes). */
  top5?: number;
}

/** How far the pruned model's outputs are from the original's over an evaluation set. */
export interface OutputAgreement {
  /** Share of inputs whose arg-max class is the same in both models ([batch, classes] outputs). */
  top1Agreement?: number;
  /** Mean over inputs of the cosine similarity of the two models' output vectors. */
  meanCosine: number;
  /** Lowest per-input cosine similarity. */
  minCosine: number;
  /** Drift: ‖pruned − original‖₂ / ‖original‖₂ over all outputs of the set (1 when the original outputs are all zero and the pruned are not). */
  relativeError: number;
  meanAbsDiff: number;
  maxAbsDiff: number;
  /** NaN or Infinity values met (left out of the statistics). */
  nonFinite?: number;
}

/** Evaluation of the original and the pruned model on an evaluation data set (`--eval`). */
export interface EvaluationReport {
  /** The evaluation data: a file, a .npz array (`file.npz:name`) or an image folder. */
  source: string;
  /** Inputs evaluated. */
  count: number;
  /** Inputs per ONNX Runtime run (the model's fixed batch, else 64). */
  batch: number;
  /** The model output evaluated (the first). */
  output: string;
  /** Where the labels came from, when the set has labels. */
  labels?: string;
  /** How images were preprocessed (image folders). */
  preprocess?: Preprocess;
  /** Accuracy of the original model (labelled sets with a [batch, classes] output). */
  original?: ModelAccuracy;
  /** Accuracy of the pruned model. */
  pruned?: ModelAccuracy;
  /** The pruned model's outputs against the original's. */
  comparison?: OutputAgreement;
  /** E.g. the evaluation set is the calibration set. */
  warnings: string[];
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
  /** Accuracy or agreement on an evaluation data set, when one was given. */
  evaluation?: EvaluationReport;
  /** Things the reader should know that are not errors (e.g. why params/MACs are missing). */
  notes?: string[];
}
