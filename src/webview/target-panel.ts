// The plan panel's Target section: a budget (a share of the model's MACs or parameters, a latency
// in ms measured in ONNX Runtime on this machine — the original's shown —, or a maximum loss in
// points), the scan's settings (ratios, inputs, break loss; the command line's defaults), the
// sensitivity scan on the calibration data chosen under Data and recovery (progress and cancel;
// cached beside the model by the host, so a model opened again shows its scan at once), and
// "Find plan", which sets the plan's per-layer shares (the table's Plan column shows them and the
// user can still edit them). Below, the sensitivity of every scanned group: its loss at each ratio
// as a sparkline, ranked by how much it tolerates, the share the plan gives it marked. A view
// only: the scan and the plan come from the host.
import { LitElement, html, css, nothing, svg } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import { SCAN_DEFAULTS, type DataState, type FoundPlan, type LatencyView, type ScanGroupView, type ViewBudget, type ViewPlan, type ViewScan, type ViewScanSettings, type ViewSummary } from '../shared/protocol.ts';
import { int, pct, si } from './format.ts';
import { rankGroups, tolerates } from '../shared/scan-rank.ts';
import type { HostClient, RequestError } from './host.ts';
import { progressLine, track, type TrackedRun } from './progress.ts';
import { panel } from './styles.ts';

type ScanRun = TrackedRun | { kind: 'finding'; stage?: string; id?: number };

/** The scan settings typed in the view: parsed, or the message saying what is wrong. */
export function parseSettingsInput(ratios: string, inputs: string, breakLoss: string): { settings: ViewScanSettings } | { error: string } {
  const rs = ratios.split(/[\s,;]+/).filter(Boolean).map(Number);
  if (!rs.length || rs.some((r) => !(r > 0 && r < 1))) return { error: `Ratios: numbers between 0 and 1, separated by commas (got "${ratios}")` };
  if (new Set(rs).size !== rs.length) return { error: 'Ratios: each ratio once' };
  if (rs.length > 32) return { error: 'Ratios: at most 32' };
  const n = Number(inputs);
  if (!(Number.isInteger(n) && n >= 2 && n <= 100_000)) return { error: `Inputs: a whole number from 2 (got "${inputs}")` };
  const b = Number(breakLoss);
  if (!(b > 0 && b <= 100)) return { error: `Break loss: points in (0, 100] (got "${breakLoss}")` };
  return { settings: { ratios: [...rs].sort((x, y) => x - y), inputs: n, breakLoss: b } };
}

const UNIT: Record<ViewBudget['kind'], string> = { macs: 'MACs', params: 'parameters', latency: 'ms', loss: 'points' };

@customElement('target-panel')
export class TargetPanel extends LitElement {
  static override styles = [
    panel,
    css`
      :host { display: block; }
      .row { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; }
      .fraction { width: 5.5em; }
      table.sens { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: 0.92em; }
      table.sens td, table.sens th { padding: 1px 4px; border-bottom: 1px solid var(--vscode-panel-border, rgba(128,128,128,0.2)); text-align: right; }
      table.sens th:first-child, table.sens td:first-child { text-align: left; max-width: 140px; overflow: hidden; text-overflow: ellipsis; white-space: nowrap; }
      table.sens th { font-weight: 600; color: var(--vscode-descriptionForeground); }
      .scroll { max-height: 320px; overflow: auto; }
      svg.spark { display: block; }
      svg.spark .curve { fill: none; stroke: var(--vscode-charts-blue, #3794ff); stroke-width: 1.5; }
      svg.spark .dot { fill: var(--vscode-charts-blue, #3794ff); }
      svg.spark .chosen { stroke: var(--vscode-charts-orange, #d18616); stroke-width: 1.5; }
      svg.spark .base { stroke: var(--vscode-panel-border, rgba(128,128,128,0.4)); stroke-width: 1; }
      .found { margin-top: 6px; }
    `,
  ];

  @property({ attribute: false }) host: HostClient | undefined;
  @property({ attribute: false }) plan!: ViewPlan;
  @property({ attribute: false }) summary: ViewSummary | undefined;
  @property({ attribute: false }) data: DataState | undefined;
  /** Another run (a prune) is going on. */
  @property({ type: Boolean }) disabled = false;

