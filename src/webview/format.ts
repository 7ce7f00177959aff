// Number formatting for the view: what the CLI shares (src/shared/format.ts), plus scores, shapes and axis ticks.

// Counts, SI prefixes, sizes, percentages and times: the convention the CLI uses too.
export { count as int, si, bytes, pct, change, ms } from '../shared/format.ts';

/** A score: 4 significant digits, exponent for tiny or huge values. */
export function score(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}

export function shape(s: (number | string)[]): string {
  return `[${s.join(', ')}]`;
}

/**
 * Round tick values for a histogram axis from lo to hi: 1, 2 or 5 × 10^k steps on a linear axis,
 * powers of ten (or 1-2-5 within a decade when it spans less than two) on a log axis.
 */
export function niceTicks(lo: number, hi: number, log: boolean, count = 5): number[] {
  if (!(hi > lo) || !Number.isFinite(lo) || !Number.isFinite(hi)) return [];
  if (log && lo > 0) {
    const out: number[] = [];
    const a = Math.floor(Math.log10(lo)), b = Math.ceil(Math.log10(hi));
    const mults = b - a < 2 ? [1, 2, 5] : [1];
    for (let k = a; k <= b; k++) for (const m of mults) {
      const v = Number((m * 10 ** k).toPrecision(1));
      if (v >= lo && v <= hi) out.push(v);
    }
    if (out.length <= count + 1) return out;
    const every = Math.ceil(out.length / count);
    return out.filter((_, i) => i % every === 0);
  }
  const raw = (hi - lo) / count;
  const p = 10 ** Math.floor(Math.log10(raw));
  const step = [1, 2, 5, 10].map((m) => m * p).find((s) => s >= raw)!;
  const out: number[] = [];
  for (let v = Math.ceil(lo / step) * step; v <= hi + step * 1e-9; v += step) out.push(Number(v.toPrecision(12)));
  return out;
}
