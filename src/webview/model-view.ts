// <onnx-model-view>: what the user sees when an .onnx file opens. The summary of the model,
// the score distributions, the layer table and the plan panel with its live preview, the
// prune run and its report; every piece of data is asked from the host through the protocol.
import { LitElement, html, css, nothing } from 'lit';
import { customElement, state, query } from 'lit/decorators.js';
import {
  DEFAULT_PLAN, isDataCriterion, prunePhase, type ArrayRole, type Criterion, type DataOptions, type DataRole, type DataState, type ErrorInfo, type LayerRow, type PlanPreview, type PrunePhase,
  type ViewBudget, type ViewEvent, type ViewPlan, type ViewSummary,
} from '../shared/protocol.ts';
import { bytes, int, pct, shape, si } from './format.ts';
import { HostClient, RequestError } from './host.ts';
import type { LayerTable } from './layer-table.ts';
import type { RunState } from './plan-panel.ts';
import { base } from './styles.ts';
import './layer-table.ts';
import './plan-panel.ts';
import './histograms.ts';
import './input-size.ts';
import './group-list.ts';
import './block-list.ts';
import { givenShapes, shapesText, unknownSizes } from './input-size.ts';

const PREVIEW_DELAY_MS = 150;
/** More inputs and outputs than this: their card starts collapsed (it pushed the table down). */
const IO_SHOWN = 4;


/** The plan with a per-layer choice from the table applied: 'plan', 'keep' (exclude) or a ratio. */
export function withOverride(plan: ViewPlan, layer: string, value: string): ViewPlan {
  const exclude = (plan.exclude ?? []).filter((n) => n !== layer);
  const overrides = { ...(plan.overrides ?? {}) };
  delete overrides[layer];
  if (value === 'keep') exclude.push(layer);
  else if (value !== 'plan') overrides[layer] = { ratio: Number(value) };
  const next: ViewPlan = { ...plan, exclude, overrides };
  if (!exclude.length) delete next.exclude;
  if (!Object.keys(overrides).length) delete next.overrides;
  return next;
}

export { unknownSizes };

/** A stable key of the input sizes a summary was analysed with (a summary of an older analysis is told apart). */
function sizesKey(s: ViewSummary): string {
  const shapes = givenShapes(s);
  return JSON.stringify(Object.keys(shapes).sort().map((k) => [k, shapes[k]]));
}

