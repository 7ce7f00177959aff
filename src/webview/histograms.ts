// Score distributions: all layers together (with the plan's cut drawn on it) and the
// focused layer alone; linear or log scale; colours follow the VS Code theme.
import { LitElement, html, css, nothing, type PropertyValues } from 'lit';
import { customElement, property, state, query } from 'lit/decorators.js';
import { CRITERION_LABELS, PLAN_CRITERION_LABELS, isCriterion, isDataCriterion, type Criterion, type Histogram, type ViewPlan } from '../shared/protocol.ts';
import { HistogramChart, quantileOf } from './charts.ts';
import { pct, score } from './format.ts';
import type { HostClient } from './host.ts';
import { base } from './styles.ts';
import { onThemeChange, readTheme } from './theme.ts';

@customElement('score-histograms')
export class ScoreHistograms extends LitElement {
  static override styles = [
    base,
    css`
      :host { display: block; }
      .head { display: flex; gap: 10px; align-items: center; flex-wrap: wrap; margin-bottom: 6px; }
      .head h3 { margin: 0; }
      .charts { display: grid; grid-template-columns: 1fr 1fr; gap: 12px; }
      @container view (max-width: 700px) { .charts { grid-template-columns: 1fr; } }
      .chart { position: relative; height: 150px; }
      .title { font-size: 0.9em; margin-bottom: 2px; }
      select.native { width: auto; }
    `,
  ];

  @property({ attribute: false }) host!: HostClient;
  @property({ attribute: false }) plan!: ViewPlan;
  @property({ attribute: false }) layer: string | undefined;
  @property({ attribute: false }) available: Criterion[] = ['l1'];

  @state() private criterion: Criterion | undefined;
  /** The user's choice of scale; unset: log for BN γ (sparse γ pile up near 0, spread over decades), linear for the norms. */
  @state() private logChoice: boolean | undefined;
  private get log(): boolean {
    return this.logChoice ?? this.shown === 'bn-gamma';
  }
  @state() private global: Histogram | null | undefined;
  @state() private local: Histogram | null | undefined;
  @state() private error = '';

  @query('#global') private globalCanvas?: HTMLCanvasElement;
  @query('#local') private localCanvas?: HTMLCanvasElement;
  private charts = new Map<string, HistogramChart>();
  private stopTheme: (() => void) | undefined;
  private seq = { global: 0, local: 0 };

  override connectedCallback(): void {
    super.connectedCallback();
    const ui = this.host.ui;
    if (ui.histLog !== undefined) this.logChoice = ui.histLog;
    if (ui.histCriterion) this.criterion = ui.histCriterion as Criterion;
    this.stopTheme = onThemeChange(() => this.draw());
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.stopTheme?.();
    for (const c of this.charts.values()) c.destroy();
    this.charts.clear();
  }

  get shown(): Criterion {
    if (this.criterion && this.available.includes(this.criterion)) return this.criterion;
    const planned = this.plan.criterion;
    return isCriterion(planned) && this.available.includes(planned) ? planned : this.available[0] ?? 'l1';
  }

  /** The score under which the plan cuts, as far as the global distribution tells. */
  get cut(): { value: number; label: string } | undefined {
    if (this.shown !== this.plan.criterion) return undefined;
    if (this.plan.threshold !== undefined) return { value: this.plan.threshold, label: `threshold ${score(this.plan.threshold)}` };
    if (this.global && this.plan.ratio !== undefined && this.plan.scope === 'global') {
      const v = quantileOf(this.global, this.plan.ratio);
      if (v !== undefined) return { value: v, label: `global ${pct(this.plan.ratio, 0)} cut ≈ ${score(v)}` };
    }
    return undefined;
  }

  override willUpdate(changed: PropertyValues<this>): void {
    const critChanged = changed.has('available') || (changed.has('plan') && changed.get('plan')?.criterion !== this.plan.criterion);
    if (critChanged || !this.seq.global) void this.fetchGlobal();
    if (changed.has('layer') || critChanged) void this.fetchLocal();
  }

  private async fetchGlobal(): Promise<void> {
    const seq = ++this.seq.global;
    try {
      const h = await this.host.request('getHistogram', { criterion: this.shown, log: this.log, bins: 40 });
      if (seq === this.seq.global) this.global = h;
    } catch (e) {
      if (seq === this.seq.global) this.error = (e as Error).message;
    }
  }

