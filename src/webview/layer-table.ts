// The layer table: one row per weighted layer, pages fetched from the host as the user
// scrolls (virtualised), sortable by any column, filterable, keyboard navigable, rows
// expand into the channel inspection.
import { LitElement, html, css, nothing, type PropertyValues } from 'lit';
import { customElement, property, state, query } from 'lit/decorators.js';
import '@lit-labs/virtualizer';
import type { LitVirtualizer } from '@lit-labs/virtualizer/LitVirtualizer.js';
import type { RangeChangedEvent } from '@lit-labs/virtualizer/events.js';
import { FIRST_LAYER_QUERY, LAYER_PAGE, type Criterion, type LayerPage, type LayerQuery, type LayerRow, type SortKey, type ViewPlan } from '../shared/protocol.ts';
import type { HostClient } from './host.ts';
import { int, score, si } from './format.ts';
import { gammaFromWords, NO_GAMMA_WORDS } from '../shared/format.ts';
import { base } from './styles.ts';
import './layer-detail.ts';

export const PAGE = LAYER_PAGE;
/** performance.mark name: the first layer rows are rendered (read by the view benchmark). */
export const FIRST_ROWS_MARK = 'onnx-pruner:first-rows';

interface Column {
  key: SortKey;
  label: string;
  title: string;
  num?: boolean;
  /** A score column: marked when it is the plan's criterion. */
  criterion?: Criterion;
  cell(r: LayerRow, t: LayerTable): unknown;
}

/** A score cell: '…' while the channels are being scored. */
const pending = (t: LayerTable, cell: () => unknown) => (t.scoring ? html`<span class="muted" title="Scoring channels…">…</span>` : cell());

/**
 * A γ cell: the value, in italics with where it comes from when a BatchNorm elsewhere in its group
 * scores the layer (DenseNet's BN → ReLU → Conv after a Concat); '–' with why when none scores it.
 */
function gammaCell(r: LayerRow, value: unknown, title?: string) {
  if (!r.stats['bn-gamma']) return html`<span class="muted" data-no-gamma title=${r.gammaFrom ? gammaFromWords(r.gammaFrom, 8) : NO_GAMMA_WORDS}>–</span>`;
  if (!r.gammaFrom) return title ? html`<span title=${title}>${value}</span>` : value;
  return html`<span class="from" data-gamma-from=${r.gammaFrom.join(' ')} title=${`${gammaFromWords(r.gammaFrom, 8)}: no BatchNorm right after this layer; this is the |γ| the BatchNorms of its channel group give its channels, what a BN γ plan ranks them by${title ? `. ${title}` : ''}`}>${value}</span>`;
}

/**
 * The columns a decision needs fit a 1000 px table (a 1400 px window with the side bar open):
 * the layer, its cost (channels, parameters, MACs), the plan, and one column per criterion with
 * the median of its channels' scores — the columns of `onnx-pruner inspect`, plus L2 and FPGM.
 * BatchNorm γ also gets the count of channels near zero (what Network Slimming removes). The
 * spread (min, quartiles, max) is in each score cell's tooltip; every channel is in the
 * expanded row's chart.
 */
