// Inline inspection of one layer: every channel's score sorted as bars (the channels the
// plan removes highlighted), its coupled group (members clickable) and why a group is frozen.
import { LitElement, html, css, nothing, type PropertyValues } from 'lit';
import { customElement, property, state, query } from 'lit/decorators.js';
import { CRITERION_LABELS, PLAN_CRITERION_LABELS, isCriterion, type Criterion, type LayerDetail, type LayerRow, type ViewPlan } from '../shared/protocol.ts';
import { ChannelChart } from './charts.ts';
import { int } from './format.ts';
import { gammaFromWords, NO_GAMMA_WORDS } from '../shared/format.ts';
import type { HostClient } from './host.ts';
import { base } from './styles.ts';
import { onThemeChange, readTheme } from './theme.ts';


@customElement('layer-detail')
export class LayerDetailView extends LitElement {
  static override styles = [
    base,
    css`
      :host { display: block; padding: 8px 12px 12px 28px; border-bottom: 1px solid var(--vscode-panel-border, rgba(128,128,128,0.35));
        background: var(--vscode-textBlockQuote-background, transparent); }
      .top { display: flex; gap: 12px; align-items: baseline; flex-wrap: wrap; margin-bottom: 6px; }
      .crit button { all: unset; cursor: pointer; padding: 1px 6px; border-radius: 3px; border: 1px solid transparent; }
      .crit button[aria-pressed='true'] { border-color: var(--vscode-focusBorder); background: var(--vscode-list-inactiveSelectionBackground); }
      .crit button:focus-visible { outline: 1px solid var(--vscode-focusBorder); }
      .chart { position: relative; height: 140px; max-width: 900px; }
      .legend { display: flex; gap: 12px; font-size: 0.9em; margin-top: 4px; }
      .legend > span:not(:last-child) { flex: none; white-space: nowrap; }
      .sw { display: inline-block; width: 10px; height: 10px; margin-right: 4px; vertical-align: -1px; }
      .group { margin-top: 8px; }
      .members { display: flex; flex-wrap: wrap; gap: 4px 12px; margin-top: 4px; }
      .frozen { margin-top: 6px; }
    `,
  ];

  @property({ attribute: false }) host!: HostClient;
  @property({ attribute: false }) layer!: LayerRow;
  @property({ attribute: false }) plan!: ViewPlan;

  @state() private detail: LayerDetail | undefined;
  @state() private criterion: Criterion | undefined;
  @state() private error = '';
  @query('canvas') private canvas?: HTMLCanvasElement;

  private chart: ChannelChart | undefined;
  private timer: ReturnType<typeof setTimeout> | undefined;
  private seq = 0;
  private stopTheme: (() => void) | undefined;

  override connectedCallback(): void {
    super.connectedCallback();
    this.stopTheme = onThemeChange(() => this.drawChart());
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.stopTheme?.();
    this.chart?.destroy();
    this.chart = undefined;
    clearTimeout(this.timer);
  }

  override willUpdate(changed: PropertyValues<this>): void {
    if (changed.has('layer') && changed.get('layer')?.name !== this.layer.name) {
      this.detail = undefined;
      void this.fetch();
    } else if (changed.has('plan') && changed.get('plan') !== undefined) {
      clearTimeout(this.timer);
      this.timer = setTimeout(() => void this.fetch(), 200);
    }
  }

  private async fetch(): Promise<void> {
    const seq = ++this.seq;
    try {
      const d = await this.host.request('getLayerDetail', { layer: this.layer.name, plan: this.layer.prunable ? this.plan : undefined });
      if (seq !== this.seq) return;
      this.detail = d;
      this.error = '';
    } catch (e) {
      if (seq === this.seq) this.error = (e as Error).message;
    }
  }

  private get shown(): Criterion | undefined {
    const have = Object.keys(this.detail?.scores ?? {}) as Criterion[];
    if (this.criterion && have.includes(this.criterion)) return this.criterion;
    const planned = this.plan.criterion;
    if (isCriterion(planned) && have.includes(planned)) return planned;
    return have[0];
  }

  override updated(): void {
    this.drawChart();
  }

  private drawChart(): void {
    const c = this.shown;
    const scores = c ? this.detail?.scores[c] : undefined;
    if (!this.canvas || !scores || !c) return;
    this.chart ??= new ChannelChart(this.canvas);
    this.chart.draw(scores, new Set(this.detail!.removed), readTheme(), CRITERION_LABELS[c].short);
  }