@customElement('onnx-model-view')
export class ModelView extends LitElement {
  static override styles = [
    base,
    css`
      :host { display: block; container: view / inline-size; padding: 12px 16px 24px; max-width: 1800px; }
      header { display: flex; gap: 10px; align-items: baseline; flex-wrap: wrap; margin-bottom: 10px; }
      header .scoring { display: inline-flex; gap: 6px; align-items: center; align-self: center; }
      header .scoring vscode-progress-ring { width: 14px; height: 14px; }
      header h1 { font-size: 1.35em; font-weight: 600; margin: 0; min-width: 0; max-width: 100%; }
      .cards { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: 8px; margin-bottom: 10px; }
      .metric .value { font-size: 1.35em; font-weight: 600; font-variant-numeric: tabular-nums; }
      .metric .label { font-size: 0.85em; color: var(--vscode-descriptionForeground); }
      .metric .sub { font-size: 0.85em; color: var(--vscode-descriptionForeground); margin-top: 2px; }
      @container view (min-width: 900px) { .io-card { grid-column: span 2; } }
      /* Below 900 px the five metric cards fill the first row: inputs and outputs get a whole row of their own. */
      @container view (max-width: 899.98px) { .io-card { grid-column: 1 / -1; } }
      details.io-card summary { cursor: pointer; }
      .io { font-size: 0.9em; display: grid; grid-template-columns: auto 1fr; gap: 0 8px; }
      .io code { font-family: var(--vscode-editor-font-family, monospace); font-size: 0.95em; }
      .banner { display: flex; gap: 8px; align-items: flex-start; padding: 8px 10px; margin-bottom: 10px; border-radius: 3px;
        border-left: 3px solid var(--vscode-editorWarning-foreground); background: var(--vscode-inputValidation-warningBackground, transparent); }
      .banner.info { border-left-color: var(--vscode-textLink-foreground); background: var(--vscode-textBlockQuote-background, transparent); }
      .banner.error { border-left-color: var(--vscode-errorForeground); background: var(--vscode-inputValidation-errorBackground, transparent); color: var(--vscode-foreground); }
      .main { display: grid; grid-template-columns: minmax(0, 1fr) 330px; grid-template-rows: auto 1fr; grid-template-areas: 'hist plan' 'table plan'; gap: 12px; align-items: start; }
      .hist { grid-area: hist; }
      .table { grid-area: table; min-width: 0; }
      .plan { grid-area: plan; position: sticky; top: 8px; }
      /* Below 1100 px the table needs the whole width for its columns: the plan panel moves below it. */
      @container view (max-width: 1100px) {
        .main { grid-template-columns: minmax(0, 1fr); grid-template-rows: auto; grid-template-areas: 'hist' 'table' 'plan'; }
        .plan { position: static; }
      }
      /* A prune report needs the width for its tables: while it shows, the plan panel (with the
         report at its end) goes below the table at any width, instead of a tall narrow column
         beside a table that ends half way down. */
      .main.reporting { grid-template-columns: minmax(0, 1fr); grid-template-rows: auto; grid-template-areas: 'hist' 'table' 'plan'; }
      .main.reporting .plan { position: static; }
      @container view (max-width: 860px) {
        .main, .main.reporting { grid-template-areas: 'table' 'plan' 'hist'; }
      }
      .loading { display: flex; gap: 10px; align-items: center; padding: 8px 0; }
      progress { width: 240px; max-width: 50vw; }
      .failed { max-width: 760px; margin: 40px auto; }
      .failed pre { white-space: pre-wrap; word-break: break-word; font-family: var(--vscode-editor-font-family, monospace); font-size: 0.9em; }
      .compare table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
      .compare td, .compare th { padding: 2px 6px; border-bottom: 1px solid var(--vscode-panel-border, rgba(128,128,128,0.25)); text-align: right; }
      .compare td:first-child, .compare th:first-child { text-align: left; max-width: 420px; }
      .compare .w { width: 35%; }
      .wbar { height: 8px; background: var(--vscode-panel-border, rgba(128,128,128,0.3)); border-radius: 2px; position: relative; }
      .wbar > div { position: absolute; left: 0; top: 0; bottom: 0; background: var(--vscode-charts-blue, #3794ff); border-radius: 2px; }
      .compare .scroll { max-height: 260px; overflow: auto; }
    `,
  ];

  readonly host = new HostClient();

  @state() private phase: 'loading' | 'ready' | 'failed' = 'loading';
  @state() private loadingStage = 'Opening the model';
  @state() private loadingFraction: number | undefined;
  @state() private scoringStage: { stage: string; fraction?: number } | undefined;
  @state() private failure: ErrorInfo | undefined;
  @state() private summary: ViewSummary | undefined;
  @state() private plan: ViewPlan = { ...DEFAULT_PLAN };
  @state() private preview: PlanPreview | undefined;
  @state() private previewPending = false;
  @state() private previewError = '';
  @state() private previewProgress: { stage: string; fraction?: number } | undefined;
  @state() private run: RunState = { kind: 'idle' };
  @state() private focusedLayer: string | undefined;
  @state() private frozenRows: LayerRow[] = [];
  @state() private data: DataState | undefined;
  @state() private dataBusy = false;
  @state() private dataError = '';
  /** The host is analysing the model with new input sizes; its refusal, if it refused them. */
  @state() private sizeBusy = false;
  @state() private sizeError = '';
  /** The groups list has been opened (it asks the host for the groups then). */
  @state() private groupsOpen = false;
  @state() private blocksOpen = false;

  @query('layer-table') private table?: LayerTable;
  /** The first page pushed by the host, handed to the table once it is rendered. */
  private firstScreen: Extract<ViewEvent, { type: 'firstScreen' }> | undefined;

  private planRestored = false;
  private previewTimer: ReturnType<typeof setTimeout> | undefined;
  private previewSeq = 0;
  private previewRequest: number | undefined;
  private pruneRequest: number | undefined;
  /** The last plan Find plan set, with its budget: a Prune of that plan (unchanged) checks the target on the written model. */
  private targetFound: { plan: ViewPlan; budget: ViewBudget } | undefined;
  private widths = new Map<string, number>();

