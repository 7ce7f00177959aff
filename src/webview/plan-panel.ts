// The plan panel: criterion, ratio or threshold, scope, rounding, minimum width, exclusions;
// the live preview of what the plan does; Prune with progress and cancel; the report.
import { LitElement, html, css, nothing } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import {
  CRITERIA, DATA_CRITERIA, PLAN_CRITERION_LABELS, PRUNE_PHASES, isDataCriterion, PRUNE_PHASE_LABELS, latencyWithinNoise, prunePhase,
  type DataState, type PlanCriterion, type LatencyStats, type PlanPreview, type PrunePhase, type PruneReport, type TargetCheck, type ValidationReport, type ViewPlan, type ViewSummary,
} from '../shared/protocol.ts';
import { bytes, change, int, ms, pct, score, si } from './format.ts';
import { panel } from './styles.ts';
import './data-panel.ts';
import './target-panel.ts';
import type { HostClient } from './host.ts';
import { progressLine } from './progress.ts';

export type RunState =
  | { kind: 'idle' }
  | { kind: 'running'; stage: string; fraction?: number; phase?: PrunePhase; phases?: PrunePhase[] }
  | { kind: 'done'; report: PruneReport; target?: TargetCheck }
  | { kind: 'failed'; message: string; details?: string }
  | { kind: 'cancelled' };

type OutputRow = ValidationReport['outputs'][number];
type RunInfo = ValidationReport['original'];

@customElement('plan-panel')
export class PlanPanel extends LitElement {
  static override styles = [
    panel,
    css`
      :host { display: flex; flex-direction: column; gap: 10px; }
      .ratio { display: flex; gap: 8px; align-items: center; }
      .ratio input[type=range] { flex: 1; accent-color: var(--vscode-button-background); }
      .ratio output { min-width: 3.5em; text-align: right; font-variant-numeric: tabular-nums; }
      .stats { display: grid; grid-template-columns: auto 1fr auto; gap: 2px 10px; align-items: baseline; font-variant-numeric: tabular-nums; }
      .stats .big { font-size: 1.15em; font-weight: 600; text-align: right; }
      .delta { color: var(--vscode-charts-green, #388a34); font-weight: 600; text-align: right; }
      .bar { height: 4px; background: var(--vscode-panel-border, rgba(128,128,128,0.3)); border-radius: 2px; grid-column: 1 / -1; margin-bottom: 6px; }
      .bar > div { height: 100%; background: var(--vscode-charts-blue, #3794ff); border-radius: 2px; }
      .chips { display: flex; flex-wrap: wrap; gap: 4px; }
      .chip { display: inline-flex; gap: 4px; align-items: center; max-width: 100%; }
      .chip span { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; max-width: 220px; }
      .chip button { all: unset; cursor: pointer; padding: 0 2px; }
      .actions { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
      .progress { display: flex; flex-direction: column; gap: 6px; }
      table.report { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; }
      table.report td, table.report th { padding: 2px 4px; text-align: right; border-bottom: 1px solid var(--vscode-panel-border, rgba(128,128,128,0.25)); }
      table.report th:first-child, table.report td:first-child { text-align: left; }
      table.report th { font-weight: 600; color: var(--vscode-descriptionForeground); white-space: nowrap; }
      .path { word-break: break-all; }
      .run-result { overflow-wrap: anywhere; }
      table.report td { white-space: nowrap; }
      ol.phases { list-style: none; margin: 0; padding: 0; display: flex; flex-direction: column; gap: 1px; font-size: 0.92em; }
      ol.phases li.pending, ol.phases li.skipped { color: var(--vscode-descriptionForeground); }
      ol.phases li.current { font-weight: 600; }
      .recovery summary { cursor: pointer; }
      .recovery .scroll { max-height: 240px; overflow: auto; }
    `,
  ];

  @property({ attribute: false }) plan!: ViewPlan;
  @property({ attribute: false }) summary: ViewSummary | undefined;
  @property({ attribute: false }) preview: PlanPreview | undefined;
  @property({ attribute: false }) previewError = '';
  @property({ type: Boolean }) previewPending = false;
  /** Progress of the preview's scoring (a plan-time criterion being measured), when it reports any. */
  @property({ attribute: false }) previewProgress: { stage: string; fraction?: number } | undefined;
  @property({ attribute: false }) run: RunState = { kind: 'idle' };
  @property({ type: Number }) suggestedThreshold: number | undefined;
  @property({ attribute: false }) data: DataState | undefined;
  @property({ type: Boolean }) dataBusy = false;
  @property({ attribute: false }) dataError = '';
  /** For the Target section's requests (scan, find plan). */
  @property({ attribute: false }) host: HostClient | undefined;

