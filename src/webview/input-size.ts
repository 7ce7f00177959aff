// <input-size-form>: the sizes of a model's inputs that the file leaves symbolic (a height and a
// width `[N, 3, H, W]`, or sizes without a name `[1, 3, ?, ?]`). It proposes a size (the model's
// metadata hint, else 224×224), and sends the whole shapes the user confirms (`size-change`); the
// host analyses the model again with them and remembers them for the model. A size named in
// several inputs is one field.
import { LitElement, html, css, nothing } from 'lit';
import { customElement, property, state } from 'lit/decorators.js';
import { MAX_INPUT_ELEMENTS, MAX_INPUT_SIZE, type InputShapes, type ViewSummary } from '../shared/protocol.ts';
import { base } from './styles.ts';

/** Symbolic sizes of the inputs beyond the batch axis (e.g. height and width of [N, 3, H, W]): counted as 1 by the cost. */
export function unknownSizes(s: ViewSummary): string[] {
  const out = new Set<string>();
  for (const t of s.inputs) t.shape.forEach((d, axis) => { if (axis > 0 && typeof d === 'string') out.add(d); });
  return [...out];
}

/** The inputs with a symbolic size anywhere (batch included): those the form asks about. */
export function sizedInputs(s: ViewSummary): ViewSummary['inputs'] {
  return s.inputs.filter((t) => t.shape.some((d) => typeof d === 'string'));
}

/** The sizes given for this model, `{}` when none (a summary from an older host has none). */
export function givenShapes(s: ViewSummary): InputShapes {
  return s.inputShapes ?? {};
}

/** `1×3×224×224`, several inputs separated by commas with their names. */
export function shapesText(shapes: InputShapes): string {
  const entries = Object.entries(shapes);
  if (entries.length === 1) return entries[0]![1].join('×');
  return entries.map(([n, d]) => `${n} ${d.join('×')}`).join(', ');
}

/** A starting value per input: the sizes given, else the host's proposal, else 1 for the batch and 224 for the rest. */
export function draftShapes(s: ViewSummary): InputShapes {
  const given = givenShapes(s);
  const out: InputShapes = {};
  for (const t of sizedInputs(s)) {
    out[t.name] = given[t.name] ?? s.proposedShapes?.[t.name] ?? t.shape.map((d, i) => (typeof d === 'number' ? d : i === 0 ? 1 : 224));
  }
  return out;
}

/** Why a draft cannot be sent, or undefined. */
export function draftProblem(draft: InputShapes): string | undefined {
  for (const [name, shape] of Object.entries(draft)) {
    const bad = shape.find((d) => !Number.isSafeInteger(d) || d < 1 || d > MAX_INPUT_SIZE);
    if (bad !== undefined) return `${name}: every size must be a whole number from 1 to ${MAX_INPUT_SIZE}`;
    if (shape.reduce((a, b) => a * b, 1) > MAX_INPUT_ELEMENTS) return `${name}: ${shape.join('×')} is more than ${MAX_INPUT_ELEMENTS.toLocaleString('en-US')} values`;
  }
  return undefined;
}

@customElement('input-size-form')
export class InputSizeForm extends LitElement {
  static override styles = [
    base,
    css`
      :host { display: block; }
      form { display: flex; flex-wrap: wrap; gap: 6px 14px; align-items: center; margin-top: 6px; }
      .input { display: inline-flex; gap: 4px; align-items: center; flex-wrap: wrap; }
      .input code { font-family: var(--vscode-editor-font-family, monospace); }
      .dims { display: inline-flex; align-items: center; gap: 2px; font-variant-numeric: tabular-nums; }
      .dims .fixed { padding: 0 4px; }
      .dims input { width: 6.5ch; font: inherit; color: var(--vscode-input-foreground); background: var(--vscode-input-background);
        border: 1px solid var(--vscode-input-border, var(--vscode-panel-border, rgba(128,128,128,0.4))); border-radius: 2px; padding: 2px 4px; }
      .dims input:focus { outline: 1px solid var(--vscode-focusBorder); outline-offset: -1px; }
      .dims input[aria-invalid="true"] { border-color: var(--vscode-inputValidation-errorBorder, var(--vscode-errorForeground)); }
      .x { color: var(--vscode-descriptionForeground); }
      .problem { color: var(--vscode-errorForeground); flex-basis: 100%; }
    `,
  ];

