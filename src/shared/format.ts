// Numbers for people, one convention for the command line, the notifications and the view:
// counts with thousands separators, SI prefixes for parameters and MACs (three significant
// digits), sizes in binary units (KiB, MiB, GiB: what the memory figures and ONNX's 2 GiB limit
// use), signed percentage changes, milliseconds.

/** 11689512 → "11,689,512". */
export function count(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const s = Math.round(Math.abs(n)).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return n < 0 ? `-${s}` : s;
}

function significant(v: number): string {
  const a = Math.abs(v);
  return v.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : 2);
}

/** 1822177768 → "1.82 G", 95882 → "95.9 k", 512 → "512": three significant digits. */
export function si(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units: Array<[number, string]> = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  const a = Math.abs(n);
  for (const [scale, unit] of units) if (a >= scale) return `${significant(n / scale)} ${unit}`;
  return Number.isInteger(n) ? String(n) : significant(n);
}

/** 46827441 → "44.7 MiB", 812 → "812 B". */
export function bytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${significant(v)} ${units[i]}`;
}

/** Fraction 0.4213 → "42.1%". */
export function pct(f: number, digits = 1): string {
  return `${(f * 100).toFixed(digits)}%`;
}

/** Change from before to after as a signed percentage: "-48.2%", "+3.0%", "±0%"; empty when before is 0. */
export function change(before: number, after: number): string {
  if (before === 0) return '';
  const d = ((after - before) / before) * 100;
  const s = Math.abs(d).toFixed(1);
  return s === '0.0' ? '±0%' : d < 0 ? `-${s}%` : `+${s}%`;
}

/** Milliseconds: "0.84 ms", "12.3 ms", "1.24 s". */
export function ms(v: number): string {
  return v >= 1000 ? `${(v / 1000).toFixed(2)} s` : `${v.toFixed(v < 10 ? 2 : 1)} ms`;
}

/**
 * Where a layer without a BatchNorm right after it gets its γ (DenseNet's BN → ReLU → Conv after a
 * Concat): "γ from norm5 (its channel group's BatchNorm)", or with several "γ from a, b, c +2 (its
 * channel group's BatchNorms, their mean)" (at most `max` names).
 */
export function gammaFromWords(bns: readonly string[], max = 3): string {
  const list = bns.slice(0, max).join(', ') + (bns.length > max ? ` +${bns.length - max}` : '');
  return bns.length === 1 ? `γ from ${list} (its channel group's BatchNorm)` : `γ from ${list} (its channel group's BatchNorms, their mean)`;
}

/** Why a layer has no γ, without claiming a BatchNorm was folded when the model has BatchNorms. */
export const NO_GAMMA_WORDS = 'No BatchNorm scores this layer: none follows it, and its channel group has none';