  override connectedCallback(): void {
    super.connectedCallback();
    performance.mark('onnx-pruner:view-connected');
    const saved = this.host.ui.plan;
    if (saved) {
      this.plan = saved;
      this.planRestored = true;
    }
    // the host pushes the first screen (summary, first rows, the settings' plan), then `scored`
    this.host.onEvent((e) => this.onEvent(e));
    this.host.ready();
  }

  /** Phase 2: the rows are shown; their score statistics follow once the channels are scored. */
  private showScored(s: ViewSummary): void {
    if (!this.summary) return this.showSummary(s);
    // the scores of an analysis at other input sizes (replaced meanwhile) are not these rows'
    if (this.summary.scored || !s.scored || sizesKey(s) !== sizesKey(this.summary)) return;
    performance.mark('onnx-pruner:scored');
    this.summary = s;
    this.scoringStage = undefined;
    this.table?.reload();
  }

  /** The plan of the user's settings, taken while the user has not chosen one in this view. */
  private offerDefaultPlan(plan: ViewPlan): void {
    if (this.planRestored) return;
    this.plan = this.summary && this.summary.bnCount === 0 && plan.criterion === 'bn-gamma' ? { ...plan, criterion: 'l1' } : plan;
    if (!this.summary) return;
    this.host.sendPlan(this.plan);
    if (this.summary.prunableGroupCount > 0) this.schedulePreview(0);
  }

  override updated(): void {
    if (this.firstScreen && this.table) {
      this.table.offerFirstPage(this.firstScreen.query, this.firstScreen.page);
      this.firstScreen = undefined;
    }
  }

  /**
   * A summary from the host (the first screen's, or the `scored` event's, in either order). The
   * first makes the view ready; the first scored one fills in the score cells and histograms,
   * whether it comes with the first screen (scoring finished first) or after it.
   */
  private showSummary(s: ViewSummary): void {
    if (this.summary) return this.showScored(s);
    performance.mark('onnx-pruner:summary');
    this.summary = s;
    this.phase = 'ready';
    if (!this.planRestored && s.bnCount === 0 && this.plan.criterion === 'bn-gamma') this.plan = { ...this.plan, criterion: 'l1' };
    this.host.sendPlan(this.plan);
    if (s.layerCount > 0 && s.prunableLayerCount === 0) void this.loadFrozenReasons();
    if (s.prunableGroupCount > 0) this.schedulePreview(0);
    if (s.trusted !== false && s.prunableGroupCount > 0) void this.dataRequest(() => this.host.request('getData', {}));
  }

  /** A data request (describe, choose, clear, options): its answer is the new data state. */
  private async dataRequest(send: () => Promise<DataState>): Promise<void> {
    this.dataBusy = true;
    try {
      const before = this.data;
      this.data = await send();
      this.dataError = '';
      // a plan ranked by a data criterion is measured on the calibration inputs: new ones, a new preview
      if (isDataCriterion(this.plan.criterion) && this.summary?.prunableGroupCount && JSON.stringify([before?.calibration, before?.preprocess]) !== JSON.stringify([this.data.calibration, this.data.preprocess])) this.schedulePreview(0);
    } catch (e) {
      if (!(e as RequestError).cancelled) this.dataError = (e as Error).message;
    } finally {
      this.dataBusy = false;
    }
  }

  /**
   * New input sizes (`{}` forgets them): the host analyses the model again and remembers them; the
   * summary, the rows, the preview and the histograms follow, the scores after (`scored`).
   */
  private async setInputShapes(inputShapes: Record<string, number[]>): Promise<void> {
    if (this.sizeBusy) return;
    this.sizeBusy = true;
    this.sizeError = '';
    try {
      const s = await this.host.request('setInputShapes', { inputShapes });
      performance.mark('onnx-pruner:resized');
      this.summary = s;
      this.scoringStage = undefined;
      this.preview = undefined;
      this.table?.reload();
      if (s.layerCount > 0 && s.prunableLayerCount === 0) void this.loadFrozenReasons();
      if (s.prunableGroupCount > 0) this.schedulePreview(0);
      // the data is opened against the input's sizes (a .f32 file is cut by them): described again
      if (s.trusted !== false && s.prunableGroupCount > 0) void this.dataRequest(() => this.host.request('getData', {}));
    } catch (e) {
      this.sizeError = (e as Error).message;
    } finally {
      this.sizeBusy = false;
    }
  }