  override updated(changed: Map<string, unknown>): void {
    const prev = changed.get('run') as RunState | undefined;
    if (changed.has('run') && prev?.kind === 'running' && this.run.kind !== 'running') {
      this.renderRoot.querySelector('.run-result')?.scrollIntoView({ block: 'nearest', behavior: 'instant' });
    }
  }

  private emit(plan: ViewPlan): void {
    this.dispatchEvent(new CustomEvent('plan-change', { detail: { plan }, bubbles: true, composed: true }));
  }

  private set<K extends keyof ViewPlan>(k: K, v: ViewPlan[K]): void {
    const next = { ...this.plan, [k]: v };
    if (v === undefined) delete next[k];
    this.emit(next);
  }

  private setMode(mode: 'ratio' | 'threshold'): void {
    const next = { ...this.plan };
    if (mode === 'ratio') {
      delete next.threshold;
      next.ratio ??= 0.5;
    } else {
      delete next.ratio;
      next.threshold = this.suggestedThreshold !== undefined ? Number(this.suggestedThreshold.toPrecision(2)) : 0.01;
      next.scope = 'global';
    }
    this.emit(next);
  }

  private intField(k: 'roundTo' | 'minChannels', e: Event): void {
    const n = Number.parseInt((e.target as HTMLInputElement).value, 10);
    this.set(k, Number.isFinite(n) && n >= 1 ? n : undefined);
  }

  private addExclusion(e: Event): void {
    const input = e.target as HTMLInputElement;
    const names = input.value.split(',').map((s) => s.trim()).filter(Boolean);
    if (!names.length) return;
    this.set('exclude', [...new Set([...(this.plan.exclude ?? []), ...names])]);
    input.value = '';
  }

  private removeExclusion(name: string): void {
    const left = (this.plan.exclude ?? []).filter((n) => n !== name);
    this.set('exclude', left.length ? left : undefined);
  }

  private removeOverride(name: string): void {
    const o = { ...(this.plan.overrides ?? {}) };
    delete o[name];
    this.set('overrides', Object.keys(o).length ? o : undefined);
  }

  /** Why a data criterion cannot be chosen now (no calibration data, Restricted Mode, data that cannot feed the model), or undefined. */
  private dataCriterionBlocked(): string | undefined {
    if (this.summary?.trusted === false) return 'measured by running the model on calibration inputs: needs a trusted workspace (this one is in Restricted Mode)';
    if (this.data?.unavailable) return `needs calibration data, which cannot feed this model (${this.data.unavailable})`;
    if (!this.data?.calibration) return 'measured on calibration inputs: choose them under Data and recovery first';
    return undefined;
  }

  private act(name: 'prune' | 'cancel-prune' | 'cancel-preview' | 'open-pruned' | 'dismiss-report', detail?: unknown): void {
    this.dispatchEvent(new CustomEvent(name, { detail, bubbles: true, composed: true }));
  }