  @state() private kind: ViewBudget['kind'] = 'macs';
  @state() private percent = 50;
  /** Latency budget (ms; proposed at 70% of the original's once measured) and maximum loss (points). */
  @state() private ms: number | undefined;
  @state() private points = 1;
  @state() private original: LatencyView | undefined;
  @state() private timing: 'idle' | 'running' | string = 'idle';
  /** The input sizes the original was timed at (a size given in the view times it again), and the timing asked last. */
  private timedAt: string | undefined;
  private timingSeq = 0;
  /** The latency budget is the 70% proposed, not a value typed (proposed again after a new timing). */
  private msProposed = false;
  /** Scan settings as typed (the command line's defaults). */
  @state() private ratiosText = SCAN_DEFAULTS.ratios.join(', ');
  @state() private inputsText = String(SCAN_DEFAULTS.inputs);
  @state() private breakText = String(SCAN_DEFAULTS.breakLoss);
  @state() private scan: ViewScan | null = null;
  @state() private run: ScanRun = { kind: 'idle' };
  @state() private found: FoundPlan | undefined;
  /** The choices the shown scan was made with (criterion, compensation, minimum width, recovery, calibration set). */
  private scanKey = '';
  private lookupSeq = 0;

  /** What a scan depends on, as the view knows it. */
  private choicesKey(): string {
    const p = this.plan;
    const c = this.data?.calibration;
    return JSON.stringify([p?.criterion, p?.compensate ?? true, p?.minChannels ?? 1, this.data?.recover, c?.name, c?.count, c?.total, this.data?.preset, this.settingsState()]);
  }

  private settingsState(): ReturnType<typeof parseSettingsInput> {
    return parseSettingsInput(this.ratiosText, this.inputsText, this.breakText);
  }

  /** The scan settings to send (valid ones). */
  private get settings(): ViewScanSettings | undefined {
    const st = this.settingsState();
    return 'settings' in st ? st.settings : undefined;
  }

  private get ready(): boolean {
    return !!this.host && this.summary?.trusted !== false && !!this.data?.calibration && !this.data.errors.some((e) => e.startsWith('calibration')) && !!this.settings;
  }

  /** The budget as chosen, or undefined while its value is missing. */
  private budget(): ViewBudget | undefined {
    if (this.kind === 'latency') return this.ms !== undefined && this.ms > 0 ? { kind: 'latency', ms: this.ms } : undefined;
    if (this.kind === 'loss') return { kind: 'loss', points: this.points };
    return { kind: this.kind, fraction: this.percent / 100 };
  }

  private setKind(kind: ViewBudget['kind']): void {
    this.kind = kind;
    if (kind === 'latency' && !this.original && this.timing !== 'running') void this.measureOriginal();
  }

  /** The original's latency, as a latency target measures it (the host measures it once per model and input size). */
  private async measureOriginal(): Promise<void> {
    if (!this.host) return;
    const seq = ++this.timingSeq;
    this.timing = 'running';
    try {
      const original = await this.host.request('measureLatency', {});
      if (seq !== this.timingSeq) return;
      this.original = original;
      if (this.ms === undefined || this.msProposed) {
        this.ms = Math.round(original.medianMs * 0.7 * 100) / 100;
        this.msProposed = true;
      }
      this.timing = 'idle';
    } catch (e) {
      if (seq === this.timingSeq) this.timing = (e as Error).message;
    }
  }

  override willUpdate(): void {
    // another input size given: the original's timing was at the old one
    const size = JSON.stringify(this.summary?.inputShapes ?? {});
    if (size !== this.timedAt) {
      const resize = this.timedAt !== undefined && (this.original !== undefined || this.timing === 'running');
      this.timedAt = size;
      if (resize) {
        this.original = undefined;
        this.timing = 'idle';
        this.timingSeq++;
        if (this.kind === 'latency') queueMicrotask(() => void this.measureOriginal());
      }
    }
    // the choices changed: the scan shown (and a plan found from it) no longer applies; the host's cache may have one for the new choices
    const key = this.choicesKey();
    if (key === this.scanKey) return;
    this.scanKey = key;
    this.scan = null;
    this.found = undefined;
    if (this.run.kind === 'failed' || this.run.kind === 'cancelled') this.run = { kind: 'idle' };
    if (this.ready && this.run.kind === 'idle') queueMicrotask(() => void this.lookup());
  }

