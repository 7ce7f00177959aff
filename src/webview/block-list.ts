// <block-list>: the model's residual blocks (Sparse Structure Selection), weakest first, each with
// its score — the max |γ| of the branch's last BatchNorm, and, once measured on the calibration data
// chosen under Data and recovery, the output change without it (points of top-1 agreement or
// accuracy lost, and the drift) — and a "remove" choice. Choosing blocks changes the plan
// (`removeBlocks: { names }`, a `plan-change` event): the preview counts them and Prune removes them.
// Asked of the host when first shown, and again when the model is analysed again or the data changes.
import { LitElement, html, css, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { DataState, ViewBlock, ViewBlocks, ViewPlan } from '../shared/protocol.ts';
import type { HostClient } from './host.ts';
import { progressLine, track, type TrackedRun } from './progress.ts';
import { int } from './format.ts';
import { base, progress, toolbar } from './styles.ts';

/** The block names a plan removes (the view only uses the names form). */
export function removedBlockNames(plan: ViewPlan | undefined): string[] {
  return plan?.removeBlocks && 'names' in plan.removeBlocks ? plan.removeBlocks.names : [];
}

/** The plan with block `name` removed or kept; the names in the list's order (weakest first). */
export function withBlock(plan: ViewPlan, name: string, remove: boolean, order: readonly string[]): ViewPlan {
  const set = new Set(removedBlockNames(plan));
  if (remove) set.add(name);
  else set.delete(name);
  const names = [...order.filter((n) => set.has(n)), ...[...set].filter((n) => !order.includes(n))];
  const next: ViewPlan = { ...plan };
  if (names.length) next.removeBlocks = { names };
  else delete next.removeBlocks;
  return next;
}

const sci = (v: number) => (v === 0 ? '0' : Math.abs(v) < 1e-3 || Math.abs(v) >= 1e4 ? v.toExponential(2) : v.toPrecision(3));

@customElement('block-list')
export class BlockList extends LitElement {
  static override styles = [
    base,
    toolbar,
    progress,
    css`
      :host { display: block; }
      table { border-collapse: collapse; width: 100%; font-variant-numeric: tabular-nums; font-size: 0.95em; }
      td, th { padding: 2px 6px; border-bottom: 1px solid var(--vscode-panel-border, rgba(128,128,128,0.2)); text-align: right; white-space: nowrap; }
      th { font-weight: 600; color: var(--vscode-descriptionForeground); }
      td.name, th.name { text-align: left; max-width: 320px; overflow: hidden; text-overflow: ellipsis; }
      td.remove, th.remove { text-align: center; }
      tr[data-removed="true"] td.name { text-decoration: line-through; }
      tr[data-removable="false"] { color: var(--vscode-descriptionForeground); }
      .scroll { max-height: 360px; overflow: auto; }
    `,
  ];

  @property({ attribute: false }) host!: HostClient;
  @property({ attribute: false }) plan!: ViewPlan;
  @property({ attribute: false }) data: DataState | undefined;
  @property({ type: Boolean }) trusted = true;
  /** Another run (a prune) is going on. */
  @property({ type: Boolean }) disabled = false;
  /** Changes when the model is analysed again: the blocks are asked for again. */
  @property({ attribute: false }) analysis: unknown;

  @state() private list: ViewBlocks | undefined;
  @state() private error = '';
  @state() private measure: TrackedRun = { kind: 'idle' };
  private loadedFor = '';
  private seq = 0;

  /** What the list depends on: the analysis, and the calibration data (scores measured on other data do not apply). */
  private key(): string {
    const c = this.data?.calibration;
    return JSON.stringify([this.analysis, c?.name, c?.count, c?.total, this.data?.preset]);
  }

  private get canMeasure(): boolean {
    return this.trusted && !!this.data?.calibration && !this.data.errors.some((e) => e.startsWith('calibration'));
  }

  override willUpdate(): void {
    const key = this.key();
    if (this.host && key !== this.loadedFor) {
      this.loadedFor = key;
      void this.load(false);
    }
  }

  private async load(measure: boolean): Promise<void> {
    const seq = ++this.seq;
    const key = this.loadedFor;
    if (!measure) {
      try {
        const list = await this.host.request('getBlocks', { measure: false });
        if (seq === this.seq && key === this.loadedFor) {
          this.list = list;
          this.error = '';
        }
      } catch (e) {
        if (seq === this.seq) this.error = (e as Error).message;
      }
      return;
    }
    await track(this.host, 'getBlocks', { measure: true }, 'Measuring the blocks', { get: () => this.measure, set: (r) => { this.measure = r; } }, (list) => {
      if (key === this.loadedFor) this.list = list;
    });
  }

  private toggle(b: ViewBlock, remove: boolean): void {
    const order = this.list?.blocks.map((x) => x.name) ?? [];
    this.dispatchEvent(new CustomEvent('plan-change', { detail: { plan: withBlock(this.plan, b.name, remove, order) }, bubbles: true, composed: true }));
  }

  override render() {
    if (this.error) return html`<div class="error" role="alert">${this.error}</div>`;
    const l = this.list;
    if (!l) return html`<div class="muted" role="status">Finding the residual blocks…</div>`;
    const removed = new Set(removedBlockNames(this.plan));
    const m = l.measured;
    const what = m?.labelled ? 'accuracy' : 'agreement';
    const running = this.measure.kind === 'running';
    return html`
      <div class="muted">A block whose branch contributes almost nothing can go whole: <code>act(x + branch(x))</code> becomes <code>act(x + β)</code>, exact when the branch's last BatchNorm has γ = 0 (a projection shortcut stays).
        Ranked weakest first ${m ? html`by the output change without each block, measured on ${m.data}` : 'by the max |γ| of the branch\'s last BatchNorm'}.</div>
      <div class="bar">
        <vscode-button secondary data-measure ?disabled=${!this.canMeasure || running || this.disabled} @click=${() => void this.load(true)}>${m ? 'Measure again' : 'Measure on calibration data'}</vscode-button>
        ${this.canMeasure ? nothing : html`<span class="muted" data-needs-calibration>${this.trusted ? 'To rank blocks by what removing each changes, choose calibration data under Data and recovery.' : 'Measuring runs the model: it needs a trusted workspace.'}</span>`}
        <span class="muted" data-removed-count>${removed.size ? `${removed.size} block${removed.size === 1 ? '' : 's'} to remove: the preview counts ${removed.size === 1 ? 'it' : 'them'}` : 'No block removed.'}</span>
      </div>
      ${this.renderMeasure()}
      <div class="scroll"><table aria-label="Residual blocks">
        <thead><tr><th class="remove">remove</th><th class="name">block (Add node)</th><th title="max |γ| of the branch's last BatchNorm">max |γ|</th>
          ${m ? html`<th title=${`points of top-1 ${what} lost without the block`}>loss (pt)</th><th title="output drift ‖Δy‖/‖y‖ without the block">drift</th>` : nothing}
          <th>parameters</th><th>nodes</th><th>shortcut</th></tr></thead>
        <tbody>${l.blocks.map((b) => html`<tr data-block=${b.name} data-removable=${String(b.removable)} data-removed=${String(removed.has(b.name))}>
          <td class="remove"><input type="checkbox" aria-label=${`Remove ${b.name}`} .checked=${removed.has(b.name)} ?disabled=${!b.removable || this.disabled}
            title=${b.removable ? `Remove the whole block ${b.name}` : `Cannot be removed: ${b.reason ?? 'not removable'}`}
            @change=${(e: Event) => this.toggle(b, (e.target as HTMLInputElement).checked)}></td>
          <td class="name" title=${b.removable ? b.name : `${b.name}: ${b.reason ?? 'not removable'}`}>${b.name}</td>
          <td data-gamma>${b.gamma === null ? '—' : sci(b.gamma)}</td>
          ${m ? html`<td data-loss>${b.data ? b.data.loss.toFixed(1) : '—'}</td><td data-drift>${b.data ? sci(b.data.drift) : '—'}</td>` : nothing}
          <td>${int(b.params)}</td><td>${b.nodes}</td><td>${b.shortcut}</td></tr>`)}</tbody>
      </table></div>`;
  }

  private renderMeasure() {
    const r = this.measure;
    switch (r.kind) {
      case 'idle': return nothing;
      case 'running':
        return html`<div role="status" aria-live="polite" data-measuring>
          ${progressLine(r.stage, r.fraction, 'Measuring progress')}
          <vscode-button secondary icon="close" data-cancel-measure @click=${() => this.host.cancel(r.id)}>Cancel</vscode-button>
        </div>`;
      case 'cancelled': return html`<div class="warning" role="status">Measuring was cancelled.</div>`;
      case 'failed': return html`<div class="error" role="alert">Measuring failed: ${r.message}</div>`;
    }
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'block-list': BlockList;
  }
}