  override render() {
    const p = this.plan;
    const mode = p.threshold !== undefined ? 'threshold' : 'ratio';
    const hasBn = (this.summary?.bnCount ?? 0) > 0;
    const running = this.run.kind === 'running';
    const blocked = this.dataCriterionBlocked();
    const option = (c: PlanCriterion, disabled: boolean, why?: string) =>
      html`<vscode-option value=${c} data-criterion=${c} description=${why ? `${PLAN_CRITERION_LABELS[c].help} — ${why}` : PLAN_CRITERION_LABELS[c].help} ?selected=${c === p.criterion} ?disabled=${disabled}>${PLAN_CRITERION_LABELS[c].short}${isDataCriterion(c) ? ' (data)' : ''}</vscode-option>`;
    return html`
      <section class="card" aria-label="Pruning plan">
        <h2>Pruning plan</h2>
        <div class="field">
          <label for="criterion">Criterion</label>
          <vscode-single-select id="criterion" aria-label="Importance criterion" .value=${p.criterion} @change=${(e: Event) => this.set('criterion', (e.target as HTMLSelectElement).value as PlanCriterion)}>
            ${CRITERIA.map((c) => option(c, c === 'bn-gamma' && !hasBn))}
            ${option('sketch', false)}
            ${DATA_CRITERIA.map((c) => option(c, blocked !== undefined, blocked))}
          </vscode-single-select>
          <span class="muted hint" data-criterion-help>${PLAN_CRITERION_LABELS[p.criterion].help}${p.criterion === 'bn-gamma' && !hasBn ? ' — this model has no BatchNorm: choose a filter norm.' : ''}${isDataCriterion(p.criterion) && blocked ? html` — <span class="warning" data-criterion-blocked>${blocked}</span>` : nothing}</span>
          ${blocked && !isDataCriterion(p.criterion)
            ? html`<span class="muted hint" data-data-criteria-off>Data criteria (${DATA_CRITERIA.map((c) => PLAN_CRITERION_LABELS[c].short).join(', ')}): ${blocked}.</span>`
            : nothing}
        </div>

        <div class="field" style="margin-top:8px">
          <span class="legend" id="mode-label">Remove</span>
          <span class="seg" role="group" aria-labelledby="mode-label">
            <button aria-pressed=${mode === 'ratio' ? 'true' : 'false'} @click=${() => this.setMode('ratio')}>a share of channels</button>
            <button aria-pressed=${mode === 'threshold' ? 'true' : 'false'} @click=${() => this.setMode('threshold')}>scores below a threshold</button>
          </span>
          ${mode === 'ratio'
            ? html`<div class="ratio">
                <input type="range" min="0" max="0.95" step="0.01" aria-label="Share of channels to remove" .value=${String(p.ratio ?? 0.5)}
                  @input=${(e: Event) => this.set('ratio', Number((e.target as HTMLInputElement).value))}>
                <output id="ratio-value" aria-live="polite">${pct(p.ratio ?? 0.5, 0)}</output>
              </div>`
            : html`<vscode-textfield inputmode="decimal" aria-label="Score threshold" .value=${String(p.threshold ?? '')}
                @change=${(e: Event) => { const v = Number((e.target as HTMLInputElement).value); if (Number.isFinite(v) && v >= 0) this.set('threshold', v); }}></vscode-textfield>
              <span class="muted hint">Channels whose ${PLAN_CRITERION_LABELS[p.criterion].short} is below ${score(p.threshold)} are removed.</span>`}
        </div>

        <div class="field" style="margin-top:8px">
          <span class="legend" id="scope-label">Scope</span>
          <span class="seg" role="group" aria-labelledby="scope-label">
            <button aria-pressed=${p.scope === 'uniform' ? 'true' : 'false'} title="The same share in every prunable group" @click=${() => this.set('scope', 'uniform')}>uniform</button>
            <button aria-pressed=${p.scope === 'global' ? 'true' : 'false'} title="One ranking over all layers: each layer gets its own share (Network Slimming)" @click=${() => this.set('scope', 'global')}>global</button>
          </span>
          <span class="muted hint">${p.scope === 'uniform' ? 'The same share of channels in every prunable group.' : 'One ranking over all layers: each layer loses as many channels as fall below the global cut.'}</span>
        </div>
        ${p.scope === 'global' || mode === 'threshold' ? this.renderNormalize() : nothing}

        <div class="row2" style="margin-top:8px">
          <div class="field"><label for="round">Round to</label>
            <vscode-textfield id="round" type="number" min="1" aria-label="Keep a multiple of this many channels" .value=${String(p.roundTo ?? 1)} @change=${(e: Event) => this.intField('roundTo', e)}></vscode-textfield></div>
          <div class="field"><label for="minch">Minimum channels</label>
            <vscode-textfield id="minch" type="number" min="1" aria-label="Never keep fewer channels than this" .value=${String(p.minChannels ?? 1)} @change=${(e: Event) => this.intField('minChannels', e)}></vscode-textfield></div>
        </div>

        <div class="field" style="margin-top:8px">
          <vscode-checkbox .checked=${p.compensate ?? true} @change=${(e: Event) => this.set('compensate', (e.target as HTMLInputElement).checked)}
            label="Compensate: fold removed channels' expected output into the next layer"
            title="A removed channel still outputs a constant (its BN shift through the activation): add its effect to the next BatchNorm's running mean, or to the next layer's bias"></vscode-checkbox>
        </div>

        <div class="field" style="margin-top:8px">
          <label for="exclude">Exclude layers</label>
          <vscode-textfield id="exclude" placeholder="layer name, Enter to add" aria-label="Exclude layers by name" @change=${this.addExclusion}></vscode-textfield>
          ${(p.exclude?.length || Object.keys(p.overrides ?? {}).length)
            ? html`<div class="chips">
                ${(p.exclude ?? []).map((n) => html`<span class="pill outline chip" title=${`${n}: every channel kept`}><span>${n}</span>keep all<button aria-label=${`Remove exclusion of ${n}`} @click=${() => this.removeExclusion(n)}>✕</button></span>`)}
                ${Object.entries(p.overrides ?? {}).map(([n, o]) => html`<span class="pill outline chip" title=${`${n}: ${o.ratio !== undefined ? `remove ${pct(o.ratio, 0)}` : 'explicit channels'}`}><span>${n}</span>${o.ratio !== undefined ? `−${pct(o.ratio, 0)}` : 'custom'}<button aria-label=${`Remove override of ${n}`} @click=${() => this.removeOverride(n)}>✕</button></span>`)}
              </div>`
            : html`<span class="muted hint">Or set a layer's own share in the table's Plan column.</span>`}
        </div>
      </section>

      <data-panel .data=${this.data} ?busy=${this.dataBusy} .error=${this.dataError} ?trusted=${this.summary?.trusted !== false} ?disabled=${running}></data-panel>

      <target-panel .host=${this.host} .plan=${this.plan} .summary=${this.summary} .data=${this.data} ?disabled=${running}></target-panel>

      ${this.renderPreview()}

      <section class="card" aria-label="Prune">
        <div class="actions">
          <vscode-button ?disabled=${running || !this.summary?.prunableGroupCount || this.summary?.trusted === false} @click=${() => this.act('prune')} icon="fold" title="Write the pruned model beside the original and validate it in ONNX Runtime">Prune</vscode-button>
          ${this.summary?.trusted === false
            ? html`<span class="muted hint untrusted">Pruning and running models need a trusted workspace: this one is in Restricted Mode (inspection works).</span>`
            : this.summary ? html`<span class="muted hint">Writes a new file beside the original; the original is never changed.</span>` : nothing}
        </div>
        ${this.renderRun()}
      </section>
    `;
  }

