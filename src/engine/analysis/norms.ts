// The norms pass over a weight's rows: every row's Σ|w| and Σw², and the per-index sums along axis 1
// that the groups need. Plain functions without imports or outer variables: parallel-norms.ts runs
// their own source text in worker threads.

/**
 * One pass over a block of `n` whole rows of a weight (each row `mid` × `inner` floats, `mid` being
 * the weight's axis 1): every row's sum|w| and sum w² (into l1, l2 and sq from row `first`) and,
 * when `part` is given, this block's per-index sums along axis 1 (written over part.l1 / part.sq).
 * sliceMagnitudes is this pass over a weight seen as [outer, n, inner].
 */
export function normsPass(
  block: Float32Array, n: number, mid: number, inner: number, first: number,
  l1: Float32Array, l2: Float32Array, sq: Float64Array, part?: { l1: Float64Array; sq: Float64Array },
): void {
  // Two loops in two functions: each is optimized for its own case, where one function holding
  // both was deoptimized (and ran unoptimized, allocating a number per operation) each time a
  // model's layers reached a branch it had not yet seen. Without `part` (a network's first layer,
  // FPGM's squared norms: about 2% of a model's weights) the per-index sums are made and dropped:
  // 1.5–1.9× the time of a loop without them on those rows, one loop fewer to keep.
  if (!part) {
    const cols = mid * inner;
    rowAndColumnSumsPass(block, n, cols, first, l1, l2, sq, new Float64Array(cols), new Float64Array(cols));
  } else if (inner === 1) rowAndColumnSumsPass(block, n, mid, first, l1, l2, sq, part.l1, part.sq);
  else rowAndSliceSumsPass(block, n, mid, inner, first, l1, l2, sq, part.l1, part.sq);
}

// Four rows at a time where possible: each row's sums still run in its own order, but four
// independent chains of additions keep the processor busy where one chain waits on each add.

/** normsPass with magnitudes when a row is `mid` floats (1×1 convs and Gemm). */
export function rowAndColumnSumsPass(
  block: Float32Array, n: number, mid: number, first: number,
  l1: Float32Array, l2: Float32Array, sq: Float64Array, pl1: Float64Array, psq: Float64Array,
): void {
  const cols = mid;
  pl1.fill(0);
  psq.fill(0);
  let o = 0;
  for (; o + 4 <= n; o += 4) {
    const b0 = o * cols;
    const b1 = b0 + cols;
    const b2 = b1 + cols;
    const b3 = b2 + cols;
    let a0 = 0, a1 = 0, a2 = 0, a3 = 0, s0 = 0, s1 = 0, s2 = 0, s3 = 0;
    for (let r = 0; r < mid; r++) {
      const v0 = block[b0 + r];
      const v1 = block[b1 + r];
      const v2 = block[b2 + r];
      const v3 = block[b3 + r];
      const x0 = Math.abs(v0);
      const x1 = Math.abs(v1);
      const x2 = Math.abs(v2);
      const x3 = Math.abs(v3);
      const q0 = v0 * v0;
      const q1 = v1 * v1;
      const q2 = v2 * v2;
      const q3 = v3 * v3;
      a0 += x0; a1 += x1; a2 += x2; a3 += x3;
      s0 += q0; s1 += q1; s2 += q2; s3 += q3;
      pl1[r] += x0 + x1 + x2 + x3;
      psq[r] += q0 + q1 + q2 + q3;
    }
    const i = first + o;
    l1[i] = a0; l1[i + 1] = a1; l1[i + 2] = a2; l1[i + 3] = a3;
    sq[i] = s0; sq[i + 1] = s1; sq[i + 2] = s2; sq[i + 3] = s3;
    l2[i] = Math.sqrt(s0); l2[i + 1] = Math.sqrt(s1); l2[i + 2] = Math.sqrt(s2); l2[i + 3] = Math.sqrt(s3);
  }
  for (; o < n; o++) {
    const base = o * cols;
    let a = 0;
    let s = 0;
    for (let r = 0; r < mid; r++) {
      const v = block[base + r];
      const x = Math.abs(v);
      const q = v * v;
      a += x;
      s += q;
      pl1[r] += x;
      psq[r] += q;
    }
    l1[first + o] = a;
    sq[first + o] = s;
    l2[first + o] = Math.sqrt(s);
  }
}

/**
 * normsPass with magnitudes when a row is `mid` slices of `inner` floats (k×k convs): the column sums
 * of every float (rowAndColumnSumsPass over rows of mid·inner columns), then each slice's `inner`
 * columns added in order. The rows' sums are the same additions in the same order as over whole
 * rows; an index's sum adds the same values, grouped by column first.
 */
export function rowAndSliceSumsPass(
  block: Float32Array, n: number, mid: number, inner: number, first: number,
  l1: Float32Array, l2: Float32Array, sq: Float64Array, pl1: Float64Array, psq: Float64Array,
): void {
  const cols = mid * inner;
  const cl1 = new Float64Array(cols);
  const csq = new Float64Array(cols);
  rowAndColumnSumsPass(block, n, cols, first, l1, l2, sq, cl1, csq);
  for (let r = 0; r < mid; r++) {
    let a = 0;
    let s = 0;
    for (let k = r * inner; k < (r + 1) * inner; k++) {
      a += cl1[k];
      s += csq[k];
    }
    pl1[r] = a;
    psq[r] = s;
  }
}
