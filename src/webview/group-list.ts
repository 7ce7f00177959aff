// <group-list>: every channel group of the model at a glance — its weighted layers and other
// members, whether it can be pruned, and why not (the node and operator that freeze it). Asked of
// the host the first time it is shown; a layer name jumps to its row in the table (`reveal-layer`).
import { LitElement, html, css, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import type { GroupListEntry } from '../shared/protocol.ts';
import type { HostClient } from './host.ts';
import { int } from './format.ts';
import { base, toolbar } from './styles.ts';

type Show = 'all' | 'prunable' | 'frozen';

/** Groups as the list shows them: frozen ones with their reason first when asked, else by id. */
export function filterGroups(groups: readonly GroupListEntry[], show: Show, text = ''): GroupListEntry[] {
  const t = text.trim().toLowerCase();
  return groups.filter((g) => (show === 'all' || (show === 'prunable') === g.prunable)
    && (!t || g.layers.some((l) => l.toLowerCase().includes(t)) || g.members.some((m) => m.node.toLowerCase().includes(t) || m.op.toLowerCase().includes(t)) || (g.reason ?? '').toLowerCase().includes(t)));
}

@customElement('group-list')
export class GroupList extends LitElement {
  static override styles = [
    base,
    toolbar,
    css`
      :host { display: block; }
      .bar input[type="search"] { flex: 1 1 200px; max-width: 320px; font: inherit; color: var(--vscode-input-foreground); background: var(--vscode-input-background);
        border: 1px solid var(--vscode-input-border, var(--vscode-panel-border, rgba(128,128,128,0.4))); border-radius: 2px; padding: 2px 6px; }
      .bar button[aria-pressed="true"] { background: var(--vscode-button-secondaryBackground); color: var(--vscode-button-secondaryForeground); }
      .bar button { font: inherit; background: transparent; color: var(--vscode-foreground); border: 1px solid var(--vscode-panel-border, rgba(128,128,128,0.4)); border-radius: 2px; padding: 1px 8px; cursor: pointer; }
      ol { list-style: none; margin: 0; padding: 0; max-height: 360px; overflow: auto; }
      li.group { padding: 4px 2px; border-bottom: 1px solid var(--vscode-panel-border, rgba(128,128,128,0.2)); }
      .head { display: flex; gap: 8px; align-items: baseline; flex-wrap: wrap; }
      .id { font-variant-numeric: tabular-nums; min-width: 3.5ch; }
      .state.frozen { color: var(--vscode-editorWarning-foreground); }
      .state.prunable { color: var(--vscode-testing-iconPassed, var(--vscode-charts-green, inherit)); }
      .reason { color: var(--vscode-descriptionForeground); }
      .members { display: flex; flex-wrap: wrap; gap: 2px 10px; margin: 2px 0 0 4.5ch; font-size: 0.92em; }
      .members .other { color: var(--vscode-descriptionForeground); }
      button.link { background: none; border: none; padding: 0; font: inherit; color: var(--vscode-textLink-foreground); cursor: pointer; text-align: left; }
      button.link:hover, button.link:focus-visible { text-decoration: underline; }
    `,
  ];

  @property({ attribute: false }) host!: HostClient;
  /** Changes when the model is analysed again (new input sizes): the groups are asked for again. */
  @property({ attribute: false }) analysis: unknown;

  @state() private groups: GroupListEntry[] | undefined;
  @state() private error = '';
  @state() private show: Show = 'all';
  @state() private text = '';
  private loadedFor: unknown = Symbol('none');

  override willUpdate(): void {
    if (this.host && this.loadedFor !== this.analysis) {
      this.loadedFor = this.analysis;
      void this.load();
    }
  }

  private async load(): Promise<void> {
    const asked = this.analysis;
    try {
      const groups = await this.host.request('getGroups', {});
      if (asked === this.analysis) {
        this.groups = groups;
        this.error = '';
      }
    } catch (e) {
      if (asked === this.analysis) this.error = (e as Error).message;
    }
  }

  private reveal(layer: string): void {
    this.dispatchEvent(new CustomEvent('reveal-layer', { detail: { layer }, bubbles: true, composed: true }));
  }

  override render() {
    if (this.error) return html`<div class="error" role="alert">${this.error}</div>`;
    if (!this.groups) return html`<div class="muted" role="status">Reading the channel groups…</div>`;
    const frozen = this.groups.filter((g) => !g.prunable).length;
    const shown = filterGroups(this.groups, this.show, this.text);
    const btn = (s: Show, label: string) => html`<button type="button" aria-pressed=${String(this.show === s)} data-show=${s} @click=${() => { this.show = s; }}>${label}</button>`;
    return html`
      <div class="bar">
        ${btn('all', `All ${int(this.groups.length)}`)}${btn('prunable', `Prunable ${int(this.groups.length - frozen)}`)}${btn('frozen', `Frozen ${int(frozen)}`)}
        <input type="search" placeholder="Filter by layer, node, op or reason" aria-label="Filter channel groups" .value=${this.text} @input=${(e: Event) => { this.text = (e.target as HTMLInputElement).value; }}>
      </div>
      ${shown.length === 0 ? html`<div class="muted">No group matches.</div>` : nothing}
      <ol aria-label="Channel groups">${shown.map((g) => this.renderGroup(g))}</ol>`;
  }

  private renderGroup(g: GroupListEntry) {
    const others = g.members.filter((m) => !g.layers.includes(m.node));
    return html`<li class="group" data-group=${g.id} data-prunable=${String(g.prunable)}>
      <div class="head">
        <span class="id muted">#${g.id}</span>
        <span>${int(g.channels)} channel${g.channels === 1 ? '' : 's'}${g.divisor ? html` <span class="muted">in ${g.divisor} equal blocks</span>` : nothing}</span>
        ${g.prunable
          ? html`<span class="state prunable">prunable</span>`
          : html`<span class="state frozen">frozen</span><span class="reason" data-reason>${g.reason ?? 'no reason given'}</span>`}
      </div>
      <div class="members">
        ${g.layers.length
          ? g.layers.map((l) => html`<button type="button" class="link" data-layer=${l} title=${`Show ${l} in the table`} @click=${() => this.reveal(l)}>${l}</button>`)
          : html`<span class="muted">no weighted layer outputs these channels</span>`}
        ${others.length ? html`<span class="other" title=${others.map((m) => `${m.node} (${m.op}, ${m.role})`).join('\n')}>+ ${others.length} other member${others.length === 1 ? '' : 's'}: ${others.slice(0, 6).map((m) => `${m.node} (${m.op})`).join(', ')}${others.length > 6 ? ', …' : ''}</span>` : nothing}
      </div>
    </li>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'group-list': GroupList;
  }
}
