// The linear algebra of least-squares reconstruction: Gram products accumulated batch by batch,
// and a regularised float64 solve.
//
// Gram products. For rows X [n, k] (sampled input patches plus a constant 1 for the bias) and targets
// Y [n, o], XᵀX and XᵀY are summed in float64 over batches, so memory is k² + k·o whatever the
// number of inputs. Small products run in JavaScript; large ones (n·k² above ~3·10⁷) run as one Gemm
// in ONNX Runtime (float32 within a batch, float64 across batches): on a 2-core machine a
// 2560 × 2304 batch takes about 0.3 s there against several seconds in a JavaScript loop.
//
// Solve. (XᵀX + λ·D)·W = XᵀY by Cholesky in float64, D the identity on the weights and 0 on the bias
// column, λ = ridge · trace(XᵀX)/k (relative, so the same `ridge` suits any activation scale). A pivot
// that is not positive (a singular or ill-conditioned system) raises λ tenfold and retries: the result
// is regularised, never NaN. One factorisation serves every output column. A 2304-unknown system
// factorises in about 2 s in JavaScript (n³/6 multiply-adds on contiguous rows).
import Long from 'long';
import { DataType, ModelProtoType } from '../onnx/proto.ts';
import { loadOrt, type OrtModule, type OrtSession } from '../runtime/session.ts';

/** n·k² above which a batch's Gram products go to ONNX Runtime. */
const ORT_GRAM_MIN = 3e7;

export class GramAccumulator {
  /** XᵀX, k × k, row-major: the upper triangle while accumulating (see `symmetrize`). */
  readonly xtx: Float64Array;
  /** XᵀY, k × o, row-major. */
  readonly xty: Float64Array;
  /** Rows added. */
  rows = 0;

  constructor(readonly k: number, readonly o: number) {
    this.xtx = new Float64Array(k * k);
    this.xty = new Float64Array(k * o);
  }

  /** Adds `n` rows: x is [n, k], y is [n, o], row-major. */
  async add(x: Float32Array, y: Float32Array, n: number, threads = 1): Promise<void> {
    const { k, o } = this;
    this.rows += n;
    if (n * k * k >= ORT_GRAM_MIN) {
      const gram = await ortGram(threads);
      if (gram) {
        const { xtx, xty } = await gram(x, y, n, k, o);
        for (let i = 0; i < k; i++) for (let j = i; j < k; j++) this.xtx[i * k + j] += xtx[i * k + j];
        for (let i = 0; i < k * o; i++) this.xty[i] += xty[i];
        return;
      }
    }
    const G = this.xtx;
    const H = this.xty;
    // Only the upper triangle; zeros (post-ReLU activations are about half zeros) are skipped.
    for (let r = 0; r < n; r++) {
      const xb = r * k;
      const yb = r * o;
      for (let i = 0; i < k; i++) {
        const xi = x[xb + i];
        if (xi === 0) continue;
        const gi = i * k;
        for (let j = i; j < k; j++) G[gi + j] += xi * x[xb + j];
        const hi = i * o;
        for (let j = 0; j < o; j++) H[hi + j] += xi * y[yb + j];
      }
    }
  }
}

/** Copies the accumulated upper triangle of XᵀX to its lower triangle. */
export function symmetrize(g: Float64Array, k: number): void {
  for (let i = 0; i < k; i++) for (let j = i + 1; j < k; j++) g[j * k + i] = g[i * k + j];
}

export interface SolveResult {
  /** k × o solution, row-major. */
  w: Float64Array;
  /** The λ actually used (after any increase). */
  lambda: number;
  /** Times λ had to be raised for the factorisation to succeed. */
  raised: number;
}

/**
 * Solves (A + λ·D)·W = B + λ·D·W0 for symmetric positive semi-definite A (k × k) and B (k × o): the
 * least-squares fit pulled towards the prior W0 (the weights as cut; zero when absent) where the data
 * say little, so an under-determined layer stays near its pruned weights. D = I, except a tiny weight
 * on the indices in `unregularised` (the bias). A, B and W0 are not modified.
 */
export function ridgeSolve(A: Float64Array, B: Float64Array, k: number, o: number, ridge: number, unregularised: readonly number[] = [], prior?: Float64Array): SolveResult {
  let trace = 0;
  for (let i = 0; i < k; i++) trace += A[i * k + i];
  const scale = trace / Math.max(1, k) || 1;
  let lambda = ridge * scale;
  const free = new Set(unregularised);
  const L = new Float64Array(k * k);
  for (let raised = 0; ; raised++) {
    L.set(A);
    for (let i = 0; i < k; i++) L[i * k + i] += free.has(i) ? lambda * 1e-6 : lambda;
    if (cholesky(L, k)) {
      const w = Float64Array.from(B);
      if (prior) for (let i = 0; i < k; i++) {
        const d = free.has(i) ? lambda * 1e-6 : lambda;
        for (let c = 0; c < o; c++) w[i * o + c] += d * prior[i * o + c];
      }
      choleskySolve(L, w, k, o);
      return { w, lambda, raised };
    }
    lambda = lambda > 0 ? lambda * 10 : scale * 1e-8;
    if (raised > 30) throw new Error('ridgeSolve: the system could not be regularised');
  }
}

