// Canvas charts with chart.js: only the parts used are registered (bars on category and
// linear axes, tooltips), no animation, colours from the VS Code theme.
import { BarController, BarElement, CategoryScale, Chart, LinearScale, Tooltip, type ChartType, type Plugin } from 'chart.js';
import type { Histogram } from '../shared/protocol.ts';
import { niceTicks, score } from './format.ts';
import type { ChartTheme } from './theme.ts';


interface MarkerOptions {
  /** Fractional bar index (0 = left edge of the first bar) where the line goes, or undefined for none. */
  at?: number;
  color?: string;
  label?: string;
}

/** Draws a vertical marker (the plan's threshold) across the chart area. */
const marker: Plugin<'bar', MarkerOptions> = {
  id: 'marker',
  afterDatasetsDraw(chart, _args, opts) {
    if (opts.at === undefined) return;
    const x = chart.scales.x;
    const n = chart.data.labels?.length ?? 0;
    if (!x || n === 0) return;
    const left = x.getPixelForValue(0), right = x.getPixelForValue(n - 1);
    const step = n > 1 ? (right - left) / (n - 1) : 0;
    const px = left - step / 2 + opts.at * step;
    const { top, bottom } = chart.chartArea;
    const ctx = chart.ctx;
    ctx.save();
    ctx.strokeStyle = opts.color ?? 'orange';
    ctx.lineWidth = 2;
    ctx.setLineDash([5, 3]);
    ctx.beginPath();
    ctx.moveTo(px, top);
    ctx.lineTo(px, bottom);
    ctx.stroke();
    if (opts.label) {
      ctx.setLineDash([]);
      ctx.fillStyle = opts.color ?? 'orange';
      ctx.font = `11px ${chart.options.font?.family ?? 'sans-serif'}`;
      const w = ctx.measureText(opts.label).width;
      const tx = px + 4 + w > chart.chartArea.right ? px - 4 - w : px + 4;
      ctx.fillText(opts.label, tx, top + 11);
    }
    ctx.restore();
  },
};

Chart.register(BarController, BarElement, CategoryScale, LinearScale, Tooltip, marker);

/** Shades the columns of the channels the plan removes, so tiny removed scores stay visible. */
const shade: Plugin<'bar', { indices?: number[]; color?: string }> = {
  id: 'shade',
  beforeDatasetsDraw(chart, _args, opts) {
    const idx = opts.indices;
    if (!idx?.length) return;
    const meta = chart.getDatasetMeta(0);
    const { top, bottom } = chart.chartArea;
    const ctx = chart.ctx;
    ctx.save();
    ctx.fillStyle = opts.color ?? 'rgba(255,0,0,0.15)';
    ctx.globalAlpha = 0.22;
    for (const i of idx) {
      const bar = meta.data[i] as unknown as { x: number; width: number } | undefined;
      if (bar) ctx.fillRect(bar.x - bar.width / 2, top, Math.max(1, bar.width), bottom - top);
    }
    ctx.restore();
  },
};
Chart.register(shade);

declare module 'chart.js' {
  // eslint-disable-next-line @typescript-eslint/no-unused-vars
  interface PluginOptionsByType<TType extends ChartType> {
    marker?: MarkerOptions;
    shade?: { indices?: number[]; color?: string };
  }
}

function baseOptions(t: ChartTheme) {
  return {
    animation: false as const,
    responsive: true,
    maintainAspectRatio: false,
    font: { family: t.font },
    plugins: { legend: { display: false }, tooltip: { enabled: true } },
  };
}

/** Where a value falls along the bins, as a fractional bar index (log interpolation for log bins). */
export function binPosition(h: Histogram, value: number): number | undefined {
  const e = h.edges;
  if (e.length < 2 || !Number.isFinite(value)) return undefined;
  const f = (v: number) => (h.log ? Math.log10(Math.max(v, 1e-30)) : v);
  if (value <= e[0]!) return 0;
  if (value >= e[e.length - 1]!) return e.length - 1;
  for (let i = 0; i < e.length - 1; i++) {
    if (value < e[i + 1]!) {
      const a = f(e[i]!), b = f(e[i + 1]!);
      return i + (b > a ? (f(value) - a) / (b - a) : 0);
    }
  }
  return undefined;
}

/** The value below which `fraction` of the histogram's mass lies (interpolated in the bin). */
export function quantileOf(h: Histogram, fraction: number): number | undefined {
  const total = h.counts.reduce((a, b) => a + b, 0);
  if (!total) return undefined;
  const target = fraction * total;
  let acc = 0;
  for (let i = 0; i < h.counts.length; i++) {
    const c = h.counts[i]!;
    if (acc + c >= target && c > 0) {
      const t = (target - acc) / c;
      const a = h.edges[i]!, b = h.edges[i + 1]!;
      return h.log && a > 0 ? 10 ** (Math.log10(a) + t * (Math.log10(b) - Math.log10(a))) : a + t * (b - a);
    }
    acc += c;
  }
  return h.edges[h.edges.length - 1];
}