  private reveal(layer: string): void {
    this.dispatchEvent(new CustomEvent('reveal-layer', { detail: { layer }, bubbles: true, composed: true }));
  }

  override render() {
    if (this.error) return html`<div class="error">Could not load the channels of ${this.layer.name}: ${this.error}</div>`;
    const d = this.detail;
    if (!d) return html`<div class="muted">Loading channels…</div>`;
    const c = this.shown;
    const have = Object.keys(d.scores) as Criterion[];
    const removed = d.removed.length;
    const g = d.group;
    const others = g ? g.layers.filter((l) => l !== d.name) : [];
    return html`
      <div class="top">
        <span><strong>${int(d.channels)}</strong> channels${this.layer.prunable ? html`, <strong class=${removed ? 'after' : ''}>${int(removed)}</strong> removed by the plan, ${int(d.channels - removed)} kept` : nothing}</span>
        <span class="crit" role="group" aria-label="Score shown">
          ${have.map((k) => html`<button aria-pressed=${k === c ? 'true' : 'false'} @click=${() => { this.criterion = k; }}>${CRITERION_LABELS[k].short}</button>`)}
        </span>
        ${this.layer.gammaFrom
          ? html`<span class="muted" data-gamma-from>${gammaFromWords(this.layer.gammaFrom, 8)}: no BatchNorm right after this layer; its γ is the |γ| the BatchNorms of its channel group give its channels, what a BN γ plan ranks them by.</span>`
          : !d.scores['bn-gamma'] ? html`<span class="muted" data-no-gamma>${NO_GAMMA_WORDS}${this.layer.bnFused ? ' (if one was folded into this layer at export, its filter norms include γ/√(var+ε))' : ''}.</span>` : nothing}
      </div>
      ${c
        ? html`<div class="chart"><canvas role="img" data-channels=${this.detail?.scores[c]?.length ?? 0} aria-label=${`${CRITERION_LABELS[c].short} of each of the ${d.channels} channels, sorted ascending; ${removed} removed by the plan`}></canvas></div>
          <div class="legend muted"><span><span class="sw" style="background: var(--vscode-charts-blue, #3794ff)"></span>kept</span>
          <span><span class="sw" style="background: var(--vscode-charts-red, #f14c4c)"></span>removed by the plan</span><span>channels sorted by this layer's ${CRITERION_LABELS[c].short}, lowest first${notLowest(d.scores[c], d.removed)
            ? html` — <span class="decides">removed bars sit between kept ones: ${others.length ? `the group's score decides (this layer's and ${others.length} coupled layer${others.length === 1 ? "'s" : "s'"} together)` : `the plan's criterion (${PLAN_CRITERION_LABELS[this.plan.criterion].short}) decides`}, not this chart's order</span>`
            : nothing}</span></div>`
        : html`<div class="muted">No channel scores for this layer.</div>`}
      ${g
        ? html`<div class="group">
            <span>Coupled group <strong>#${g.id}</strong>: ${int(g.channels)} channels${others.length ? html`, pruned together with ${others.length} other layer${others.length === 1 ? '' : 's'}:` : ' used by this layer alone'}${g.members.length > g.layers.length ? html` <span class="muted">(${g.members.length} nodes in all: ${[...new Set(g.members.map((m) => m.op))].join(', ')})</span>` : nothing}</span>
            ${others.length ? html`<div class="members">${others.map((l) => html`<button class="link" title=${`Show ${l}`} @click=${() => this.reveal(l)}>${l}</button>`)}</div>` : nothing}
            ${g.prunable ? nothing : html`<div class="frozen warning">Frozen: ${g.reason ?? 'the analysis does not understand how its channels are used'}. These channels are never pruned.</div>`}
          </div>`
        : this.layer.frozenReason ? html`<div class="frozen warning">Frozen: ${this.layer.frozenReason}</div>` : nothing}
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'layer-detail': LayerDetailView;
  }
}

/** The removed channels are not the lowest-scored ones of this chart (another score decides). */
export function notLowest(scores: readonly number[] | undefined, removed: readonly number[]): boolean {
  if (!scores || !removed.length) return false;
  const cut = [...scores].sort((a, b) => a - b)[removed.length - 1]!;
  return removed.some((i) => scores[i]! > cut);
}