  /**
   * Normalisation before a global ranking or a threshold: each group's scores divided by their
   * mean (Torch-Pruning's normalizer='mean', the CLI's --normalize). The default is the CLI's:
   * on for the filter norms and FPGM, whose scale differs from layer to layer; off for BN γ,
   * which Network Slimming ranks raw because sparsity training puts every γ on one scale.
   */
  private renderNormalize() {
    const p = this.plan;
    const byDefault = p.criterion !== 'bn-gamma';
    const on = p.normalize ?? byDefault;
    return html`<div class="field" style="margin-top:4px">
      <vscode-checkbox id="normalize" .checked=${on} label="Normalise each layer's scores by their mean before ranking"
        @change=${(e: Event) => { const v = (e.target as HTMLInputElement).checked; this.set('normalize', v === byDefault ? undefined : v); }}></vscode-checkbox>
      <span class="muted hint">Default ${byDefault ? 'on' : 'off'} for ${PLAN_CRITERION_LABELS[p.criterion].short}, as in the CLI (--normalize / --no-normalize): ${byDefault
        ? 'filter norms differ in scale from layer to layer, so raw values would empty the small-norm layers first.'
        : 'Network Slimming ranks raw |γ|, which sparsity training puts on one scale; normalising gives what Torch-Pruning computes.'}</span>
    </div>`;
  }