const COLUMNS: Column[] = [
  { key: 'name', label: 'Layer', title: 'Layer (node) name', cell: (r) => html`<span class="ellipsis name" dir="rtl" title=${`${r.name} (${r.op})`}>${`\u200e${r.name}\u200e`}</span>` },
  { key: 'op', label: 'Op', title: 'Operator type', cell: (r) => html`<span title=${r.op}>${r.op}</span>` },
  { key: 'channels', label: 'Channels', title: 'Output channels (→ after the plan)', num: true, cell: (r, t) => t.channelsCell(r) },
  { key: 'params', label: 'Params', title: 'Parameters of the layer', num: true, cell: (r) => html`<span title=${int(r.params)}>${si(r.params)}</span>` },
  { key: 'macs', label: 'MACs', title: 'Multiply-accumulates at batch 1', num: true, cell: (r) => html`<span title=${int(r.macs)}>${si(r.macs)}</span>` },
  { key: 'bn-gamma.median', label: 'γ median', title: 'BatchNorm |γ|: median (min, quartiles and max in the tooltip)', num: true, criterion: 'bn-gamma', cell: (r, t) => pending(t, () => rangeCell(r, 'bn-gamma')) },
  { key: 'bn-gamma.below', label: 'γ<1e-2', title: 'Channels with |γ| below 0.01 (below 0.001 / 0.05 in the tooltip)', num: true, criterion: 'bn-gamma', cell: (r, t) => pending(t, () => belowCell(r)) },
  { key: 'l1.median', label: 'L1 med', title: 'L1 norm of the filters: median (min, quartiles and max in the tooltip)', num: true, criterion: 'l1', cell: (r, t) => pending(t, () => rangeCell(r, 'l1')) },
  { key: 'l2.median', label: 'L2 med', title: 'L2 norm of the filters: median (min, quartiles and max in the tooltip)', num: true, criterion: 'l2', cell: (r, t) => pending(t, () => rangeCell(r, 'l2')) },
  { key: 'fpgm.median', label: 'FPGM med', title: 'Distance to the other filters (geometric median): median (min, quartiles and max in the tooltip)', num: true, criterion: 'fpgm', cell: (r, t) => pending(t, () => rangeCell(r, 'fpgm')) },
  { key: 'group', label: 'Group', title: 'Coupled channel group', num: true, cell: (r) => (r.groupId === null ? '–' : String(r.groupId)) },
];

function belowCell(r: LayerRow) {
  const s = r.stats['bn-gamma'];
  return gammaCell(r, s?.below['1e-2'], s ? `|γ| < 1e-3: ${s.below['1e-3']}, < 1e-2: ${s.below['1e-2']}, < 5e-2: ${s.below['5e-2']}` : undefined);
}

function rangeCell(r: LayerRow, c: Criterion) {
  const s = r.stats[c];
  const spread = s ? `min ${score(s.min)} · q1 ${score(s.q1)} · median ${score(s.median)} · q3 ${score(s.q3)} · max ${score(s.max)}` : undefined;
  if (c === 'bn-gamma') return gammaCell(r, score(s?.median), spread);
  if (!s) {
    // FPGM (pairwise filter distances) is the costly criterion: the host computes it when first asked for
    return html`<span class="muted" title=${c === 'fpgm' ? 'Not computed yet: sort by this column, or choose FPGM as the criterion' : 'No score'}>–</span>`;
  }
  return html`<span title=${spread}>${score(s.median)}</span>`;
}

const RATIOS = [0.1, 0.25, 0.5, 0.75, 0.9];
/** The per-layer plan column comes right after Channels, so it stays in view. */
const PLAN_AFTER = COLUMNS.findIndex((c) => c.key === 'channels') + 1;