  /** The cached scan for the current choices, if the host has one (nothing is computed). */
  private async lookup(): Promise<void> {
    const seq = ++this.lookupSeq;
    const key = this.scanKey;
    try {
      const settings = this.settings;
      const s = await this.host!.request('scan', { plan: this.plan, cachedOnly: true, ...(settings ? { settings } : {}) });
      if (seq === this.lookupSeq && key === this.scanKey && s && this.run.kind === 'idle') this.scan = s;
    } catch {
      // no cached scan to show: the Scan button computes one and says what went wrong
    }
  }

  private async startScan(): Promise<void> {
    if (!this.host || this.run.kind === 'running') return;
    this.lookupSeq++;
    this.found = undefined;
    const key = this.scanKey;
    const settings = this.settings;
    await track(this.host, 'scan', { plan: this.plan, cachedOnly: false, ...(settings ? { settings } : {}) }, 'Starting the scan', { get: () => this.run, set: (r) => { this.run = r; } }, (s) => {
      if (key === this.scanKey) this.scan = s;
    });
  }

  private cancelScan(): void {
    if (this.run.kind === 'running') this.host?.cancel(this.run.id);
  }

  private async findPlan(): Promise<void> {
    const budget = this.budget();
    if (!this.host || !this.scan || this.run.kind !== 'idle' || !budget) return;
    const settings = this.settings;
    // latency and loss budgets time or measure candidates: progress and cancel
    const h = this.host.start('findPlan', { plan: this.plan, budget, ...(settings ? { settings } : {}) }, (stage) => {
      if (this.run.kind === 'finding') this.run = { kind: 'finding', stage, id: h.id };
    });
    this.run = { kind: 'finding', id: h.id };
    try {
      const f = await h.result;
      this.found = f;
      this.run = { kind: 'idle' };
      // the plan with its per-layer shares replaces the plan (the table and the preview follow)
      this.dispatchEvent(new CustomEvent('plan-change', { detail: { plan: f.plan }, bubbles: true, composed: true }));
      // the plan came from this budget: a Prune of it checks the target on the written model
      this.dispatchEvent(new CustomEvent('target-found', { detail: { plan: f.plan, budget: f.budget }, bubbles: true, composed: true }));
      if (f.latency && !this.original) this.original = f.latency.original;
    } catch (e) {
      const err = e as RequestError;
      this.run = err.cancelled ? { kind: 'idle' } : { kind: 'failed', message: err.message };
    }
  }

  private setPercent(e: Event): void {
    const v = Number((e.target as HTMLInputElement).value);
    if (Number.isFinite(v) && v >= 1 && v <= 99) this.percent = v;
  }

  private setMs(e: Event): void {
    const v = Number((e.target as HTMLInputElement).value);
    if (Number.isFinite(v) && v > 0) {
      this.ms = v;
      this.msProposed = false;
    }
  }

  private setPoints(e: Event): void {
    const v = Number((e.target as HTMLInputElement).value);
    if (Number.isFinite(v) && v >= 0 && v <= 100) this.points = v;
  }

