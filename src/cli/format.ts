// Formatting for terminal output: counts with thousands separators, SI units, byte sizes,
// tensor shapes, and aligned tables.

// Counts, SI prefixes and sizes: the one convention shared with the view (src/shared/format.ts).
export { count as formatCount, si as formatSI, bytes as formatBytes } from '../shared/format.ts';

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