  private async loadFrozenReasons(): Promise<void> {
    const page = await this.host.request('getLayers', { offset: 0, limit: 200 });
    this.frozenRows = page.rows.filter((r) => !r.prunable);
  }

  private fail(error: ErrorInfo): void {
    this.failure = error;
    this.phase = 'failed';
  }

  private onEvent(e: ViewEvent): void {
    switch (e.type) {
      case 'loading':
        this.loadingStage = e.stage;
        this.loadingFraction = e.fraction;
        break;
      case 'scoring':
        this.scoringStage = { stage: e.stage, fraction: e.fraction };
        break;
      case 'firstScreen':
        this.offerDefaultPlan(e.defaultPlan);
        this.showSummary(e.summary);
        if (this.table) this.table.offerFirstPage(e.query, e.page);
        else this.firstScreen = e;
        break;
      case 'loadFailed':
        this.fail(e.error);
        break;
      case 'revealLayer':
        void this.table?.reveal(e.layer);
        break;
      case 'scored':
        this.showScored(e.summary);
        break;
      case 'defaultPlan':
        this.offerDefaultPlan(e.plan);
        break;
      case 'trustGranted':
        if (this.summary) {
          this.summary = { ...this.summary, trusted: true };
          if (this.summary.prunableGroupCount > 0) void this.dataRequest(() => this.host.request('getData', {}));
        }
        break;
    }
  }

  private setPlan(plan: ViewPlan): void {
    this.plan = plan;
    this.planRestored = true;
    this.host.save({ plan });
    this.host.sendPlan(plan);
    this.schedulePreview(PREVIEW_DELAY_MS);
  }

  /** Asks for a preview after the controls rest; an answer to an older plan is dropped. */
  private schedulePreview(delay: number): void {
    clearTimeout(this.previewTimer);
    this.previewPending = true;
    this.previewTimer = setTimeout(() => void this.runPreview(), delay);
  }

  private async runPreview(): Promise<void> {
    const seq = ++this.previewSeq;
    if (this.previewRequest !== undefined) this.host.cancel(this.previewRequest);
    this.previewProgress = undefined;
    const h = this.host.start('previewPlan', { plan: this.plan }, (stage, fraction) => {
      if (seq === this.previewSeq) this.previewProgress = { stage, fraction };
    });
    this.previewRequest = h.id;
    try {
      const pv = await h.result;
      if (seq !== this.previewSeq) return;
      this.preview = pv;
      this.previewError = '';
      this.widths = new Map(pv.layers.map((l) => [l.name, l.channelsAfter]));
      // the host computes FPGM (the costly criterion) when a plan first uses it: the rows fetched
      // before lack its scores, so they are fetched again once
      if (this.plan.criterion === 'fpgm') this.table?.refreshScores('fpgm');
    } catch (e) {
      if (seq !== this.previewSeq || (e as RequestError).cancelled) return;
      this.previewError = (e as Error).message;
    } finally {
      if (seq === this.previewSeq) {
        this.previewPending = false;
        this.previewRequest = undefined;
        this.previewProgress = undefined;
      }
    }
  }

  /** Stops the preview's scoring (a data criterion measured on the calibration inputs): the next change of plan asks again. */
  private cancelPreview(): void {
    if (this.previewRequest === undefined) return;
    clearTimeout(this.previewTimer);
    this.host.cancel(this.previewRequest);
    this.previewSeq++;
    this.previewRequest = undefined;
    this.previewPending = false;
    this.previewProgress = undefined;
    this.previewError = `Scoring by ${this.plan.criterion} was cancelled: change the plan to preview it again, or Prune (which measures it).`;
  }

  private async prune(): Promise<void> {
    if (this.run.kind === 'running') return;
    this.run = { kind: 'running', stage: 'Starting', phase: 'preparing', phases: ['preparing'] };
    const phases: PrunePhase[] = ['preparing'];
    // a plan found for a target, unchanged since: the target is checked on the written model
    const target = this.targetFound && JSON.stringify(this.targetFound.plan) === JSON.stringify(this.plan) ? this.targetFound.budget : undefined;
    const h = this.host.start('prune', { plan: this.plan, validate: true, ...(target ? { target } : {}) }, (stage, fraction) => {
      const phase = prunePhase(stage);
      if (!phases.includes(phase)) phases.push(phase);
      if (this.run.kind === 'running') this.run = { kind: 'running', stage, fraction, phase, phases: [...phases] };
    });
    this.pruneRequest = h.id;
    try {
      const { report, target: check } = await h.result;
      this.run = { kind: 'done', report, ...(check ? { target: check } : {}) };
    } catch (e) {
      const err = e as RequestError;
      this.run = err.cancelled ? { kind: 'cancelled' } : { kind: 'failed', message: err.message, details: err.details };
    } finally {
      this.pruneRequest = undefined;
    }
  }