  private renderBudget() {
    const seg = (k: ViewBudget['kind'], label: string) =>
      html`<button aria-pressed=${this.kind === k ? 'true' : 'false'} data-budget-kind=${k} @click=${() => this.setKind(k)}>${label}</button>`;
    const kinds = html`<span class="seg" role="group" aria-labelledby="budget-label">${seg('macs', 'MACs')}${seg('params', 'parameters')}${seg('latency', 'latency')}${seg('loss', 'max loss')}</span>`;
    if (this.kind === 'macs' || this.kind === 'params') {
      return html`<span class="legend" id="budget-label">Keep at most</span>
        <div class="row">
          <vscode-textfield class="fraction" type="number" min="1" max="99" aria-label="Budget: percent of the model to keep" data-budget-percent
            .value=${String(this.percent)} @change=${this.setPercent}><span slot="content-after">%</span></vscode-textfield>
          <span>of the</span>
          ${kinds}
        </div>`;
    }
    if (this.kind === 'latency') {
      const o = this.original;
      return html`<span class="legend" id="budget-label">Run within</span>
        <div class="row">
          <vscode-textfield class="fraction" type="number" min="0.01" step="0.01" aria-label="Budget: median latency in milliseconds" data-budget-ms
            .value=${this.ms === undefined ? '' : String(this.ms)} @change=${this.setMs}><span slot="content-after">ms</span></vscode-textfield>
          ${kinds}
        </div>
        <div class="muted hint" data-original-latency=${o ? String(o.medianMs) : ''}>${o
          ? html`The original runs in <strong>${o.medianMs.toFixed(2)} ms</strong> here (median of ${o.runs}, ${o.provider.toUpperCase()}, ${o.threads} thread${o.threads === 1 ? '' : 's'}, ${o.inputs ? html`<span data-latency-inputs>${Object.entries(o.inputs).map(([k, v]) => `${k} ${v.join('×')}`).join(', ')}</span>` : 'batch 1'}); candidates are timed the same way.`
          : this.timing === 'running' ? 'Timing the original model…' : this.timing !== 'idle' ? html`<span class="error">${this.timing}</span>` : 'Latency is measured in ONNX Runtime on this machine.'}</div>`;
    }
    return html`<span class="legend" id="budget-label">Lose at most</span>
      <div class="row">
        <vscode-textfield class="fraction" type="number" min="0" max="100" step="0.1" aria-label="Budget: points of accuracy or agreement lost at most" data-budget-points
          .value=${String(this.points)} @change=${this.setPoints}><span slot="content-after">points</span></vscode-textfield>
        ${kinds}
      </div>
      <div class="muted hint">Candidates are pruned, recovered and measured on the evaluation data (accuracy with labels, else agreement), or the calibration data when there is none.</div>`;
  }

  private renderSettings() {
    const st = this.settingsState();
    const text = (label: string, key: 'ratiosText' | 'inputsText' | 'breakText', attr: string, width: string) => html`<label class="row">${label}
      <vscode-textfield style=${`width:${width}`} aria-label=${label} data-setting=${attr} .value=${this[key]}
        @change=${(e: Event) => { this[key] = (e.target as HTMLInputElement).value; }}></vscode-textfield></label>`;
    return html`<details style="margin-top:6px" data-scan-settings>
      <summary class="muted">Scan settings</summary>
      ${text('Ratios', 'ratiosText', 'ratios', '16em')}
      ${text('Inputs', 'inputsText', 'inputs', '5em')}
      ${text('Break loss (points)', 'breakText', 'break-loss', '5em')}
      ${'error' in st ? html`<div class="error hint" role="alert" data-settings-error>${st.error}</div>` : html`<div class="muted hint">Defaults as <code>onnx-pruner scan</code>: ratios ${SCAN_DEFAULTS.ratios[0]} … ${SCAN_DEFAULTS.ratios[SCAN_DEFAULTS.ratios.length - 1]}, ${SCAN_DEFAULTS.inputs} inputs, a group stops past ${SCAN_DEFAULTS.breakLoss} points.</div>`}
    </details>`;
  }

  override render() {
    if (!this.summary?.prunableGroupCount) return nothing;
    const trusted = this.summary.trusted !== false;
    const busy = this.run.kind === 'running' || this.run.kind === 'finding';
    const calib = this.data?.calibration;
    return html`<section class="card" aria-label="Prune to a target" data-target>
      <h3>Target</h3>
      <div class="field">${this.renderBudget()}</div>
      ${this.renderSettings()}
      <div class="row" style="margin-top:6px">
        <vscode-button secondary icon="pulse" data-scan ?disabled=${busy || this.disabled || !this.ready}
          title="Prune each layer group alone at ratios 0.1 … 0.9 and measure the loss on the calibration inputs" @click=${() => void this.startScan()}>${this.scan ? 'Scan again' : 'Scan'}</vscode-button>
        <vscode-button data-find-plan ?disabled=${busy || this.disabled || !this.scan || this.scan.partial || !this.budget()}
          title="The per-layer shares meeting the budget with the least predicted loss" @click=${() => void this.findPlan()}>Find plan</vscode-button>
      </div>
      ${!trusted
        ? html`<div class="muted hint">The scan runs the model: it needs a trusted workspace.</div>`
        : !calib
          ? html`<div class="muted hint" data-needs-calibration>The scan measures each layer group on calibration data: choose it under Data and recovery.</div>`
          : !this.scan && this.run.kind === 'idle'
            ? html`<div class="muted hint">Scan first: each layer group pruned alone at ${(this.settings?.ratios ?? SCAN_DEFAULTS.ratios).join(', ')} on ${int(Math.min(this.settings?.inputs ?? SCAN_DEFAULTS.inputs, calib.count))} inputs of ${calib.name}, with ${this.plan.criterion} and recovery ${this.data?.recover}; cached beside the model.</div>`
            : this.scan?.partial && this.run.kind === 'idle'
              ? html`<div class="warning hint" data-scan-partial>This scan is partial (it was cancelled): Scan again completes it, measuring only what is missing; Find plan needs it whole.</div>`
              : nothing}
      ${this.renderRun()}
      ${this.found ? this.renderFound(this.found) : nothing}
      ${this.scan ? this.renderScan(this.scan) : nothing}
    </section>`;
  }