  private renderPreview() {
    const pv = this.preview;
    const measuring = this.previewPending && this.previewProgress
      ? html`<div class="progress" role="status" aria-live="polite" data-preview-progress>
          ${progressLine(this.previewProgress.stage, this.previewProgress.fraction, 'Scoring progress')}
          <div><vscode-button secondary icon="close" data-cancel-preview @click=${() => this.act('cancel-preview')}>Cancel</vscode-button></div>
        </div>`
      : nothing;
    if (!pv) {
      return html`<section class="card" aria-label="Preview" aria-busy=${this.previewPending ? 'true' : 'false'}>
        <h3>After pruning</h3>
        ${measuring}
        ${this.previewError ? html`<div class="error" data-preview-error>${this.previewError}</div>` : html`<div class="muted">${this.previewPending ? 'Computing…' : 'Move a control to see the result.'}</div>`}
      </section>`;
    }
    const ch = pv.layers.reduce((a, l) => [a[0]! + l.channelsBefore, a[1]! + l.channelsAfter], [0, 0]);
    const changed = pv.layers.filter((l) => l.channelsAfter !== l.channelsBefore).length;
    const line = (label: string, b: number, a: number, fmt: (n: number) => string) => html`
      <span>${label}</span><span class="big" data-stat=${label} data-before=${b} data-after=${a} title=${`${int(b)} → ${int(a)}`}>${fmt(a)}</span><span class="delta">${change(b, a)}</span>
      <span class="bar" role="img" aria-label=${`${label}: ${pct(b ? a / b : 0)} of before`}><div style="width:${b ? Math.min(100, (a / b) * 100) : 0}%"></div></span>`;
    return html`<section class="card preview" aria-label="Preview" aria-busy=${this.previewPending ? 'true' : 'false'} style=${this.previewPending ? 'opacity:0.75' : ''}>
      <h3>After pruning ${this.previewPending ? html`<span class="muted">(updating…)</span>` : nothing}</h3>
      <div class="stats">
        ${line('Parameters', pv.params.before, pv.params.after, int)}
        ${line('MACs', pv.macs.before, pv.macs.after, (n) => `${si(n)}`)}
        ${line('Channels', ch[0]!, ch[1]!, int)}
      </div>
      ${measuring}
      <div class="muted hint">${changed} of ${pv.layers.length} layers narrower${pv.removedBlocks?.length ? html`, <span data-removed-blocks=${pv.removedBlocks.length}>${pv.removedBlocks.length} residual block${pv.removedBlocks.length === 1 ? '' : 's'} removed whole</span>` : ''}; before: ${int(pv.params.before)} parameters, ${si(pv.macs.before)} MACs.${pv.macs.complete === false ? html` <span class="warning" data-macs-caveat>The MACs are not those of a real input: give the input size above.</span>` : nothing}</div>
      ${this.previewError ? html`<div class="error" data-preview-error>${this.previewError}</div>` : nothing}
    </section>`;
  }

  private renderRun() {
    const r = this.run;
    switch (r.kind) {
      case 'idle': return nothing;
      case 'running':
        return html`<div class="progress" role="status" aria-live="polite" style="margin-top:8px">
          ${this.renderPhases(r)}
          ${progressLine(r.stage, r.fraction, 'Pruning progress')}
          <div><vscode-button secondary icon="close" @click=${() => this.act('cancel-prune')}>Cancel</vscode-button></div>
        </div>`;
      case 'cancelled':
        return html`<div class="warning run-result" role="status" style="margin-top:8px">Pruning was cancelled; no file was written.</div>`;
      case 'failed':
        return html`<div class="error run-result" role="alert" style="margin-top:8px">Pruning failed: ${r.message}${r.details ? html`<details><summary>Details</summary><pre class="path">${r.details}</pre></details>` : nothing}</div>`;
      case 'done':
        return this.renderReport(r.report, r.target);
    }
  }

  /** The phases of the run: done ones ticked, the current one marked (statistics and reconstruction only when recovery measures). */
  private renderPhases(r: Extract<RunState, { kind: 'running' }>) {
    const current = r.phase ?? prunePhase(r.stage);
    const seen = new Set(r.phases ?? [current]);
    const at = PRUNE_PHASES.indexOf(current);
    return html`<ol class="phases" aria-label="Phases">
      ${PRUNE_PHASES.map((p, i) => {
        const state = p === current ? 'current' : i < at ? (seen.has(p) ? 'done' : 'skipped') : 'pending';
        return html`<li data-phase=${p} data-state=${state} class=${state}>${state === 'done' ? '✓' : state === 'current' ? '▸' : state === 'skipped' ? '–' : '·'} ${PRUNE_PHASE_LABELS[p]}</li>`;
      })}
    </ol>`;
  }