  private cancelPrune(): void {
    if (this.pruneRequest !== undefined) this.host.cancel(this.pruneRequest);
  }

  private async openFile(path: string): Promise<void> {
    try {
      await this.host.request('openFile', { path });
    } catch (e) {
      this.run = { kind: 'failed', message: `Could not open ${path}: ${(e as Error).message}` };
    }
  }

  /** The criteria the histograms offer: the same array while the model's BN count is (a new one would make them fetch again on every render). */
  private availableCache: { bn: boolean; list: Criterion[] } | undefined;
  private available(): Criterion[] {
    const s = this.summary;
    const bn = !s || s.bnCount > 0;
    if (this.availableCache?.bn !== bn) this.availableCache = { bn, list: [...(bn ? ['bn-gamma' as const] : []), 'l1', 'l2', 'fpgm'] };
    return this.availableCache.list;
  }

  override render() {
    if (this.phase === 'failed') return this.renderFailure();
    return html`
      ${this.renderHeader()}
      ${this.renderBanners()}
      ${this.summary?.prunedFrom ? this.renderComparison() : nothing}
      ${this.summary && this.summary.groupCount > 0 ? this.renderGroups() : nothing}
      ${this.summary?.blockCount ? this.renderBlocks() : nothing}
      ${this.summary && this.summary.layerCount === 0
        ? nothing
        : html`<div class="main ${this.run.kind === 'done' ? 'reporting' : ''}">
            <aside class="plan">
              <plan-panel .host=${this.host} .plan=${this.plan} .summary=${this.summary} .preview=${this.preview} .previewError=${this.previewError}
                ?previewPending=${this.previewPending} .previewProgress=${this.previewProgress} .run=${this.run} .data=${this.data} ?dataBusy=${this.dataBusy} .dataError=${this.dataError}
                @data-choose=${(e: CustomEvent<{ role: DataRole; pick: 'file' | 'folder' }>) => void this.dataRequest(() => this.host.request('chooseData', e.detail))}
                @data-clear=${(e: CustomEvent<{ role: DataRole }>) => void this.dataRequest(() => this.host.request('clearData', e.detail))}
                @data-array=${(e: CustomEvent<{ role: ArrayRole | 'labels'; array: string }>) => void this.dataRequest(() => this.host.request('chooseArray', e.detail))}
                @data-options=${(e: CustomEvent<{ patch: Partial<DataOptions> }>) => void this.dataRequest(() => this.host.request('setDataOptions', e.detail.patch))}
                @plan-change=${(e: CustomEvent<{ plan: ViewPlan }>) => this.setPlan(e.detail.plan)}
                @target-found=${(e: CustomEvent<{ plan: ViewPlan; budget: ViewBudget }>) => { this.targetFound = { plan: this.plan, budget: e.detail.budget }; }}
                @prune=${() => void this.prune()} @cancel-prune=${() => this.cancelPrune()} @cancel-preview=${() => this.cancelPreview()}
                @open-pruned=${(e: CustomEvent<{ path: string }>) => void this.openFile(e.detail.path)}
                @dismiss-report=${() => { this.run = { kind: 'idle' }; }}></plan-panel>
            </aside>
            <section class="hist card" aria-label="Score distribution">
              ${this.summary?.scored
                ? html`<score-histograms .host=${this.host} .plan=${this.plan} .layer=${this.focusedLayer} .available=${this.available()}></score-histograms>`
                : html`<div class="muted scoring-note">Distributions appear once the channels are scored.</div>`}
            </section>
            <section class="table" aria-label="Layers">
              <layer-table .host=${this.host} .plan=${this.plan} .widths=${this.widths} ?scoring=${!this.summary?.scored}
                @layer-focus=${(e: CustomEvent<{ layer: string }>) => { this.focusedLayer = e.detail.layer; }}
                @layer-override=${(e: CustomEvent<{ layer: string; value: string }>) => this.setPlan(withOverride(this.plan, e.detail.layer, e.detail.value))}></layer-table>
            </section>
          </div>`}
    `;
  }

