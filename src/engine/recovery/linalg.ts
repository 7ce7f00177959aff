// The linear algebra of least-squares reconstruction: Gram products accumulated batch by batch,
// and a regularised float64 solve.
//
// Gram products. For rows X [n, k] (sampled input patches plus a constant 1 for the bias) and targets
// Y [n, o], XᵀX and XᵀY are summed in float64 over batches, so memory is k² + k·o whatever the
// number of inputs. Small products run in JavaScript; the others (n·k·(k + o) from 2·10⁶, e.g. a
// batch of 270 rows of a 3×3 conv reading 32 channels) run as one Gemm in ONNX Runtime (float32 within a
// batch, float64 across batches): on a 2-core machine a 2560 × 2304 batch takes about 0.3 s there
// against several seconds in a JavaScript loop, and with the threshold at 3·10⁷ the JavaScript loop
// was 9 of the 44 s of CPU time of ls on resnet18_bn (256 inputs at 224×224, batches of 27).
//
// Solve. (XᵀX + λ·D)·W = XᵀY by Cholesky in float64, D the identity on the weights and 0 on the bias
// column, λ = ridge · trace(XᵀX)/k (relative, so the same `ridge` suits any activation scale). A pivot
// that is not positive (a singular or ill-conditioned system) raises λ tenfold and retries: the result
// is regularised, never NaN. One factorisation serves every output column.
//
// Large systems factorise blocked (right-looking, blocks of 256): each diagonal block in JavaScript,
// the panel below it and the trailing update as float64 Gemms in ONNX Runtime. The unblocked
// JavaScript loop reads the whole factor once per row, so it is bound by memory traffic: a
// 2305-unknown system (a 3×3 conv reading 256 channels) took 10-30 s on a loaded 2-core machine,
// against under 1 s blocked. A non-positive pivot is found in its diagonal block, so a system that
// needs a larger λ fails early, before the rest of the work.
import Long from 'long';
import { DataType, ModelProtoType } from '../onnx/proto.ts';
import { computeGraph } from '../runtime/session.ts';

/** n·k·(k + o) (the products' multiply-adds) above which a batch's Gram products go to ONNX Runtime. */
const ORT_GRAM_MIN = 2e6;

/** Rows a Gram accumulator gathers (bytes of X and Y) before one ONNX Runtime product of them all. */
const PENDING_BYTES = 32 << 20;

export class GramAccumulator {
  /** XᵀX, k × k, row-major: the upper triangle while accumulating, whole after `finish`. */
  readonly xtx: Float64Array;
  /** XᵀY, k × o, row-major. */
  readonly xty: Float64Array;
  /** Rows added. */
  rows = 0;
  /**
   * Rows waiting for ONNX Runtime: batches are gathered up to PENDING_BYTES and multiplied at once, so
   * the float64 sums (k² additions) are updated once per gathering, not once per batch; for a
   * 4609-unknown layer that add-back cost more than the product.
   */
  private pending?: { x: Float32Array; y: Float32Array; n: number; threads: number };

  constructor(readonly k: number, readonly o: number, private readonly pendingBytes = PENDING_BYTES) {
    this.xtx = new Float64Array(k * k);
    this.xty = new Float64Array(k * o);
  }