/** In-place Cholesky of a row-major symmetric matrix into its lower triangle; false when not positive definite. */
export function cholesky(a: Float64Array, n: number): boolean {
  for (let i = 0; i < n; i++) {
    const ri = i * n;
    for (let j = 0; j <= i; j++) {
      const rj = j * n;
      let s = a[ri + j];
      let t = 0;
      let kk = 0;
      // Two accumulators: the dot product of rows i and j over their first j entries.
      for (; kk + 1 < j; kk += 2) {
        s -= a[ri + kk] * a[rj + kk];
        t -= a[ri + kk + 1] * a[rj + kk + 1];
      }
      for (; kk < j; kk++) s -= a[ri + kk] * a[rj + kk];
      s += t;
      if (i === j) {
        if (!(s > 0) || !Number.isFinite(s)) return false;
        a[ri + i] = Math.sqrt(s);
      } else a[ri + j] = s / a[rj + j];
    }
  }
  return true;
}

/** Solves L·Lᵀ·X = B in place (B is n × o, row-major) with L from `cholesky`. */
export function choleskySolve(L: Float64Array, b: Float64Array, n: number, o: number): void {
  for (let i = 0; i < n; i++) {
    const bi = i * o;
    for (let j = 0; j < i; j++) {
      const l = L[i * n + j];
      if (l === 0) continue;
      const bj = j * o;
      for (let c = 0; c < o; c++) b[bi + c] -= l * b[bj + c];
    }
    const d = L[i * n + i];
    for (let c = 0; c < o; c++) b[bi + c] /= d;
  }
  for (let i = n - 1; i >= 0; i--) {
    const bi = i * o;
    for (let j = i + 1; j < n; j++) {
      const l = L[j * n + i];
      if (l === 0) continue;
      const bj = j * o;
      for (let c = 0; c < o; c++) b[bi + c] -= l * b[bj + c];
    }
    const d = L[i * n + i];
    for (let c = 0; c < o; c++) b[bi + c] /= d;
  }
}

type GramFn = (x: Float32Array, y: Float32Array, n: number, k: number, o: number) => Promise<{ xtx: Float32Array; xty: Float32Array }>;
const gramSessions = new Map<number, Promise<GramFn | undefined>>();

/** A two-Gemm graph: XᵀX and XᵀY of x [n, k], y [n, o]. */
function gramGraph(): Uint8Array {
  const vi = (name: string, dims: string[]) => ({ name, type: { tensor_type: { elem_type: DataType.FLOAT, shape: { dim: dims.map((d) => ({ dim_param: d })) } } } });
  const gemm = (b: string, out: string) => ({ op_type: 'Gemm', name: out, input: ['x', b], output: [out], attribute: [{ name: 'transA', type: 2, i: Long.fromNumber(1) }] });
  const model = {
    ir_version: Long.fromNumber(7),
    opset_import: [{ domain: '', version: Long.fromNumber(13) }],
    graph: { name: 'gram', node: [gemm('x', 'xtx'), gemm('y', 'xty')], input: [vi('x', ['n', 'k']), vi('y', ['n', 'o'])], output: [vi('xtx', ['k', 'k']), vi('xty', ['k', 'o'])] },
  };
  return ModelProtoType.encode(ModelProtoType.fromObject(model)).finish();
}

async function ortGram(threads: number): Promise<GramFn | undefined> {
  let s = gramSessions.get(threads);
  if (s) return s;
  s = (async (): Promise<GramFn | undefined> => {
    try {
      const ort: OrtModule = await loadOrt();
      const session: OrtSession = await ort.InferenceSession.create(gramGraph(), {
        intraOpNumThreads: threads,
        graphOptimizationLevel: 'all',
        extra: { session: { intra_op: { allow_spinning: '0' } } },
      });
      return async (x, y, n, k, o) => {
        const out = await session.run({ x: new ort.Tensor('float32', x.subarray(0, n * k), [n, k]), y: new ort.Tensor('float32', y.subarray(0, n * o), [n, o]) });
        return { xtx: out.xtx.data as Float32Array, xty: out.xty.data as Float32Array };
      };
    } catch {
      return undefined;
    }
  })();
  gramSessions.set(threads, s);
  return s;
}