@customElement('layer-table')
export class LayerTable extends LitElement {
  static override styles = [
    base,
    css`
      :host { display: flex; flex-direction: column; min-height: 0; }
      .toolbar { display: flex; gap: 8px; align-items: center; margin-bottom: 6px; flex-wrap: wrap; }
      .toolbar vscode-textfield { flex: 1 1 200px; max-width: 360px; }
      .count { white-space: nowrap; }
      .wrap { overflow-x: auto; overflow-y: hidden; flex: 1 1 auto; display: flex; flex-direction: column; min-height: 0;
        border: 1px solid var(--vscode-panel-border, rgba(128,128,128,0.35)); border-radius: 3px; }
      .wrap { container: table / inline-size; }
      .grid { min-width: var(--table-min, 950px); display: flex; flex-direction: column; flex: 1 1 auto; min-height: 0; }
      .row { display: grid; grid-template-columns: 22px minmax(150px, 1fr) 52px 84px 76px 58px 58px 72px 56px 58px 58px 80px 48px;
        align-items: center; min-height: 24px; column-gap: 6px; padding-right: 6px; cursor: default; }
      /* Narrower than every column (a 1280 px window with the side bar open): the Op and Group
         columns give way to the scores (the op is in the layer's tooltip, the group in the
         expanded row); narrower still, the table scrolls sideways with the layer names kept. */
      @container table (max-width: 949.98px) {
        .grid { min-width: var(--table-min-narrow, 838px); }
        .row { grid-template-columns: 22px minmax(150px, 1fr) 84px 76px 58px 58px 72px 56px 58px 58px 80px; }
        .row > :nth-child(3), .row > :nth-child(13) { display: none; }
      }
      .head { font-weight: 600; border-bottom: 1px solid var(--vscode-panel-border, rgba(128,128,128,0.35));
        background: var(--vscode-editor-background); position: sticky; top: 0; z-index: 1; }
      .head { font-size: 0.92em; }
      .head button { all: unset; cursor: pointer; display: block; box-sizing: border-box; width: 100%; padding: 4px 0; white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
      .head .num button { text-align: right; }
      .head button:focus-visible { outline: 1px solid var(--vscode-focusBorder); }
      .head .arrow { font-size: 0.8em; opacity: 0.8; margin-left: 1px; }
      /* the score columns of the plan's criterion */
      .head .active button { color: var(--vscode-textLink-foreground); }
      lit-virtualizer { flex: 1 1 auto; min-height: 120px; height: var(--table-height, max(420px, calc(100vh - 380px))); }
      .item { width: 100%; }
      .body .row { border-bottom: 1px solid transparent; }
      .body .row:hover { background: var(--vscode-list-hoverBackground); }
      .body .row:focus { outline: 1px solid var(--vscode-list-focusOutline, var(--vscode-focusBorder)); outline-offset: -1px; }
      .body .row.focused { background: var(--vscode-list-inactiveSelectionBackground); outline: 1px dotted var(--vscode-contrastActiveBorder, transparent); outline-offset: -1px; }
      .name { text-align: left; }
      .body .row.frozen .name { opacity: 0.75; }
      .body .row.placeholder { color: var(--vscode-descriptionForeground); }
      .row > :nth-child(1), .row > :nth-child(2) { position: sticky; z-index: 1; background: var(--vscode-editor-background); align-self: stretch; display: flex; align-items: center; }
      .row > :nth-child(1) { left: 0; }
      .row > :nth-child(2) { left: 28px; }
      /* The body rows live in the virtualizer, its own scroll container, so sticky does not hold them
         while .wrap scrolls sideways: they follow --sx, the sideways scroll (set on scroll). */
      .body .row > :nth-child(1), .body .row > :nth-child(2), .body layer-detail { position: relative; left: auto; transform: translateX(var(--sx, 0px)); }
      .body .row > :nth-child(1), .body .row > :nth-child(2) { z-index: 2; }
      .body .row:hover > :nth-child(-n+2) { background: var(--vscode-list-hoverBackground); }
      .body .row.focused > :nth-child(-n+2) { background: var(--vscode-list-inactiveSelectionBackground); }
      .twisty { width: 22px; justify-content: center; text-align: center; cursor: pointer; user-select: none; opacity: 0.8; }
      .after { color: var(--vscode-charts-red, var(--vscode-errorForeground)); }
      .from { font-style: italic; }
      .frozen-tag { display: inline-flex; align-items: center; gap: 3px; font-size: 0.85em; color: var(--vscode-descriptionForeground); white-space: nowrap; overflow: hidden; text-overflow: ellipsis; }
      .empty { padding: 16px; }
      layer-detail { display: block; width: var(--wrap-width, 100%); max-width: 100%; }
      .cell-ctl select { width: 100%; background: transparent; border-color: transparent; color: var(--vscode-descriptionForeground); }
      .cell-ctl select.set { color: var(--vscode-foreground); font-weight: 600; border-color: var(--vscode-dropdown-border, transparent); }
      .body .row:hover .cell-ctl select, .body .row.focused .cell-ctl select, .cell-ctl select:focus {
        background: var(--vscode-dropdown-background); border-color: var(--vscode-dropdown-border, transparent); color: var(--vscode-dropdown-foreground); }
    `,
  ];