  /** The target the found plan was for, checked on the written model (as the command line checks it). */
  private renderTarget(t: TargetCheck) {
    const b = t.budget;
    const fmt = (v: number) => (t.unit === 'MACs' || t.unit === 'parameters' ? `${si(v)} ${t.unit}` : t.unit === 'ms' ? `${v.toFixed(2)} ms` : `${v.toFixed(2)} points`);
    const goal = b.kind === 'macs' || b.kind === 'params' ? `${pct(b.fraction, 0)} of the ${t.unit} (${fmt(t.target)})` : b.kind === 'latency' ? `${b.ms} ms` : `at most ${(b as { points: number }).points} points lost`;
    const how = t.unit === 'ms' && t.latency
      ? ` — the written model ${t.latency.pruned.medianMs.toFixed(2)} ms, the original ${t.latency.original.medianMs.toFixed(2)} ms (median of ${t.latency.pruned.runs}, ${t.latency.pruned.provider.toUpperCase()}, ${t.latency.pruned.threads} thread${t.latency.pruned.threads === 1 ? '' : 's'})`
      : t.unit === 'points' && t.loss
        ? ` — ${t.value.toFixed(2)} points of ${t.loss.unit} lost on ${int(t.loss.count)} ${t.loss.on} inputs`
        : ` — the written model has ${fmt(t.value)}`;
    const by = t.unit === 'MACs' || t.unit === 'parameters' ? `${fmt(t.miss)} (${pct(t.missFraction)})` : `${fmt(t.miss)} (${pct(t.missFraction)})`;
    return html`<div class=${t.met ? 'hint' : 'warning hint'} role="status" style="margin-top:4px" data-target-check data-met=${t.met ? 'yes' : 'no'} data-value=${t.value} data-target=${t.target}>
      ${t.met ? html`<strong>Target met</strong>: ${goal}${how}.` : html`<strong>Target missed by ${by}</strong>: ${goal}${how}.`}
    </div>`;
  }

  private renderReport(rep: PruneReport, target?: TargetCheck) {
    const v = rep.validation;
    const size = rep.size;
    const before = v?.original, after = v?.pruned;
    const sizeBefore = size?.before ?? before?.sizeBytes, sizeAfter = size?.after ?? after?.sizeBytes;
    const lat = (x?: RunInfo) => x?.latency?.medianMs;
    const row = (label: string, b: number | undefined, a: number | undefined, fmt: (n: number) => string) =>
      b === undefined && a === undefined ? nothing : html`<tr data-row=${label} data-before=${b ?? ''} data-after=${a ?? ''}><td>${label}</td><td>${b === undefined ? '–' : fmt(b)}</td><td>${a === undefined ? '–' : fmt(a)}</td><td>${b !== undefined && a !== undefined ? change(b, a) : ''}</td></tr>`;
    return html`<div class="report run-result" role="region" aria-label="Pruning report" style="margin-top:8px">
      <h3>Report</h3>
      <div>Wrote <span class="path" title=${rep.output}>${rep.output.split(/[\\/]/).pop()}</span></div>
      ${target ? this.renderTarget(target) : nothing}
      <table class="report" style="margin-top:6px">
        <thead><tr><th></th><th>before</th><th>after</th><th>change</th></tr></thead>
        <tbody>
          ${row('Parameters', rep.params.before, rep.params.after, int)}
          ${row('MACs', rep.macs.before, rep.macs.after, si)}
          ${row('Size', sizeBefore, sizeAfter, bytes)}
          ${before?.latency && after?.latency && latencyWithinNoise(before.latency, after.latency)
            ? html`<tr data-latency-row><td>Latency (median)</td><td>${ms(before.latency.medianMs)}</td><td>${ms(after.latency.medianMs)}</td><td title="Within the run-to-run spread">noise</td></tr>`
            : row('Latency (median)', lat(before), lat(after), ms)}
        </tbody>
      </table>
      ${v?.evaluation ? this.renderEvaluation(v.evaluation) : html`<div class="muted hint" style="margin-top:6px" data-no-evaluation>No evaluation set chosen: choose one under Data and recovery for the accuracy before and after.</div>`}
      ${rep.recovery ? this.renderRecovery(rep.recovery, v?.fallbackReason) : nothing}
      ${v ? this.renderValidation(v) : html`<div class="muted hint" style="margin-top:6px">Not validated in ONNX Runtime.</div>`}
      ${(rep.warnings ?? []).length ? html`<details style="margin-top:6px"><summary>${rep.warnings.length} warning${rep.warnings.length === 1 ? '' : 's'}</summary>${rep.warnings.map((w) => html`<div class="warning hint">${w}</div>`)}</details>` : nothing}
      <div class="actions" style="margin-top:8px">
        <vscode-button icon="go-to-file" @click=${() => this.act('open-pruned', { path: rep.output })}>Open pruned model</vscode-button>
        <vscode-button secondary @click=${() => this.act('dismiss-report')}>Dismiss</vscode-button>
      </div>
    </div>`;
  }