  private renderRun() {
    const r = this.run;
    switch (r.kind) {
      case 'running':
        return html`<div class="progress" role="status" aria-live="polite" style="margin-top:6px" data-scan-progress>
          ${progressLine(r.stage, r.fraction, 'Scan progress')}
          <div><vscode-button secondary icon="close" data-cancel-scan @click=${() => this.cancelScan()}>Cancel</vscode-button></div>
        </div>`;
      case 'finding': return html`<div class="muted" role="status" style="margin-top:6px" data-finding>${r.stage ?? 'Finding the plan'}…
        ${r.id !== undefined && (this.kind === 'latency' || this.kind === 'loss') ? html`<vscode-button secondary icon="close" data-cancel-find @click=${() => this.host?.cancel(r.id!)}>Cancel</vscode-button>` : nothing}</div>`;
      case 'cancelled': return html`<div class="warning hint" role="status" style="margin-top:6px" data-scan-cancelled>Scan cancelled: the groups measured so far are kept in the cache; Scan again completes it.</div>`;
      case 'failed': return html`<div class="error" role="alert" style="margin-top:6px" data-target-error>${r.message}</div>`;
      default: return nothing;
    }
  }

  private renderFound(f: FoundPlan) {
    const b = f.budget;
    const notes = f.notes.filter((n) => f.met || !/cannot be reached|no candidate measured/.test(n)).map((n) => html`<div class="muted hint">${n}</div>`);
    const tail = html`predicted loss ${f.predicted.loss.toFixed(1)} points; the per-layer shares are in the plan and the table.`;
    let line;
    if (b.kind === 'macs' || b.kind === 'params') {
      const unit = UNIT[b.kind];
      const value = f.predicted[b.kind];
      const base = f.baseline[b.kind];
      line = f.met
        ? html`<div>Plan found: <strong>${si(value)} ${unit}</strong> (${pct(value / base)} of the model, target ${pct(b.fraction, 0)}), ${tail}</div>`
        : html`<div class="warning">The target cannot be met with the scanned widths: the plan set reaches ${si(f.bestReachable ?? value)} ${unit} (${pct((f.bestReachable ?? value) / base)} of the model).</div>`;
    } else if (b.kind === 'latency') {
      const l = f.latency;
      line = f.met && l
        ? html`<div>Plan found: runs in <strong>${l.plan.medianMs.toFixed(2)} ms</strong> (median of ${l.plan.runs}; the original ${l.original.medianMs.toFixed(2)} ms, target ${b.ms} ms), ${pct(f.predicted.macs / f.baseline.macs)} of the MACs, ${tail}</div>`
        : html`<div class="warning">No candidate measured runs within ${b.ms} ms: the plan set is the fastest measured (${l ? `${l.plan.medianMs.toFixed(2)} ms; the original ${l.original.medianMs.toFixed(2)} ms` : `${si(f.predicted.macs)} MACs`}).</div>`;
    } else {
      const m = f.measuredLoss;
      line = html`<div>Plan found: <strong>${m ? m.points.toFixed(2) : '?'} points</strong> lost on the ${m?.on ?? 'calibration'} data (target at most ${(b as { points: number }).points}), ${pct(f.predicted.macs / f.baseline.macs)} of the MACs; the per-layer shares are in the plan and the table.</div>`;
    }
    return html`<div class="found" role="status" data-found data-met=${f.met ? 'yes' : 'no'}>${line}${notes}</div>`;
  }