  @property({ attribute: false }) host!: HostClient;
  @property({ attribute: false }) plan!: ViewPlan;
  /** Channels after the plan, by layer name (from the live preview). */
  @property({ attribute: false }) widths: ReadonlyMap<string, number> = new Map();
  @property({ type: Boolean }) pruneable = true;
  /** The channels are being scored: score cells show '…' until the rows are fetched again. */
  @property({ type: Boolean }) scoring = false;

  @state() private total = 0;
  @state() private loaded = false;
  @state() private sort: { key: SortKey; descending: boolean } = { ...FIRST_LAYER_QUERY.sort! };
  @state() private filter = '';
  @state() private expanded = new Set<string>();
  @state() private focusIndex = 0;
  @state() private version = 0;
  @state() private error = '';

  @query('lit-virtualizer') private virtualizer?: LitVirtualizer;

  private rows = new Map<number, LayerRow>();
  /** Criteria whose scores were fetched again (once per scoring of the model). */
  private refreshed = new Set<Criterion>();
  private loadingPages = new Set<number>();
  private generation = 0;
  private items: number[] = [];
  private filterTimer: ReturnType<typeof setTimeout> | undefined;
  private restoredScroll = false;
  private observed = false;
  private resize = new ResizeObserver((entries) => {
    for (const e of entries) this.style.setProperty('--wrap-width', `${Math.floor(e.contentRect.width)}px`);
  });

  override connectedCallback(): void {
    super.connectedCallback();
    const ui = this.host.ui;
    if (ui.sort) this.sort = ui.sort;
    if (ui.filter) this.filter = ui.filter;
    if (ui.expanded) this.expanded = new Set(ui.expanded);
    this.reload();
  }

  override disconnectedCallback(): void {
    super.disconnectedCallback();
    this.resize.disconnect();
    this.observed = false;
  }

  /** Drops the cached rows and fetches the first page again (sort, filter or model changed). */
  reload(): void {
    this.generation++;
    this.rows.clear();
    this.loadingPages.clear();
    this.loadPage(0);
  }

  /** Fetches the rows again when none of those loaded has scores by this criterion (computed by the host since). */
  refreshScores(c: Criterion): void {
    if (!this.rows.size || this.scoring || this.refreshed.has(c)) return;
    for (const r of this.rows.values()) if (r.stats[c]) return;
    this.refreshed.add(c);
    this.reload();
  }

  /**
   * The first page the host sent ahead of the view's own request: shown when it answers the query
   * this table is about to make (no rows yet, same sort, no filter). The request's answer follows.
   */
  offerFirstPage(q: LayerQuery, page: LayerPage): void {
    if (this.loaded || this.filter || q.offset !== 0 || q.limit !== PAGE || q.filter) return;
    if (q.sort?.key !== this.sort.key || q.sort.descending !== this.sort.descending) return;
    this.applyPage(page);
  }

  private async loadPage(page: number): Promise<void> {
    if (this.loadingPages.has(page)) return;
    this.loadingPages.add(page);
    const gen = this.generation;
    try {
      const res = await this.host.request('getLayers', { offset: page * PAGE, limit: PAGE, sort: this.sort, filter: this.filter || undefined });
      if (gen !== this.generation) return;
      this.applyPage(res);
    } catch (e) {
      if (gen === this.generation) this.error = (e as Error).message;
    } finally {
      this.loadingPages.delete(page);
    }
  }

  private applyPage(res: LayerPage): void {
    res.rows.forEach((r, i) => this.rows.set(res.offset + i, r));
    const focused = this.rows.get(this.focusIndex);
    if (res.offset === 0 && focused) this.dispatchEvent(new CustomEvent('layer-focus', { detail: { layer: focused.name }, bubbles: true, composed: true }));
    if (res.total !== this.total) {
      this.total = res.total;
      this.focusIndex = Math.min(this.focusIndex, Math.max(0, res.total - 1));
    }
    this.loaded = true;
    this.error = '';
    this.version++;
    this.dispatchEvent(new CustomEvent('rows-loaded', { detail: { total: res.total }, bubbles: true, composed: true }));
    if (res.rows.length && !performance.getEntriesByName(FIRST_ROWS_MARK).length) void this.markFirstRows();
  }