  private async fetchLocal(): Promise<void> {
    const seq = ++this.seq.local;
    if (!this.layer) {
      this.local = undefined;
      return;
    }
    try {
      const h = await this.host.request('getHistogram', { criterion: this.shown, layer: this.layer, log: this.log, bins: 24 });
      if (seq === this.seq.local) this.local = h;
    } catch {
      if (seq === this.seq.local) this.local = null;
    }
  }

  private setCriterion(c: Criterion): void {
    this.criterion = c;
    this.host.save({ histCriterion: c });
    void this.fetchGlobal();
    void this.fetchLocal();
  }

  private setLog(on: boolean): void {
    this.logChoice = on;
    this.host.save({ histLog: on });
    void this.fetchGlobal();
    void this.fetchLocal();
  }

  override updated(): void {
    this.draw();
  }

  private draw(): void {
    const t = readTheme();
    const one = (key: string, canvas: HTMLCanvasElement | undefined, h: Histogram | null | undefined, mark?: { value: number; label: string }) => {
      if (!canvas || !h) {
        this.charts.get(key)?.destroy();
        this.charts.delete(key);
        return;
      }
      let c = this.charts.get(key);
      if (!c) this.charts.set(key, (c = new HistogramChart(canvas)));
      c.draw(h, t, mark);
    };
    one('global', this.globalCanvas, this.global, this.cut);
    const localCut = this.plan.threshold !== undefined || this.plan.scope === 'global' ? this.cut : this.local && this.plan.ratio !== undefined && this.shown === this.plan.criterion
      ? (() => { const v = quantileOf(this.local!, this.plan.ratio!); return v === undefined ? undefined : { value: v, label: `${pct(this.plan.ratio!, 0)} of this layer` }; })()
      : undefined;
    one('local', this.localCanvas, this.local, localCut);
  }

  override render() {
    const c = this.shown;
    return html`
      <div class="head">
        <h3>Score distribution</h3>
        <select class="native" aria-label="Score shown in the histograms" .value=${c} @change=${(e: Event) => this.setCriterion((e.target as HTMLSelectElement).value as Criterion)}>
          ${this.available.map((k) => html`<option value=${k} ?selected=${k === c}>${CRITERION_LABELS[k].short}</option>`)}
        </select>
        <vscode-checkbox .checked=${this.log} @change=${(e: Event) => this.setLog((e.target as HTMLInputElement).checked)} label="log scale"></vscode-checkbox>
        ${this.error ? html`<span class="error">${this.error}</span>` : nothing}
      </div>
      ${isCriterion(this.plan.criterion)
        ? nothing
        : html`<div class="muted hint" data-plan-criterion-note>The plan ranks by ${PLAN_CRITERION_LABELS[this.plan.criterion].short}: one score per channel group, ${isDataCriterion(this.plan.criterion) ? 'measured on the calibration inputs when the preview or Prune needs it' : 'computed when the preview or Prune needs it'}. The charts and the table show the weight criteria; the preview and the layer's channel chart show what the plan removes.</div>`}
      <div class="charts">
        <div>
          <div class="title muted">All prunable layers${this.plan.threshold === undefined && this.plan.scope === 'uniform' && this.shown === this.plan.criterion ? html` · uniform: each layer is cut at its own ${pct(this.plan.ratio ?? 0, 0)}` : nothing}</div>
          <div class="chart">${this.global === null ? html`<div class="muted">No ${CRITERION_LABELS[c].short} in this model.</div>` : html`<canvas id="global" role="img" aria-label=${`Distribution of ${CRITERION_LABELS[c].short} over all layers`}></canvas>`}</div>
        </div>
        <div>
          <div class="title muted ellipsis" title=${this.layer ?? ''}>${this.layer ? `Layer ${this.layer}` : 'Select a layer in the table to see its distribution'}</div>
          <div class="chart">${this.layer && this.local !== null ? html`<canvas id="local" role="img" aria-label=${`Distribution of ${CRITERION_LABELS[c].short} in ${this.layer}`}></canvas>` : this.layer ? html`<div class="muted">No ${CRITERION_LABELS[c].short} for this layer.</div>` : nothing}</div>
        </div>
      </div>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'score-histograms': ScoreHistograms;
  }
}
