// Formatting for terminal output: counts with thousands separators, SI units, byte sizes,
// tensor shapes, and aligned tables.

/** 11689512 -> "11,689,512". */
export function formatCount(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const neg = n < 0;
  const s = Math.round(Math.abs(n)).toString().replace(/\B(?=(\d{3})+(?!\d))/g, ',');
  return neg ? `-${s}` : s;
}

/** 1822177768 -> "1.82 G", 95882 -> "95.9 k", 512 -> "512"; three significant digits. */
export function formatSI(n: number): string {
  if (!Number.isFinite(n)) return String(n);
  const units: Array<[number, string]> = [[1e12, 'T'], [1e9, 'G'], [1e6, 'M'], [1e3, 'k']];
  const a = Math.abs(n);
  for (const [scale, unit] of units) if (a >= scale) return `${toSignificant(n / scale)} ${unit}`;
  return Number.isInteger(n) ? String(n) : toSignificant(n);
}

function toSignificant(v: number): string {
  const a = Math.abs(v);
  return v.toFixed(a >= 100 ? 0 : a >= 10 ? 1 : 2);
}

/** 46827441 -> "44.7 MiB". */
export function formatBytes(n: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let v = n;
  let i = 0;
  while (Math.abs(v) >= 1024 && i < units.length - 1) {
    v /= 1024;
    i++;
  }
  return i === 0 ? `${n} B` : `${toSignificant(v)} ${units[i]}`;
}

/** ["N", 3, 224, 224] -> "N×3×224×224"; [] -> "scalar"; undefined -> "?". */
export function formatShape(shape: ReadonlyArray<number | string> | undefined): string {
  if (!shape) return '?';
  if (shape.length === 0) return 'scalar';
  return shape.join('×');
}

export interface Column {
  header: string;
  /** Numbers read best right-aligned. */
  align?: 'left' | 'right';
}

/** Visible width of a string (code points; the shapes' "×" counts as one). */
function width(s: string): number {
  return [...s].length;
}

/** Rows of cells as aligned lines: a header, a rule, then the rows; columns separated by two spaces. */
export function formatTable(columns: Column[], rows: string[][]): string[] {
  const widths = columns.map((c, i) => Math.max(width(c.header), ...rows.map((r) => width(r[i] ?? ''))));
  const line = (cells: string[]) =>
    cells
      .map((cell, i) => {
        const pad = ' '.repeat(widths[i] - width(cell));
        return columns[i].align === 'right' ? pad + cell : cell + pad;
      })
      .join('  ')
      .trimEnd();
  return [line(columns.map((c) => c.header)), line(widths.map((w) => '-'.repeat(w))), ...rows.map((r) => line(columns.map((_, i) => r[i] ?? '')))];
}