  /** A performance mark when the first rows are on screen (after render and the next frame), for the benchmark. */
  private async markFirstRows(): Promise<void> {
    await this.updateComplete;
    for (let i = 0; i < 20 && !this.renderRoot.querySelector('.body .row[data-layer]'); i++) await new Promise(requestAnimationFrame);
    await new Promise(requestAnimationFrame);
    if (!performance.getEntriesByName(FIRST_ROWS_MARK).length) performance.mark(FIRST_ROWS_MARK);
  }

  private onRange(e: RangeChangedEvent): void {
    // The virtualizer reports first = last = -1 while nothing is laid out: no page to fetch then.
    if (e.last < 0) return;
    // a page already here is not asked for again (a layout change elsewhere in the view reports the same range)
    for (let p = Math.floor(Math.max(0, e.first) / PAGE); p <= Math.floor(Math.max(e.first, e.last) / PAGE); p++) if (!this.rows.has(p * PAGE)) void this.loadPage(p);
    const top = this.virtualizer?.scrollTop ?? 0;
    if (this.restoredScroll) this.host.save({ scrollTop: top });
  }

  override updated(changed: PropertyValues<this>): void {
    const wrap = this.renderRoot.querySelector('.wrap');
    if (wrap && !this.observed) {
      this.observed = true;
      this.resize.observe(wrap);
    }
    if (!this.restoredScroll && this.loaded && this.virtualizer) {
      this.restoredScroll = true;
      const top = this.host.ui.scrollTop;
      if (top) requestAnimationFrame(() => this.virtualizer?.scrollTo({ top }));
    }
    if (changed.has('plan') && changed.get('plan') !== undefined) this.version++;
    if (changed.has('scoring')) this.refreshed.clear();
  }

  private setSort(key: SortKey): void {
    const numeric = key !== 'name' && key !== 'op';
    this.sort = this.sort.key === key ? { key, descending: !this.sort.descending } : { key, descending: numeric };
    this.host.save({ sort: this.sort });
    this.reload();
  }

  private onFilter(e: Event): void {
    const v = (e.target as HTMLInputElement).value;
    clearTimeout(this.filterTimer);
    this.filterTimer = setTimeout(() => {
      this.filter = v.trim();
      this.host.save({ filter: this.filter });
      this.focusIndex = 0;
      this.reload();
    }, 120);
  }

  toggle(name: string, open?: boolean): void {
    const next = new Set(this.expanded);
    const want = open ?? !next.has(name);
    if (want) next.add(name);
    else next.delete(name);
    this.expanded = next;
    this.host.save({ expanded: [...next] });
    this.version++;
  }

  /** Scrolls to a layer, expands it and focuses its row (fetching rows when it is not loaded yet). */
  async reveal(name: string): Promise<void> {
    let index = this.indexOf(name);
    if (index === undefined) {
      const gen = this.generation;
      const res = await this.host.request('getLayers', { offset: 0, limit: Math.min(10000, Math.max(this.total, PAGE)), sort: this.sort, filter: this.filter || undefined });
      if (gen === this.generation) res.rows.forEach((r, i) => this.rows.set(i, r));
      index = this.indexOf(name);
      if (index === undefined && this.filter) {
        this.filter = '';
        this.host.save({ filter: '' });
        const input = this.renderRoot.querySelector<HTMLInputElement>('vscode-textfield');
        if (input) input.value = '';
        this.reload();
        return this.reveal(name);
      }
    }
    if (index === undefined) return;
    this.toggle(name, true);
    this.focusRow(index);
  }

  private indexOf(name: string): number | undefined {
    for (const [i, r] of this.rows) if (r.name === name) return i;
    return undefined;
  }