  @property({ attribute: false }) summary!: ViewSummary;
  /** The host is analysing the model with new sizes. */
  @property({ type: Boolean }) busy = false;
  /** The host refused the sizes (they do not fit the model). */
  @property() error = '';

  @state() private draft: InputShapes = {};
  @state() private problem = '';
  private draftOf: ViewSummary | undefined;

  override willUpdate(): void {
    // a new summary (the sizes given or proposed changed): the fields start from it again
    if (this.summary && this.summary !== this.draftOf && !this.busy) {
      this.draft = draftShapes(this.summary);
      this.draftOf = this.summary;
      this.problem = '';
    }
  }

  /** Sets one size; a named size is set in every input that names it. */
  private setSize(input: string, axis: number, raw: string): void {
    const v = Number(raw);
    const declared = this.summary.inputs.find((t) => t.name === input)?.shape[axis];
    const next: InputShapes = {};
    for (const t of sizedInputs(this.summary)) {
      const shape = [...(this.draft[t.name] ?? [])];
      t.shape.forEach((d, i) => {
        const same = t.name === input ? i === axis : typeof declared === 'string' && declared !== '?' && d === declared;
        if (same) shape[i] = v;
      });
      next[t.name] = shape;
    }
    this.draft = next;
    this.problem = '';
  }

  private submit(e: Event): void {
    e.preventDefault();
    const why = draftProblem(this.draft);
    if (why) {
      this.problem = why;
      return;
    }
    this.dispatchEvent(new CustomEvent('size-change', { detail: { inputShapes: this.draft }, bubbles: true, composed: true }));
  }

  private forget(): void {
    this.dispatchEvent(new CustomEvent('size-change', { detail: { inputShapes: {} }, bubbles: true, composed: true }));
  }

  override render() {
    const inputs = sizedInputs(this.summary);
    const given = Object.keys(givenShapes(this.summary)).length > 0;
    return html`<form @submit=${this.submit} aria-label="Input size">
      ${inputs.map((t) => html`<span class="input" data-input=${t.name}>
        ${inputs.length > 1 ? html`<code>${t.name}</code>` : nothing}
        <span class="dims">${t.shape.map((d, axis) => html`${axis > 0 ? html`<span class="x">×</span>` : nothing}${typeof d === 'number'
          ? html`<span class="fixed" title="fixed by the model">${d}</span>`
          : html`<input type="number" min="1" max=${MAX_INPUT_SIZE} step="1" inputmode="numeric" data-axis=${axis}
              aria-label=${`${t.name}: size of ${d === '?' ? `axis ${axis} (no name)` : d}${axis === 0 ? ' (batch)' : ''}`}
              title=${d === '?' ? `axis ${axis}: a size without a name` : d}
              aria-invalid=${String(!(Number.isSafeInteger(this.draft[t.name]?.[axis]) && (this.draft[t.name]?.[axis] ?? 0) >= 1))}
              .value=${String(this.draft[t.name]?.[axis] ?? '')}
              @input=${(e: Event) => this.setSize(t.name, axis, (e.target as HTMLInputElement).value)}
              @keydown=${(e: KeyboardEvent) => { if (e.key === 'Enter') this.submit(e); }}>`}`)}</span>
      </span>`)}
      <vscode-button data-apply ?disabled=${this.busy} @click=${this.submit}>${this.busy ? 'Analysing…' : given ? 'Use this size' : 'Analyse at this size'}</vscode-button>
      ${given ? html`<vscode-button secondary data-forget ?disabled=${this.busy} @click=${() => this.forget()}>Forget the size</vscode-button>` : nothing}
      ${this.problem || this.error ? html`<span class="problem" role="alert">${this.problem || this.error}</span>` : nothing}
    </form>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'input-size-form': InputSizeForm;
  }
}