  /** Adds `n` rows: x is [n, k], y is [n, o], row-major (both may be reused by the caller after this). */
  async add(x: Float32Array, y: Float32Array, n: number, threads = 1): Promise<void> {
    const { k, o } = this;
    this.rows += n;
    if (n * k * (k + o) >= ORT_GRAM_MIN && (await ortGram(threads))) {
      const cap = Math.max(n, Math.floor(this.pendingBytes / (4 * (k + o))));
      this.pending ??= { x: new Float32Array(cap * k), y: new Float32Array(cap * o), n: 0, threads };
      const p = this.pending;
      p.threads = threads;
      if ((p.n + n) * k > p.x.length) await this.flush();
      if (n * k > p.x.length) return this.product(x, y, n, threads);
      p.x.set(x.subarray(0, n * k), p.n * k);
      p.y.set(y.subarray(0, n * o), p.n * o);
      p.n += n;
      return;
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

  /** The products with every row added: XᵀX made whole (symmetric) and XᵀY. Call once, after the last `add`. */
  async finish(): Promise<{ xtx: Float64Array; xty: Float64Array }> {
    await this.flush();
    this.pending = undefined;
    symmetrize(this.xtx, this.k);
    return { xtx: this.xtx, xty: this.xty };
  }

  private async flush(): Promise<void> {
    const p = this.pending;
    if (!p?.n) return;
    await this.product(p.x, p.y, p.n, p.threads);
    p.n = 0;
  }

  /** XᵀX and XᵀY of n rows in ONNX Runtime (float32), added to the float64 sums. */
  private async product(x: Float32Array, y: Float32Array, n: number, threads: number): Promise<void> {
    const { k, o } = this;
    const gram = (await ortGram(threads))!;
    const { blocks, xty } = await gram(x, y, n, k, o);
    // The product's blocks (the whole matrix, or its upper blocks) added row by row: `finish` then
    // copies the upper triangle down.
    const G = this.xtx;
    for (const b of blocks)
      for (let r = 0; r < b.rows; r++) {
        const g = (b.row0 + r) * k + b.col0;
        const d = r * b.cols;
        for (let c = 0; c < b.cols; c++) G[g + c] += b.data[d + c];
      }
    const H = this.xty;
    for (let i = 0; i < k * o; i++) H[i] += xty[i];
  }
}

/** Copies the accumulated upper triangle of XᵀX to its lower triangle. */
function symmetrize(g: Float64Array, k: number): void {
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
export async function ridgeSolve(
  A: Float64Array,
  B: Float64Array,
  k: number,
  o: number,
  ridge: number,
  unregularised: readonly number[] = [],
  prior?: Float64Array,
  threads = 1,
): Promise<SolveResult> {
  let trace = 0;
  for (let i = 0; i < k; i++) trace += A[i * k + i];
  const scale = trace / Math.max(1, k) || 1;
  let lambda = ridge * scale;
  const free = new Set(unregularised);
  const L = new Float64Array(k * k);
  for (let raised = 0; ; raised++) {
    L.set(A);
    for (let i = 0; i < k; i++) L[i * k + i] += free.has(i) ? lambda * 1e-6 : lambda;
    // The diagonal blocks' inverses, computed by the factorisation and reused by the solve.
    const inverses: Float64Array[] = [];
    if (await choleskyBlocked(L, k, threads, inverses)) {
      const w = B.slice();
      if (prior) for (let i = 0; i < k; i++) {
        const d = free.has(i) ? lambda * 1e-6 : lambda;
        for (let c = 0; c < o; c++) w[i * o + c] += d * prior[i * o + c];
      }
      await choleskySolveBlocked(L, w, k, o, threads, inverses);
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

/** Systems with at least this many unknowns factorise blocked (`choleskyBlocked`). */
const BLOCKED_MIN = 512;
const BLOCK = 256;

/**
 * In-place Cholesky like `cholesky` (same result up to rounding, lower triangle), blocked: for each
 * block column, the diagonal block is factorised in JavaScript, then one ONNX Runtime run computes the
 * panel below it (L21 = A21·L11⁻ᵀ) and the trailing update (A22 − L21·L21ᵀ), in float64. Small
 * systems, or no ONNX Runtime, use the unblocked loop.
 */
export async function choleskyBlocked(a: Float64Array, n: number, threads = 1, inverses?: Float64Array[]): Promise<boolean> {
  if (n < BLOCKED_MIN) return cholesky(a, n);
  const step = await ortCholeskyStep(threads);
  if (!step) return cholesky(a, n);
  // The trailing matrix still to factorise, contiguous: rows/cols j0..n of the updated matrix (at
  // first `a` itself).
  let t: Float64Array = a;
  let m = n;
  for (let j0 = 0; j0 < n; j0 += BLOCK) {
    const b = Math.min(BLOCK, m);
    const rest = m - b;
    const d = diagonalBlock(t, m, 0, b);
    if (!cholesky(d, b)) return false;
    for (let i = 0; i < b; i++) a.set(d.subarray(i * b, i * b + i + 1), (j0 + i) * n + j0);
    if (!rest) {
      inverses?.push(invertLower(d, b));
      break;
    }
    const inv = invertLower(d, b);
    inverses?.push(inv);
    // (the step reads t's rows below the block only: those of `a` above were just written)
    const { l21, next } = await step(t, m, inv, b);
    for (let i = 0; i < rest; i++) a.set(l21.subarray(i * b, (i + 1) * b), (j0 + b + i) * n + j0);
    t = next;
    m = rest;
  }
  return true;
}

/** The lower triangle of the p × p diagonal block at row and column j0 of an n × n matrix, as a p × p matrix. */
function diagonalBlock(a: Float64Array, n: number, j0: number, p: number): Float64Array {
  const d = new Float64Array(p * p);
  for (let i = 0; i < p; i++) d.set(a.subarray((j0 + i) * n + j0, (j0 + i) * n + j0 + i + 1), i * p);
  return d;
}

/**
 * The inverse of a lower-triangular b × b matrix (row-major; only its lower triangle is read), row by
 * row: X[r, :] = (e_r − Σ_{j<r} L[r, j]·X[j, :]) / L[r, r], each step a contiguous row update.
 */
function invertLower(L: Float64Array, b: number): Float64Array {
  const x = new Float64Array(b * b);
  for (let r = 0; r < b; r++) {
    const xr = r * b;
    x[xr + r] = 1;
    for (let j = 0; j < r; j++) {
      const l = L[xr + j];
      if (l === 0) continue;
      const xj = j * b;
      for (let c = 0; c <= j; c++) x[xr + c] -= l * x[xj + c];
    }
    const d = 1 / L[xr + r];
    for (let c = 0; c <= r; c++) x[xr + c] *= d;
  }
  return x;
}

/**
 * `choleskySolve`, blocked like `choleskyBlocked` for large systems: per block of rows, the product
 * with the rows already solved is a float64 Gemm in ONNX Runtime (the unblocked loop streams the
 * whole right-hand side once per row: for 2305 unknowns and 256 outputs it cost more than the
 * factorisation).
 */
export async function choleskySolveBlocked(L: Float64Array, b: Float64Array, n: number, o: number, threads = 1, inverses?: readonly Float64Array[]): Promise<void> {
  if (n < BLOCKED_MIN) return choleskySolve(L, b, n, o);
  const step = await ortSolveStep(threads);
  if (!step) return choleskySolve(L, b, n, o);
  const starts: number[] = [];
  for (let j0 = 0; j0 < n; j0 += BLOCK) starts.push(j0);
  const inverse = (j0: number, p: number) => inverses?.[j0 / BLOCK] ?? invertLower(diagonalBlock(L, n, j0, p), p);
  // Forward: Y_J = L_JJ⁻¹·(B_J − L[J, 0:j0]·Y[0:j0]).
  for (const j0 of starts) {
    const p = Math.min(BLOCK, n - j0);
    const inv = inverse(j0, p);
    const c = b.slice(j0 * o, (j0 + p) * o);
    let a: Float64Array | undefined;
    if (j0 > 0) {
      a = new Float64Array(p * j0);
      for (let i = 0; i < p; i++) a.set(L.subarray((j0 + i) * n, (j0 + i) * n + j0), i * j0);
    }
    b.set(await step(a, b.subarray(0, j0 * o), c, inv, p, j0, o), j0 * o);
  }
  // Backward: X_J = L_JJ⁻ᵀ·(Y_J − L[j1:n, J]ᵀ·X[j1:n]).
  for (const j0 of starts.reverse()) {
    const p = Math.min(BLOCK, n - j0);
    const j1 = j0 + p;
    const inv = inverse(j0, p);
    const invT = new Float64Array(p * p);
    for (let i = 0; i < p; i++) for (let j = 0; j < p; j++) invT[i * p + j] = inv[j * p + i];
    const c = b.slice(j0 * o, j1 * o);
    const q = n - j1;
    let a: Float64Array | undefined;
    if (q > 0) {
      a = new Float64Array(p * q);
      for (let r = 0; r < q; r++) {
        const row = (j1 + r) * n + j0;
        for (let i = 0; i < p; i++) a[i * q + r] = L[row + i];
      }
    }
    b.set(await step(a, b.subarray(j1 * o, n * o), c, invT, p, q, o), j0 * o);
  }
}

/** Solves L·Lᵀ·X = B in place (B is n × o, row-major) with L from `cholesky`. */
export function choleskySolve(L: Float64Array, b: Float64Array, n: number, o: number): void {
  substitute(L, b, n, o, false);
  substitute(L, b, n, o, true);
}

/**
 * Triangular solve in place, row by row: L·Y = B (`transposed` false, rows first to last) or
 * Lᵀ·X = B (true, last to first), reading Lᵀ from L through swapped strides (no copy).
 */
function substitute(L: Float64Array, b: Float64Array, n: number, o: number, transposed: boolean): void {
  const [rowStride, colStride] = transposed ? [1, n] : [n, 1];
  for (let s = 0; s < n; s++) {
    const i = transposed ? n - 1 - s : s;
    const bi = i * o;
    // the rows already solved: before i going forward, after i going back (each in increasing order)
    const [from, to] = transposed ? [i + 1, n] : [0, i];
    for (let j = from; j < to; j++) {
      const l = L[i * rowStride + j * colStride];
      if (l === 0) continue;
      const bj = j * o;
      for (let c = 0; c < o; c++) b[bi + c] -= l * b[bj + c];
    }
    const d = L[i * n + i];
    for (let c = 0; c < o; c++) b[bi + c] /= d;
  }
}

/** A block of XᵀX: rows row0 … row0 + rows − 1, columns col0 … col0 + cols − 1 (row-major). */
interface GramBlock {
  row0: number;
  col0: number;
  rows: number;
  cols: number;
  data: Float32Array;
}

/** XᵀX as blocks covering at least its upper triangle, and XᵀY. */
type GramFn = (x: Float32Array, y: Float32Array, n: number, k: number, o: number) => Promise<{ blocks: GramBlock[]; xty: Float32Array }>;

/** A one-graph model of `nodes`, its inputs and outputs of element type `elemType` (unless an input names its own) with symbolic dims. */
function computeModel(name: string, elemType: number, node: object[], input: [string, string[], number?][], output: [string, string[]][]): Uint8Array {
  const vi = ([n, dims, type]: [string, string[], number?]) => ({ name: n, type: { tensor_type: { elem_type: type ?? elemType, shape: { dim: dims.map((d) => ({ dim_param: d })) } } } });
  const model = {
    ir_version: Long.fromNumber(7),
    opset_import: [{ domain: '', version: Long.fromNumber(13) }],
    graph: { name, node, input: input.map(vi), output: output.map(vi) },
  };
  return ModelProtoType.encode(ModelProtoType.fromObject(model)).finish();
}

/** A two-Gemm graph: XᵀX and XᵀY of x [n, k], y [n, o]. */
function gramGraph(): Uint8Array {
  const gemm = (b: string, out: string) => ({ op_type: 'Gemm', name: out, input: ['x', b], output: [out], attribute: [{ name: 'transA', type: 2, i: Long.fromNumber(1) }] });
  return computeModel('gram', DataType.FLOAT, [gemm('x', 'xtx'), gemm('y', 'xty')], [['x', ['n', 'k']], ['y', ['n', 'o']]], [['xtx', ['k', 'k']], ['xty', ['k', 'o']]]);
}

/** XᵀX by column blocks from 512 unknowns (two blocks), four from 1536. */
function gramBlocks(k: number): number {
  return k < 512 ? 1 : k < 1536 ? 2 : 4;
}

/**
 * XᵀX by B blocks of the columns, X = [X₁ … X_B]: the products XᵢᵀXⱼ for i ≤ j only (a symmetric
 * product needs only its upper blocks: (B + 1)/2B of the multiply-adds of one Gemm, three quarters
 * for two blocks, five eighths for four); and XᵀY. The block bounds are inputs b0 … b_B.
 */
function gramBlocksGraph(B: number): Uint8Array {
  const gemm = (a: string, b: string, out: string) => ({ op_type: 'Gemm', name: out, input: [a, b], output: [out], attribute: [{ name: 'transA', type: 2, i: Long.fromNumber(1) }] });
  const nodes: object[] = [];
  for (let i = 0; i < B; i++) nodes.push({ op_type: 'Slice', name: `x${i}`, input: ['x', `b${i}`, `b${i + 1}`, 'axis'], output: [`x${i}`] });
  const outputs: [string, string[]][] = [];
  for (let i = 0; i < B; i++)
    for (let j = i; j < B; j++) {
      nodes.push(gemm(`x${i}`, `x${j}`, `g${i}_${j}`));
      outputs.push([`g${i}_${j}`, [`s${i}`, `s${j}`]]);
    }
  nodes.push(gemm('x', 'y', 'xty'));
  const bounds: [string, string[], number][] = Array.from({ length: B + 1 }, (_, i) => [`b${i}`, ['one'], DataType.INT64]);
  return computeModel(`gram_${B}`, DataType.FLOAT, nodes, [['x', ['n', 'k']], ['y', ['n', 'o']], ...bounds, ['axis', ['one'], DataType.INT64]], [...outputs, ['xty', ['k', 'o']]]);
}

function ortGram(threads: number): Promise<GramFn | undefined> {
  return computeGraph('gram', threads, () => [gramGraph(), gramBlocksGraph(2), gramBlocksGraph(4)], (ort, [whole, two, four]): GramFn => async (x, y, n, k, o) => {
    const feed = { x: new ort.Tensor('float32', x.subarray(0, n * k), [n, k]), y: new ort.Tensor('float32', y.subarray(0, n * o), [n, o]) };
    const B = gramBlocks(k);
    if (B === 1) {
      const out = await whole.run(feed);
      return { blocks: [{ row0: 0, col0: 0, rows: k, cols: k, data: out.xtx.data as Float32Array }], xty: out.xty.data as Float32Array };
    }
    const one = (v: number) => new ort.Tensor('int64', BigInt64Array.of(BigInt(v)), [1]);
    const bounds = Array.from({ length: B + 1 }, (_, i) => Math.round((i * k) / B));
    const out = await (B === 2 ? two : four).run({ ...feed, ...Object.fromEntries(bounds.map((b, i) => [`b${i}`, one(b)])), axis: one(1) });
    // the upper blocks only: the sums' upper triangle is what counts
    const blocks: GramBlock[] = [];
    for (let i = 0; i < B; i++)
      for (let j = i; j < B; j++)
        blocks.push({ row0: bounds[i], col0: bounds[j], rows: bounds[i + 1] - bounds[i], cols: bounds[j + 1] - bounds[j], data: out[`g${i}_${j}`].data as Float32Array });
    return { blocks, xty: out.xty.data as Float32Array };
  });
}

/** For the m × m trailing matrix t and its first b × b block's inverse factor: L21 and the next trailing matrix. */
type CholeskyStep = (t: Float64Array, m: number, linv: Float64Array, b: number) => Promise<{ l21: Float64Array; next: Float64Array }>;

/** A21 and A22 sliced out of t, then L21 = A21·Linvᵀ and A22 − L21·L21ᵀ, in float64. */
function choleskyStepGraph(): Uint8Array {
  const int = (name: string, v: number) => ({ name, type: 2, i: Long.fromNumber(v) });
  return computeModel('cholesky_step', DataType.DOUBLE, [
    { op_type: 'Slice', name: 'a21', input: ['t', 'from21', 'to21'], output: ['a21'] },
    { op_type: 'Slice', name: 'a22', input: ['t', 'from22', 'to22'], output: ['a22'] },
    { op_type: 'Gemm', name: 'panel', input: ['a21', 'linv'], output: ['l21'], attribute: [int('transB', 1)] },
    { op_type: 'Gemm', name: 'update', input: ['l21', 'l21', 'a22'], output: ['next'], attribute: [int('transB', 1), { name: 'alpha', type: 1, f: -1 }] },
  ], [
    ['t', ['m', 'm']], ['linv', ['b', 'b']],
    ['from21', ['two'], DataType.INT64], ['to21', ['two'], DataType.INT64], ['from22', ['two'], DataType.INT64], ['to22', ['two'], DataType.INT64],
  ], [['l21', ['r', 'b']], ['next', ['r', 'r']]]);
}

function ortCholeskyStep(threads: number): Promise<CholeskyStep | undefined> {
  return computeGraph('cholesky_step', threads, () => [choleskyStepGraph()], (ort, [session]): CholeskyStep => async (t, m, linv, b) => {
    const pair = (x: number, y: number) => new ort.Tensor('int64', BigInt64Array.of(BigInt(x), BigInt(y)), [2]);
    const out = await session.run({
      t: new ort.Tensor('float64', t.subarray(0, m * m), [m, m]),
      linv: new ort.Tensor('float64', linv, [b, b]),
      from21: pair(b, 0),
      to21: pair(m, b),
      from22: pair(b, b),
      to22: pair(m, m),
    });
    return { l21: out.l21.data as Float64Array, next: out.next.data as Float64Array };
  });
}

/** inv·(c − a·x) with a [p, q], x [q, o], c [p, o], inv [p, p] (a and x absent when q = 0). */
type SolveStep = (a: Float64Array | undefined, x: Float64Array, c: Float64Array, inv: Float64Array, p: number, q: number, o: number) => Promise<Float64Array>;

function solveStepGraph(): Uint8Array {
  return computeModel('solve_step', DataType.DOUBLE, [
    { op_type: 'Gemm', name: 'rest', input: ['a', 'x', 'c'], output: ['r'], attribute: [{ name: 'alpha', type: 1, f: -1 }] },
    { op_type: 'MatMul', name: 'block', input: ['inv', 'r'], output: ['y'] },
  ], [['a', ['p', 'q']], ['x', ['q', 'o']], ['c', ['p', 'o']], ['inv', ['p', 'p']]], [['y', ['p', 'o']]]);
}

function ortSolveStep(threads: number): Promise<SolveStep | undefined> {
  return computeGraph('solve_step', threads, () => [solveStepGraph()], (ort, [session]): SolveStep => async (a, x, c, inv, p, q, o) => {
    if (!a || q === 0) {
      // The first block forward (last backward): no solved rows yet, just inv·c.
      const product = await ortProduct(threads);
      if (product) return product(inv, c, p, p, o);
      const y = new Float64Array(p * o);
      for (let i = 0; i < p; i++)
        for (let j = 0; j < p; j++) {
          const v = inv[i * p + j];
          if (v === 0) continue;
          for (let k = 0; k < o; k++) y[i * o + k] += v * c[j * o + k];
        }
      return y;
    }
    const out = await session.run({
      a: new ort.Tensor('float64', a, [p, q]),
      x: new ort.Tensor('float64', x.slice(), [q, o]),
      c: new ort.Tensor('float64', c, [p, o]),
      inv: new ort.Tensor('float64', inv, [p, p]),
    });
    return out.y.data as Float64Array;
  });
}

/** a·b in float64: a [m, k], b [k, n]. */
export type ProductFn = (a: Float64Array, b: Float64Array, m: number, k: number, n: number) => Promise<Float64Array>;

function productGraph(): Uint8Array {
  return computeModel('product', DataType.DOUBLE, [{ op_type: 'MatMul', name: 'ab', input: ['a', 'b'], output: ['c'] }], [['a', ['m', 'k']], ['b', ['k', 'n']]], [['c', ['m', 'n']]]);
}

/** A float64 matrix product in ONNX Runtime (undefined without it). */
export function ortProduct(threads: number): Promise<ProductFn | undefined> {
  return computeGraph('product', threads, () => [productGraph()], (ort, [session]): ProductFn => async (a, b, m, k, n) => {
    const out = await session.run({ a: new ort.Tensor('float64', a, [m, k]), b: new ort.Tensor('float64', b, [k, n]) });
    return out.c.data as Float64Array;
  });
}