  private focusRow(index: number): void {
    this.focusIndex = index;
    const r = this.rows.get(index);
    if (r) this.dispatchEvent(new CustomEvent('layer-focus', { detail: { layer: r.name }, bubbles: true, composed: true }));
    this.virtualizer?.element(index)?.scrollIntoView({ block: 'nearest' });
    const tryFocus = (left: number) => {
      const el = this.renderRoot.querySelector<HTMLElement>(`.row[data-index="${index}"]`);
      if (el) el.focus({ preventScroll: false });
      else if (left > 0) requestAnimationFrame(() => tryFocus(left - 1));
    };
    requestAnimationFrame(() => tryFocus(10));
  }

  private onKey(e: KeyboardEvent): void {
    if (!(e.target as HTMLElement).classList?.contains('row')) return;
    const last = this.total - 1;
    let next = this.focusIndex;
    switch (e.key) {
      case 'ArrowDown': next = Math.min(last, next + 1); break;
      case 'ArrowUp': next = Math.max(0, next - 1); break;
      case 'PageDown': next = Math.min(last, next + 15); break;
      case 'PageUp': next = Math.max(0, next - 15); break;
      case 'Home': next = 0; break;
      case 'End': next = last; break;
      case 'ArrowRight': case 'ArrowLeft': case 'Enter': case ' ': {
        const r = this.rows.get(this.focusIndex);
        if (r) this.toggle(r.name, e.key === 'ArrowRight' ? true : e.key === 'ArrowLeft' ? false : undefined);
        e.preventDefault();
        return;
      }
      default: return;
    }
    e.preventDefault();
    this.focusRow(next);
  }

  channelsCell(r: LayerRow) {
    const after = this.widths.get(r.name);
    if (after === undefined || after === r.channels) return html`<span>${int(r.channels)}</span>`;
    return html`<span title=${`${r.channels} → ${after} channels after the plan`}>${int(r.channels)} → <span class="after">${int(after)}</span></span>`;
  }

  private overrideValue(r: LayerRow): string {
    if (this.plan.exclude?.includes(r.name)) return 'keep';
    const o = this.plan.overrides?.[r.name]?.ratio;
    return o === undefined ? 'plan' : String(o);
  }

  private onOverride(r: LayerRow, e: Event): void {
    const v = (e.target as HTMLSelectElement).value;
    this.dispatchEvent(new CustomEvent('layer-override', { detail: { layer: r.name, value: v }, bubbles: true, composed: true }));
  }

  private renderRow(i: number) {
    const r = this.rows.get(i);
    if (!r) {
      return html`<div class="item"><div class="row placeholder" role="row" aria-rowindex=${i + 2} data-index=${i}><span></span><span>Loading…</span></div></div>`;
    }
    const open = this.expanded.has(r.name);
    const focused = i === this.focusIndex;
    const ov = this.overrideValue(r);
    return html`<div class="item">
      <div class="row ${r.prunable ? '' : 'frozen'} ${focused ? 'focused' : ''}" role="row" aria-rowindex=${i + 2} aria-expanded=${open ? 'true' : 'false'}
        aria-selected=${focused ? 'true' : 'false'} data-index=${i} data-layer=${r.name} tabindex=${focused ? 0 : -1}
        @click=${() => this.focusRow(i)} @dblclick=${() => this.toggle(r.name)}>
        <span class="twisty" role="gridcell" aria-label=${open ? 'Collapse' : 'Expand'} @click=${(e: Event) => { e.stopPropagation(); this.focusIndex = i; this.toggle(r.name); }}>${open ? '▾' : '▸'}</span>
        ${COLUMNS.slice(0, PLAN_AFTER).map((c) => html`<span role="gridcell" class="${c.num ? 'num' : ''} ellipsis">${c.cell(r, this)}</span>`)}
        <span role="gridcell" class="cell-ctl">${r.prunable
          ? html`<select class="native ${ov === 'plan' ? '' : 'set'}" aria-label=${`Plan for ${r.name}`} title="Per-layer plan: follow the plan, keep every channel, or remove a fixed share" .value=${ov} @change=${(e: Event) => this.onOverride(r, e)} @click=${(e: Event) => e.stopPropagation()} @keydown=${(e: Event) => e.stopPropagation()}>
              <option value="plan" ?selected=${ov === 'plan'}>plan</option>
              <option value="keep" ?selected=${ov === 'keep'}>keep all</option>
              ${RATIOS.map((x) => html`<option value=${String(x)} ?selected=${ov === String(x)}>−${Math.round(x * 100)}%</option>`)}
              ${ov !== 'plan' && ov !== 'keep' && !RATIOS.some((x) => String(x) === ov) ? html`<option value=${ov} selected>−${(Number(ov) * 100).toFixed(1).replace(/\.0$/, '')}%</option>` : nothing}
            </select>`
          : html`<span class="frozen-tag" title=${`Frozen: ${r.frozenReason ?? 'not prunable'}`}><vscode-icon name="lock" size="12" aria-hidden="true"></vscode-icon> frozen</span>`}</span>
        ${COLUMNS.slice(PLAN_AFTER).map((c) => html`<span role="gridcell" class="${c.num ? 'num' : ''} ellipsis">${c.cell(r, this)}</span>`)}
      </div>
      ${open ? html`<layer-detail .host=${this.host} .layer=${r} .plan=${this.plan} @reveal-layer=${(e: CustomEvent<{ layer: string }>) => void this.reveal(e.detail.layer)}></layer-detail>` : nothing}
    </div>`;
  }