  /** One row per scanned group, the most tolerant first: the loss against the ratio, the plan's share marked. */
  private renderScan(s: ViewScan) {
    const ranked = rankGroups(s.groups, s.ratios);
    const top = Math.max(s.breakLoss, ...s.groups.flatMap((g) => g.points.map((p) => p.loss)), 1);
    const what = s.labelled ? 'accuracy lost' : 'top-1 agreement lost';
    return html`<details open style="margin-top:8px" data-sensitivity>
      <summary><strong>Sensitivity</strong> <span class="muted">${s.groups.length} groups · ${s.criterion}, recovery ${s.recover} · ${s.inputs} inputs of ${s.data}
        · ${s.source === 'cache' ? 'from the cache' : `${s.seconds.toFixed(1)} s`}${s.partial ? ' · PARTIAL' : ''}</span></summary>
      <div class="muted hint">Loss (points of ${what}) of each group pruned alone at ${s.ratios[0]} … ${s.ratios[s.ratios.length - 1]}; most tolerant first; the orange line is the share the plan gives it.</div>
      <div class="scroll"><table class="sens">
        <thead><tr><th>group</th><th>ch.</th><th title="Loss against the ratio removed (0 to ${top.toFixed(0)} points)">loss vs ratio</th><th title="The largest ratio whose loss stays within 1 point">≤1 pt</th><th>plan</th></tr></thead>
        <tbody>${ranked.map((g) => {
          const chosen = this.plan.overrides?.[g.layer]?.ratio ?? (this.plan.threshold === undefined && this.plan.scope === 'uniform' && !this.plan.exclude?.includes(g.layer) ? this.plan.ratio : undefined);
          return html`<tr data-group=${g.layer} data-chosen=${chosen ?? ''}>
            <td title=${`${g.layer}${g.layers > 1 ? ` and ${g.layers - 1} more layer${g.layers > 2 ? 's' : ''}` : ''}`}>${g.layer}${g.layers > 1 ? html` <span class="muted">+${g.layers - 1}</span>` : nothing}</td>
            <td>${int(g.channels)}</td>
            <td>${sparkline(g, top, chosen)}</td>
            <td>${tolerates(g, 1).toFixed(1)}</td>
            <td>${chosen === undefined ? '–' : pct(chosen, 0)}</td>
          </tr>`;
        })}</tbody>
      </table></div>
    </details>`;
  }
}

const W = 90, H = 22;

/** The loss at each measured ratio (x: 0 … 1 removed, y: 0 … top points), the chosen share as a vertical line. */
function sparkline(g: ScanGroupView, top: number, chosen: number | undefined) {
  const x = (r: number) => 1 + r * (W - 2);
  const y = (l: number) => H - 1 - (Math.min(l, top) / top) * (H - 2);
  const pts = [{ ratio: 0, loss: 0 }, ...g.points];
  const label = `${g.layer}: ${g.points.map((p) => `${p.ratio}: ${p.loss.toFixed(1)}`).join(', ')}${g.stoppedEarly ? ' (stopped early)' : ''}`;
  return html`<svg class="spark" width=${W} height=${H} viewBox="0 0 ${W} ${H}" role="img" aria-label=${label}>
    <title>${label}</title>
    ${svg`<line class="base" x1="0" x2=${W} y1=${H - 1} y2=${H - 1}></line>
      <polyline class="curve" points=${pts.map((p) => `${x(p.ratio).toFixed(1)},${y(p.loss).toFixed(1)}`).join(' ')}></polyline>
      ${g.points.map((p) => svg`<circle class="dot" cx=${x(p.ratio).toFixed(1)} cy=${y(p.loss).toFixed(1)} r="1.6"></circle>`)}
      ${chosen !== undefined && chosen > 0 ? svg`<line class="chosen" data-chosen-mark x1=${x(chosen).toFixed(1)} x2=${x(chosen).toFixed(1)} y1="0" y2=${H}></line>` : nothing}`}
  </svg>`;
}

declare global {
  interface HTMLElementTagNameMap {
    'target-panel': TargetPanel;
  }
}