  private renderHeader() {
    const s = this.summary;
    if (!s) {
      return html`<header><h1>ONNX model</h1></header>
        <div class="loading" role="status" aria-live="polite">
          <vscode-progress-ring aria-label="Loading"></vscode-progress-ring>
          <span>${this.loadingStage}${this.loadingFraction !== undefined ? ` — ${pct(this.loadingFraction, 0)}` : '…'}</span>
          ${this.loadingFraction !== undefined ? html`<progress max="1" .value=${this.loadingFraction} aria-label="Loading progress"></progress>` : nothing}
        </div>`;
    }
    const unknown = unknownSizes(s);
    const sized = Object.keys(givenShapes(s)).length > 0;
    const opsets = s.opsets.map((o) => `${o.domain === 'ai.onnx' || o.domain === '' ? 'opset' : o.domain} ${o.version}`).join(', ');
    const io = (label: string, list: ViewSummary['inputs']) => list.map((t) => html`<span class="muted">${label}</span><span class="ellipsis" title=${`${t.name}: ${t.elemType} ${shape(t.shape)}`}><code>${t.name}</code> ${t.elemType} ${shape(t.shape)}</span>`);
    return html`
      <header>
        <h1 class="ellipsis" title=${s.file}>${s.fileName}</h1>
        <span class="pill outline" title=${`${int(s.sizeOnDisk)} bytes`}>${bytes(s.sizeOnDisk)}</span>
        ${s.producer ? html`<span class="muted">${s.producer}</span>` : nothing}
        <span class="muted">IR ${s.irVersion} · ${opsets}</span>
        <span class="pill outline" title="Execution providers available for validation">${s.providers.map((p) => p.toUpperCase()).join(' · ')}</span>
        ${s.scored
          ? nothing
          : html`<span class="scoring muted" role="status" aria-live="polite"><vscode-progress-ring aria-label="Scoring channels"></vscode-progress-ring>${this.scoringStage?.stage ?? 'Scoring channels'}…</span>`}
      </header>
      <div class="cards">
        <div class="card metric"><div class="label">Parameters</div><div class="value" data-metric="params" data-value=${s.params}>${int(s.params)}</div><div class="sub">${si(s.params)}</div></div>
        <div class="card metric"><div class="label">MACs</div><div class="value" data-metric="macs" data-value=${s.macs} title=${int(s.macs)}>${si(s.macs)}</div>
          <div class="sub ${unknown.length && !sized ? 'warning' : ''}" data-macs-note>${sized
            ? `at input ${shapesText(givenShapes(s))}${s.macsComplete === false ? ', some layers unknown' : ''}`
            : unknown.length
              ? `unknown input size: depends on ${unknown.join(', ')}, counted as 1 until you give the size`
              : s.batchAssumed ? 'symbolic batch counted as 1' : 'per inference'}</div></div>
        <div class="card metric"><div class="label">Weighted layers</div><div class="value" data-metric="layers" data-value=${s.layerCount}>${int(s.layerCount)}</div>
          <div class="sub">${int(s.prunableLayerCount)} prunable · ${int(s.nodeCount)} node${s.nodeCount === 1 ? '' : 's'}</div></div>
        <div class="card metric"><div class="label">Channel groups</div><div class="value">${int(s.prunableGroupCount)} / ${int(s.groupCount)}</div>
          <div class="sub">prunable / all · <button class="link" data-show-groups @click=${() => this.openGroups()}>list them</button></div></div>
        <div class="card metric"><div class="label">BatchNorm</div><div class="value" data-metric="bn" data-value=${s.bnCount}>${s.bnCount ? int(s.bnCount) : 'none'}</div>
          <div class="sub">${s.bnCount ? 'γ available' : s.bnFused ? 'folded at export, or never used' : 'no BatchNorm layers'}</div></div>
        ${s.inputs.length + s.outputs.length > IO_SHOWN
          ? html`<details class="card metric io-card"><summary class="label">Inputs and outputs: ${s.inputs.length} in, ${s.outputs.length} out</summary><div class="io">${io('in', s.inputs)}${io('out', s.outputs)}</div></details>`
          : html`<div class="card metric io-card"><div class="label">Inputs and outputs</div><div class="io">${io('in', s.inputs)}${io('out', s.outputs)}</div></div>`}
      </div>`;
  }