  override render() {
    if (this.items.length !== this.total) this.items = Array.from({ length: this.total }, (_, i) => i);
    else this.items = [...this.items];
    const sortLabel = (c: Column) => (this.sort.key === c.key ? (this.sort.descending ? 'descending' : 'ascending') : 'none');
    const active = (c: Column) => c.criterion !== undefined && c.criterion === this.plan?.criterion;
    const header = (c: Column) => html`<span role="columnheader" class="${c.num ? 'num' : ''} ${active(c) ? 'active' : ''}" aria-sort=${sortLabel(c)}
      title=${active(c) ? `${c.title} — the plan's criterion` : c.title}>
      <button @click=${() => this.setSort(c.key)} aria-label=${`Sort by ${c.title}`}>${c.label}<span class="arrow">${this.sort.key === c.key ? (this.sort.descending ? '▼' : '▲') : ''}</span></button></span>`;
    return html`
      <div class="toolbar">
        <vscode-textfield placeholder="Filter by layer name or op" aria-label="Filter layers by name or op" .value=${this.filter} @input=${this.onFilter}>
          <vscode-icon slot="content-before" name="filter"></vscode-icon>
        </vscode-textfield>
        <span class="muted count" aria-live="polite">${this.loaded ? `${int(this.total)} layer${this.total === 1 ? '' : 's'}${this.filter ? ' match' : ''}` : 'Loading layers…'}</span>
        ${this.error ? html`<span class="error">${this.error}</span>` : nothing}
      </div>
      <div class="wrap" @scroll=${(e: Event) => this.style.setProperty('--sx', `${(e.target as HTMLElement).scrollLeft}px`)}>
        <div class="grid" role="grid" aria-label="Prunable layers" aria-rowcount=${this.total + 1} @keydown=${this.onKey}>
          <div class="row head" role="row" aria-rowindex="1">
            <span role="columnheader"></span>
            ${COLUMNS.slice(0, PLAN_AFTER).map(header)}
            <span role="columnheader" title="Per-layer plan: follow the plan, keep every channel, or remove a fixed share">Plan</span>
            ${COLUMNS.slice(PLAN_AFTER).map(header)}
          </div>
          ${this.loaded && this.total === 0
            ? html`<div class="empty muted">${this.filter ? `No layer matches “${this.filter}”.` : 'This model has no weighted (Conv/Gemm/MatMul) layer.'}</div>`
            : html`<lit-virtualizer class="body" scroller .items=${this.items} .renderItem=${(i: number) => this.renderRow(i)} @rangeChanged=${this.onRange}></lit-virtualizer>`}
        </div>
      </div>
    `;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'layer-table': LayerTable;
  }
}