  /** Accuracy before and after on the evaluation set (or, without labels, agreement with the original). */
  private renderEvaluation(e: NonNullable<ValidationReport['evaluation']>) {
    const acc = e.original && e.pruned;
    const c = e.comparison;
    return html`<div class="evaluation" style="margin-top:8px" role="region" aria-label="Evaluation">
      <h3>${acc ? 'Accuracy' : 'Agreement with the original'} <span class="muted">on ${int(e.count)} inputs of ${e.source.split(/[\\/]/).pop()}</span></h3>
      ${acc
        ? html`<table class="report" data-accuracy>
            <thead><tr><th></th><th>before</th><th>after</th><th>change</th></tr></thead>
            <tbody>
              <tr data-metric="top1"><td>Top-1</td><td data-before=${e.original!.top1}>${pct(e.original!.top1)}</td><td data-after=${e.pruned!.top1}>${pct(e.pruned!.top1)}</td><td>${points(e.original!.top1, e.pruned!.top1)}</td></tr>
              ${e.original!.top5 !== undefined && e.pruned!.top5 !== undefined
                ? html`<tr data-metric="top5"><td>Top-5</td><td>${pct(e.original!.top5)}</td><td>${pct(e.pruned!.top5)}</td><td>${points(e.original!.top5, e.pruned!.top5)}</td></tr>`
                : nothing}
            </tbody>
          </table>`
        : nothing}
      ${c
        ? html`<div class="muted hint" data-agreement>${c.top1Agreement !== undefined ? html`Top-1 agreement <strong>${pct(c.top1Agreement)}</strong>, ` : nothing}mean cosine ${c.meanCosine.toFixed(5)} (lowest ${c.minCosine.toFixed(4)}), drift ${score(c.relativeError)}</div>`
        : nothing}
      ${e.labels ? html`<div class="muted hint">Labels: ${e.labels.split(/[\\/]/).pop()}</div>` : nothing}
      ${e.warnings.map((w) => html`<div class="warning hint">${w}</div>`)}
    </div>`;
  }

  /** What recovery ran, why, and what it did per layer (the engine's RecoveryReport). */
  private renderRecovery(r: PruneReport['recovery'], validationReason?: string) {
    const refit = r.layers.filter((l) => l.status === 'refit').length;
    const skipped = r.layers.filter((l) => l.status === 'skipped');
    return html`<details class="recovery" style="margin-top:8px" ?open=${skipped.length > 0} data-recovery>
      <summary><strong>Recovery: ${r.steps.length ? r.steps.join(' + ') : 'none'}</strong> <span class="muted">(${r.requested} asked)${r.layers.length ? ` · ${refit} layer${refit === 1 ? '' : 's'} refit${skipped.length ? `, ${skipped.length} skipped` : ''}` : ''}${r.ms ? ` · ${ms(r.ms)}` : ''}</span></summary>
      <div class="muted hint" data-recovery-why>${r.why}</div>
      ${r.calibration ? html`<div class="muted hint">On ${int(r.calibration.count)} calibration inputs of ${r.calibration.source.split(/[\\/]/).pop()}${r.provider ? `, ${r.provider.toUpperCase()}` : ''}, ${r.passes} pass${r.passes === 1 ? '' : 'es'}${r.fallbackReason && r.fallbackReason !== validationReason ? html` <span title=${r.fallbackReason}>(${shortReason(r.fallbackReason)})</span>` : ''}</div>` : nothing}
      ${r.layers.length
        ? html`<div class="scroll"><table class="report" style="margin-top:4px" data-recovery-layers>
            <thead><tr><th>layer</th><th>step</th><th>result</th><th>error before → after</th></tr></thead>
            <tbody>${r.layers.map((l) => html`<tr data-status=${l.status}><td class="ellipsis" title=${`${l.name} (${l.op})`}>${l.name}</td><td>${l.step}</td>
              <td title=${l.reason ?? ''}>${l.status === 'refit' ? 'refit' : html`<span class="warning">skipped</span>`}</td>
              <td>${l.errorBefore !== undefined && l.errorAfter !== undefined ? `${score(l.errorBefore)} → ${score(l.errorAfter)}` : l.maxShift !== undefined ? `shift ≤ ${score(l.maxShift)}` : l.reason ?? ''}</td></tr>`)}</tbody>
          </table></div>`
        : nothing}
    </details>`;
  }