  private renderBanners() {
    const s = this.summary;
    if (!s) return nothing;
    const out = [];
    if (s.bnFused) {
      out.push(html`<div class="banner" role="note"><span>⚠</span><div><strong>No BatchNorm γ in this model:</strong> Network Slimming's criterion is not available, so filter norms are used instead. If the network was trained with BatchNorm, it was folded into the convolutions at export (the norms then include γ/√(var+ε)).
        For γ-based pruning, re-export with BN kept: <code>torch.onnx.export(..., training=torch.onnx.TrainingMode.PRESERVE, do_constant_folding=False)</code>.</div></div>`);
    }
    const unknown = unknownSizes(s);
    const given = givenShapes(s);
    const sized = Object.keys(given).length > 0;
    if (unknown.length || sized) {
      const form = html`<input-size-form .summary=${s} ?busy=${this.sizeBusy} .error=${this.sizeError}
        @size-change=${(e: CustomEvent<{ inputShapes: Record<string, number[]> }>) => void this.setInputShapes(e.detail.inputShapes)}></input-size-form>`;
      out.push(sized
        ? html`<div class="banner info" role="note" data-banner="input-size"><span>ℹ</span><div><strong>Input size ${shapesText(given)}</strong> (given here, remembered for this model):
            the MACs, shapes, the preview, Prune and validation use it. The model itself is not changed: its inputs stay ${s.inputs.filter((t) => given[t.name]).map((t) => shape(t.shape)).join(', ')}.${form}</div></div>`
        : html`<div class="banner" role="note" data-banner="unknown-size"><span>⚠</span><div><strong>The MACs depend on an input size this model does not fix:</strong>
            ${unknown.join(', ')} ${unknown.length === 1 ? 'is' : 'are'} symbolic and counted as 1 until you give the size${s.macsComplete === false ? ' (and the MACs of layers whose shapes depend on them are not counted at all)' : ''}, so the MACs, their savings in the preview and validation's random inputs are not those of a real input.
            Give the size the model runs at (${s.proposedShapes ? 'proposed: the model\'s metadata size, or 224×224, common for images' : 'e.g. 224×224 for an image'}):${form}</div></div>`);
    }
    // The MACs card already says when a symbolic batch was counted as 1; the BN banner above covers fused BN.
    // the size warning above already says that unknown sizes leave layers' MACs uncounted
    const sizeWarning = unknown.length > 0 && !sized;
    for (const a of s.advice) if ((!s.bnFused || !/batch ?norm|BN/i.test(a)) && !(s.batchAssumed && /symbolic batch/i.test(a)) && !(sizeWarning && /MACs of \d+ layer\(s\) are unknown/.test(a))) out.push(html`<div class="banner info" role="note"><span>ℹ</span><div>${a}</div></div>`);
    if (s.layerCount === 0) {
      out.push(html`<div class="banner info" role="status"><span>ℹ</span><div><strong>Nothing to prune:</strong> this model has no weighted layer (Conv, Gemm or MatMul with constant weights)${s.nodeCount === 0 ? ' — in fact its graph is empty' : ` among its ${int(s.nodeCount)} nodes`}.</div></div>`);
    } else if (s.prunableLayerCount === 0) {
      const reasons = [...new Set(this.frozenRows.map((r) => r.frozenReason).filter(Boolean))];
      out.push(html`<div class="banner" role="status"><vscode-icon name="lock" aria-hidden="true"></vscode-icon><div><strong>No layer can be pruned:</strong> ${s.groupCount === 1 ? 'its only channel group is frozen' : `every one of the ${int(s.groupCount)} channel groups is frozen`}, because removing a channel there would change what the model means.
        ${reasons.length ? html`<ul>${reasons.slice(0, 6).map((r) => html`<li>${r}</li>`)}</ul>` : nothing} Expand a row to see its group.</div></div>`);
    }
    return out;
  }

  private openGroups(): void {
    this.groupsOpen = true;
    void this.updateComplete.then(() => {
      const d = this.renderRoot.querySelector<HTMLDetailsElement>('details.groups');
      if (d) {
        d.open = true;
        d.scrollIntoView({ block: 'nearest' });
      }
    });
  }