export class HistogramChart {
  private chart: Chart<'bar'> | undefined;
  constructor(private readonly canvas: HTMLCanvasElement) {}

  draw(h: Histogram, t: ChartTheme, mark?: { value: number; label: string }): void {
    this.canvas.dataset.theme = t.kind;
    this.canvas.dataset.barColor = t.bar;
    const labels = h.counts.map((_, i) => `${score(h.edges[i])} – ${score(h.edges[i + 1])}`);
    const at = mark ? binPosition(h, mark.value) : undefined;
    const roundLabels = new Map<number, string>();
    for (const v of niceTicks(h.edges[0]!, h.edges[h.edges.length - 1]!, h.log)) {
      const pos = binPosition(h, v);
      if (pos !== undefined && !roundLabels.has(Math.min(h.counts.length - 1, Math.floor(pos)))) roundLabels.set(Math.min(h.counts.length - 1, Math.floor(pos)), v !== 0 && Math.abs(v) < 1e-3 ? v.toExponential(0) : score(v));
    }
    this.canvas.dataset.ticks = [...roundLabels.values()].join(' ');
    this.chart?.destroy();
    this.chart = new Chart(this.canvas, {
      type: 'bar',
      data: { labels, datasets: [{ data: h.counts, backgroundColor: t.bar, borderWidth: 0, barPercentage: 1, categoryPercentage: 0.96 }] },
      options: {
        ...baseOptions(t),
        plugins: {
          legend: { display: false },
          tooltip: { callbacks: { title: (items) => `score ${items[0]?.label ?? ''}`, label: (item) => `${item.formattedValue} channels` } },
          marker: { at, color: t.threshold, label: mark?.label },
        },
        scales: {
          x: {
            // round values, each under the bin that holds it (the bins' own edges are odd numbers)
            ticks: { color: t.muted, maxRotation: 0, autoSkip: false, callback: (_v, i) => roundLabels.get(i) ?? '' },
            grid: { display: false },
            border: { color: t.grid },
          },
          y: { beginAtZero: true, ticks: { color: t.muted, precision: 0, maxTicksLimit: 5 }, grid: { color: t.grid }, border: { display: false } },
        },
      },
    });
  }

  destroy(): void {
    this.chart?.destroy();
    this.chart = undefined;
  }
}

/** Every channel's score, sorted ascending; channels the plan removes in the "removed" colour. */
export class ChannelChart {
  private chart: Chart<'bar'> | undefined;
  constructor(private readonly canvas: HTMLCanvasElement) {}

  draw(scores: number[], removed: ReadonlySet<number>, t: ChartTheme, criterionLabel: string): void {
    this.canvas.dataset.theme = t.kind;
    this.canvas.dataset.barColor = t.bar;
    const order = scores.map((_, i) => i).sort((a, b) => scores[a]! - scores[b]!);
    const colors = order.map((i) => (removed.has(i) ? t.removed : t.bar));
    this.chart?.destroy();
    this.chart = new Chart(this.canvas, {
      type: 'bar',
      data: { labels: order.map((i) => `#${i}`), datasets: [{ data: order.map((i) => scores[i]!), backgroundColor: colors, borderWidth: 0, barPercentage: 1, categoryPercentage: order.length > 64 ? 1 : 0.9 }] },
      options: {
        ...baseOptions(t),
        plugins: {
          legend: { display: false },
          shade: { indices: order.flatMap((ch, pos) => (removed.has(ch) ? [pos] : [])), color: t.removed },
          tooltip: { callbacks: { title: (items) => `channel ${items[0]?.label ?? ''}${removed.has(order[items[0]?.dataIndex ?? -1] ?? -1) ? ' (removed by the plan)' : ''}`, label: (item) => `${criterionLabel} ${score(item.raw as number)}` } },
        },
        scales: {
          x: { ticks: { color: t.muted, maxRotation: 0, autoSkip: true, maxTicksLimit: 8 }, grid: { display: false }, border: { color: t.grid } },
          y: { beginAtZero: true, ticks: { color: t.muted, maxTicksLimit: 4, callback: (v) => score(Number(v)) }, grid: { color: t.grid }, border: { display: false } },
        },
      },
    });
  }

  destroy(): void {
    this.chart?.destroy();
    this.chart = undefined;
  }
}