  /** Median latency with its spread and run count, and whether the difference is within the noise. */
  private renderLatency(v: ValidationReport) {
    const a = v.original?.latency;
    const b = v.pruned?.latency;
    if (!a || !b) return nothing;
    const spread = (l: LatencyStats) => `${ms(l.medianMs)} (min ${ms(l.minMs)}, p90 ${ms(l.p90Ms)})`;
    const noise = latencyWithinNoise(a, b);
    const batch = v.inputs?.[0]?.dims?.[0];
    return html`<div class="latency" style="margin-top:6px" data-latency data-noise=${noise ? 'yes' : 'no'}>
      <div>Latency${batch ? ` per batch of ${batch}` : ''}: ${spread(a)} → ${spread(b)}, <span data-runs>${a.runs} timed run${a.runs === 1 ? '' : 's'} each</span> after ${v.warmup} warm-up</div>
      ${noise
        ? html`<div class="warning hint" data-latency-noise>The difference (${change(a.medianMs, b.medianMs)}) is within the run-to-run spread: noise, not a measured speed-up${a.runs < 5 ? '; raise the timed runs' : ''}.</div>`
        : nothing}
    </div>`;
  }

  private renderValidation(v: ValidationReport) {
    const outs = (v.outputs ?? []).filter((o) => o.comparable);
    const inputs = (v.inputs ?? []).map((i) => `${i.name} [${i.dims.join(', ')}] ${i.source === 'random' ? `random (seed ${v.seed ?? 0})` : i.file ? i.file.split(/[\\/]/).pop() : i.source}`);
    return html`<div style="margin-top:8px">
      <div data-provider>Validated on <strong>${(v.provider ?? '?').toUpperCase()}</strong>${v.fallbackReason ? html` <span class="muted" title=${v.fallbackReason}>(${shortReason(v.fallbackReason)})</span>` : nothing}</div>
      ${inputs.length ? html`<div class="muted hint" data-validation-inputs>Inputs: ${inputs.join('; ')}</div>` : nothing}
      ${this.renderLatency(v)}
      ${outs.length
        ? html`<table class="report" style="margin-top:4px">
            <thead><tr><th>output</th><th>max |Δ|</th><th>cosine</th><th>top-1 agree</th></tr></thead>
            <tbody>${outs.map((o) => html`<tr><td class="ellipsis" title=${o.name}>${o.name}</td><td>${score(o.maxAbsDiff)}</td><td>${o.cosine === undefined ? '–' : o.cosine.toFixed(5)}</td><td>${top1(o)}</td></tr>`)}</tbody>
          </table>`
        : nothing}
      ${(v.outputs ?? []).filter((o) => !o.comparable && o.note).map((o) => html`<div class="warning">${o.name}: ${o.note}</div>`)}
      ${(v.notes ?? []).map((n) => html`<div class="muted hint">${n}</div>`)}
    </div>`;
  }
}

/**
 * Why CUDA was not used, in a few words: the reason without the runtime's own message in
 * parentheses ('CUDA not available (OrtSessionOptions…: Failed to load shared library)' → 'CUDA
 * not available'); the whole reason is the tooltip.
 */
export function shortReason(reason: string): string {
  const short = reason.replace(/\s*\(.*\)\s*$/s, '').trim();
  return short || reason;
}

/** The change in accuracy as percentage points: "-2.3 pt" (the sign convention of change()). */
function points(before: number, after: number): string {
  const d = (after - before) * 100;
  return `${d < 0 ? '-' : d > 0 ? '+' : '±'}${Math.abs(d).toFixed(1)} pt`;
}

/** Top-1 agreement; with few test inputs (the batch), as a count: "0 of 1 input" says more than "0.0%". */
function top1(o: OutputRow): string {
  if (o.top1Agreement === undefined) return '–';
  const n = o.originalShape?.[0];
  if (typeof n === 'number' && n > 0 && n < 10) return `${Math.round(o.top1Agreement * n)} of ${n} input${n === 1 ? '' : 's'}`;
  return pct(o.top1Agreement);
}

declare global {
  interface HTMLElementTagNameMap {
    'plan-panel': PlanPanel;
  }
}