  /** Every channel group at a glance (collapsed until opened; the list is asked for then). */
  private renderGroups() {
    const s = this.summary!;
    return html`<details class="card groups" style="margin-bottom:10px" ?open=${this.groupsOpen}
        @toggle=${(e: Event) => { if ((e.target as HTMLDetailsElement).open) this.groupsOpen = true; }}>
      <summary><h2 style="display:inline">Channel groups</h2> <span class="muted">${int(s.groupCount)}: ${int(s.prunableGroupCount)} prunable, ${int(s.groupCount - s.prunableGroupCount)} frozen — the layers pruned together, and why a group is frozen</span></summary>
      ${this.groupsOpen
        ? html`<group-list .host=${this.host} .analysis=${sizesKey(s)} @reveal-layer=${(e: CustomEvent<{ layer: string }>) => void this.table?.reveal(e.detail.layer)}></group-list>`
        : nothing}
    </details>`;
  }

  /** The residual blocks, with a "remove" choice each (collapsed until opened; the list is asked for then). */
  private renderBlocks() {
    const s = this.summary!;
    const removed = this.plan.removeBlocks && 'names' in this.plan.removeBlocks ? this.plan.removeBlocks.names.length : 0;
    return html`<details class="card blocks" style="margin-bottom:10px" ?open=${this.blocksOpen}
        @toggle=${(e: Event) => { if ((e.target as HTMLDetailsElement).open) this.blocksOpen = true; }}>
      <summary><h2 style="display:inline">Residual blocks</h2> <span class="muted" data-blocks-summary>${int(s.blockCount ?? 0)}: ${int(s.removableBlockCount ?? 0)} removable whole${removed ? `, ${removed} marked for removal` : ''} — ranked by their last BatchNorm's γ, or measured on calibration data</span></summary>
      ${this.blocksOpen
        ? html`<block-list .host=${this.host} .plan=${this.plan} .data=${this.data} ?trusted=${s.trusted !== false} ?disabled=${this.run.kind === 'running'} .analysis=${sizesKey(s)}
            @plan-change=${(e: CustomEvent<{ plan: ViewPlan }>) => this.setPlan(e.detail.plan)}></block-list>`
        : nothing}
    </details>`;
  }

  private renderComparison() {
    const pf = this.summary!.prunedFrom!;
    const entries = Object.entries(pf.widths);
    const changed = entries.filter(([, [b, a]]) => a !== b).length;
    const sum = entries.reduce((acc, [, [b, a]]) => [acc[0]! + b, acc[1]! + a], [0, 0]);
    return html`<details class="card compare" open aria-label="Comparison with the original" style="margin-bottom:10px">
      <summary><h2 style="display:inline">Pruned from <button class="link" title=${pf.source} @click=${() => void this.openFile(pf.source)}>${pf.source.split(/[\\/]/).pop()}</button>${pf.criterion ? html` <span class="muted">by ${pf.criterion}</span>` : nothing}</h2></summary>
      <div class="muted" style="margin-bottom:6px">${changed} of ${entries.length} layers narrower; ${int(sum[0]!)} → ${int(sum[1]!)} channels (${pct(sum[0] ? sum[1]! / sum[0] : 0)} kept).</div>
      <div class="scroll"><table>
        <thead><tr><th>layer</th><th>before</th><th>after</th><th>kept</th><th class="w"></th></tr></thead>
        <tbody>${entries.map(([name, [b, a]]) => html`<tr><td class="ellipsis" title=${name}>${name}</td><td>${int(b)}</td><td>${int(a)}</td><td>${pct(b ? a / b : 0, 0)}</td>
          <td class="w"><div class="wbar" role="img" aria-label=${`${a} of ${b} channels kept`}><div style="width:${b ? (a / b) * 100 : 0}%"></div></div></td></tr>`)}</tbody>
      </table></div>
    </details>`;
  }

  private renderFailure() {
    const f = this.failure!;
    return html`<div class="failed card" role="alert">
      <h2 class="error">${f.cancelled ? 'Opening the model was cancelled' : 'This model could not be opened'}</h2>
      <p>${f.message}</p>
      ${f.details ? html`<details><summary>Details</summary><pre>${f.details}</pre></details>` : nothing}
      <p class="muted">The file was not changed. Check that it is an ONNX model (a protobuf ModelProto) and that its external-data files are beside it.</p>
    </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'onnx-model-view': ModelView;
  }
}
