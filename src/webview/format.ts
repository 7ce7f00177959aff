// Number formatting for people: thousands separators, SI units, bytes, percentages.

const grouped = new Intl.NumberFormat('en-US');

/** 11689512 → "11,689,512". */
export function int(n: number): string {
  return grouped.format(Math.round(n));
}

/** 1.82e9 → "1.82 G", 3.5e6 → "3.50 M", 812 → "812". */
export function si(n: number, digits = 3): string {
  const a = Math.abs(n);
  const units: [number, string][] = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  for (const [v, u] of units) if (a >= v) return `${(n / v).toPrecision(digits)} ${u}`;
  return String(Math.round(n));
}

/** 44.6 MB, 812 KB, 96 B (decimal units, as file managers show). */
export function bytes(n: number): string {
  if (n >= 1e9) return `${(n / 1e9).toFixed(2)} GB`;
  if (n >= 1e6) return `${(n / 1e6).toFixed(1)} MB`;
  if (n >= 1e3) return `${(n / 1e3).toFixed(1)} KB`;
  return `${n} B`;
}

/** A score: 4 significant digits, exponent for tiny or huge values. */
export function score(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–';
  if (v === 0) return '0';
  const a = Math.abs(v);
  if (a < 1e-3 || a >= 1e5) return v.toExponential(2);
  return Number(v.toPrecision(4)).toString();
}

/** Fraction 0.4213 → "42.1%". */
export function pct(f: number, digits = 1): string {
  return `${(f * 100).toFixed(digits)}%`;
}

/** Change from before to after as a signed percentage: "−48.2%". */
export function change(before: number, after: number): string {
  if (before === 0) return '';
  const d = (after - before) / before;
  const s = (Math.abs(d) * 100).toFixed(1);
  return d < 0 ? `−${s}%` : d > 0 ? `+${s}%` : '±0%';
}

/** Milliseconds: "12.3 ms", "1.24 s". */
export function ms(v: number): string {
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 2 : 1)} ms`;
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
