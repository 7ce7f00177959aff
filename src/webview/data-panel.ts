// The plan panel's data section: calibration data (for recovery), the image preprocessing (proposed
// from the model's input, or a preset), the evaluation set and its labels, the recovery mode, and
// validation's inputs, batch and run count. The host runs the pickers and keeps the files (the
// view sees names and counts); every change is a request, answered with the new DataState.
import { LitElement, html, css, nothing } from 'lit';
import { customElement, property } from 'lit/decorators.js';
import {
  describePreprocess, parseCustomPreprocess, PRESET_NAMES, RECOVER_LABELS, RECOVER_MODES,
  type ArrayRole, type DataOptions, type DataRole, type DataSetInfo, type DataState, type NpzChoice, type Preprocess, type RecoverMode,
} from '../shared/protocol.ts';
import { int, shape } from './format.ts';
import { base, form } from './styles.ts';


/** The custom preprocessing's fields as the form edits them (text, as typed). */
export interface CustomFields {
  resize: string;
  cropH: string;
  cropW: string;
  scale: string;
  mean: string;
  std: string;
  channels: string;
  layout: string;
}

export function fieldsOf(p: Preprocess): CustomFields {
  return {
    resize: p.resize !== undefined ? String(p.resize) : '',
    cropH: p.crop ? String(p.crop[0]) : '',
    cropW: p.crop ? String(p.crop[1]) : '',
    scale: String(+p.scale.toPrecision(8)),
    mean: p.mean.join(', '),
    std: p.std.join(', '),
    channels: p.channels,
    layout: p.layout,
  };
}

/**
 * The custom preprocessing of the form's fields, or what is wrong with them (checked as the host
 * checks them: parseCustomPreprocess). Empty resize or crop: none (the crop is then the model's size).
 */
export function customOf(f: CustomFields, base?: Preprocess): { value: Preprocess; error?: undefined } | { value?: undefined; error: string } {
  const num = (t: string) => (t.trim() === '' ? Number.NaN : Number(t.trim()));
  const list = (t: string) => t.split(/[,\s/]+/).filter(Boolean).map(Number);
  // the scale as shown is rounded (1/255 shows as 0.0039215686): left as shown, it keeps its exact value
  const scale = base && f.scale.trim() === fieldsOf(base).scale ? base.scale : num(f.scale);
  const out: Record<string, unknown> = { scale, mean: list(f.mean), std: list(f.std), channels: f.channels, layout: f.layout };
  if (f.resize.trim()) out.resize = num(f.resize);
  if (f.cropH.trim() || f.cropW.trim()) out.crop = [num(f.cropH), num(f.cropW)];
  const value = parseCustomPreprocess(out);
  if (value) return { value };
  const size = (v: unknown) => typeof v === 'number' && Number.isInteger(v) && v >= 1 && v <= 16384;
  if (out.resize !== undefined && !size(out.resize)) return { error: 'resize: a whole number of pixels (1 to 16384), or empty for none' };
  if (out.crop !== undefined && !(out.crop as number[]).every(size)) return { error: 'crop: height and width in whole pixels (1 to 16384), or both empty for the model\'s size' };
  if (!(Number.isFinite(out.scale) && (out.scale as number) > 0)) return { error: 'scale: a positive number (1/255 ≈ 0.00392157 for [0, 1])' };
  const m = out.mean as number[];
  if (!(m.length >= 1 && m.length <= 4 && m.every(Number.isFinite))) return { error: 'mean: one number, or one per channel (e.g. 0.485, 0.456, 0.406)' };
  return { error: 'std: one positive number, or one per channel (e.g. 0.229, 0.224, 0.225)' };
}

function describeSet(s: DataSetInfo): string {
  const count = s.count < s.total ? `${int(s.count)} of ${int(s.total)}` : int(s.count);
  return `${count} ${s.kind === 'images' ? 'images' : 'inputs'} ${shape(s.sampleShape)}${s.classes ? `, ${s.classes} classes` : ''}${s.labels ? `, labels: ${s.labels}` : ''}`;
}

@customElement('data-panel')
export class DataPanel extends LitElement {
  static override styles = [
    base,
    form,
    css`
      :host { display: flex; flex-direction: column; gap: 8px; }
      .chosen { display: flex; gap: 6px; align-items: center; flex-wrap: wrap; }
      .chosen .name { font-family: var(--vscode-editor-font-family, monospace); overflow-wrap: anywhere; }
      .buttons { display: inline-flex; gap: 4px; flex-wrap: wrap; }
    `,
  ];

  @property({ attribute: false }) data: DataState | undefined;
  @property({ type: Boolean }) busy = false;
  @property({ attribute: false }) error = '';
  /** Pruning and running models need a trusted workspace: without it nothing here is offered. */
  @property({ type: Boolean }) trusted = true;
  @property({ type: Boolean }) disabled = false;

  private readonly sent: Partial<Record<'calibCount' | 'runs' | 'batch', number>> = {};
  /** The custom preprocessing as typed (kept while it is not valid, so a typo is not lost). */
  private fields: CustomFields | undefined;
  private customError = '';

  private choose(role: DataRole, pick: 'file' | 'folder'): void {
    this.dispatchEvent(new CustomEvent('data-choose', { detail: { role, pick }, bubbles: true, composed: true }));
  }

  private clear(role: DataRole): void {
    this.dispatchEvent(new CustomEvent('data-clear', { detail: { role }, bubbles: true, composed: true }));
  }

  private options(patch: Partial<DataOptions>): void {
    this.dispatchEvent(new CustomEvent('data-options', { detail: { patch }, bubbles: true, composed: true }));
  }

  private chooseArray(role: ArrayRole | 'labels', array: string): void {
    this.dispatchEvent(new CustomEvent('data-array', { detail: { role, array }, bubbles: true, composed: true }));
  }

  private setPreset(preset: DataState['preset']): void {
    if (preset !== 'custom') {
      this.options({ preset });
      return;
    }
    // custom starts from the preprocessing in use (or the one kept from before)
    const d = this.data;
    const start = d?.custom ?? d?.preprocess ?? d?.proposed;
    if (!start) return;
    const { preset: _p, ...rest } = start;
    void _p;
    this.fields = fieldsOf(rest);
    this.options({ preset: 'custom', custom: rest });
  }

  private customField(k: keyof CustomFields, e: Event): void {
    const start = this.data?.custom ?? this.data?.preprocess ?? this.data?.proposed;
    if (!start) return;
    this.fields = { ...(this.fields ?? fieldsOf(start)), [k]: (e.target as HTMLInputElement).value };
    const r = customOf(this.fields, start);
    this.customError = r.error ?? '';
    this.requestUpdate();
    if (r.value && JSON.stringify(r.value) !== JSON.stringify(this.data?.custom)) this.options({ preset: 'custom', custom: r.value });
  }

  private intOption(k: 'calibCount' | 'runs' | 'batch', e: Event): void {
    const n = Number.parseInt((e.target as HTMLInputElement).value, 10);
    // the field and its inner input both report a change, and leaving the field reports it again: send a new value once
    if (Number.isInteger(n) && n >= 1 && n !== this.data?.[k] && n !== this.sent[k]) {
      this.sent[k] = n;
      this.options({ [k]: n });
    }
  }

  override render() {
    if (!this.trusted) {
      return html`<section class="card" aria-label="Data and recovery"><h2>Data and recovery</h2>
        <span class="muted hint data-untrusted">Calibration and evaluation run the model: they need a trusted workspace (this one is in Restricted Mode).</span></section>`;
    }
    const d = this.data;
    const off = this.disabled || this.busy || !d || d.unavailable !== undefined;
    return html`<section class="card" aria-label="Data and recovery" aria-busy=${this.busy ? 'true' : 'false'}>
      <h2>Data and recovery</h2>
      ${d?.unavailable ? html`<div class="warning hint" data-data-unavailable>Data cannot feed this model: ${d.unavailable}. Recovery runs data-free.</div>` : nothing}
      ${this.renderSet('calibration', 'Calibration data', d?.calibration, off, 'Inputs recovery and the data criteria measure (a few hundred unlabelled ones): a folder of images, or a .npy / .npz / .f32 file. They stay where they are; the view sees their names and counts only.')}
      ${d?.f32NeedsSize ? html`<span class="muted hint" data-f32-size>A .f32 file is raw float32 without a shape: ${d.f32NeedsSize.replace(/^model input /, 'the model input ')}. Image folders and .npy / .npz files carry their own.</span>` : nothing}
      ${d?.imageInput ? this.renderPreprocess(d, off) : nothing}
      ${this.renderSet('evaluation', 'Evaluation data', d?.evaluation, off, 'A separate set (never the calibration inputs) for the report\'s accuracy before and after; without labels, agreement with the original.')}
      ${d?.evaluation?.kind === 'array' || d?.labelsFile ? this.renderLabels(d, off) : nothing}
      <div class="field">
        <label for="recover">Recovery</label>
        <vscode-single-select id="recover" aria-label="Recovery after pruning" .value=${d?.recover ?? 'auto'} ?disabled=${off && !d}
          @change=${(e: Event) => this.options({ recover: (e.target as HTMLSelectElement).value as RecoverMode })}>
          ${RECOVER_MODES.map((m) => html`<vscode-option value=${m} description=${RECOVER_LABELS[m].help} ?selected=${m === (d?.recover ?? 'auto')}>${RECOVER_LABELS[m].short}</vscode-option>`)}
        </vscode-single-select>
        <span class="muted hint" data-recover-help>${RECOVER_LABELS[d?.recover ?? 'auto'].help}</span>
      </div>
      <div class="row2">
        <div class="field"><label for="calib-count">Calibration inputs</label>
          <vscode-textfield id="calib-count" type="number" min="1" aria-label="Use at most this many calibration inputs" .value=${String(d?.calibCount ?? '')} ?disabled=${off}
            @change=${(e: Event) => this.intOption('calibCount', e)}></vscode-textfield></div>
        <div class="field"><label for="runs">Timed runs</label>
          <vscode-textfield id="runs" type="number" min="1" aria-label="Timed validation runs per model" .value=${String(d?.runs ?? '')} ?disabled=${off && !d}
            @change=${(e: Event) => this.intOption('runs', e)}></vscode-textfield></div>
      </div>
      <div class="row2">
        <div class="field"><label for="batch">Validation batch</label>
          <vscode-textfield id="batch" type="number" min="1" aria-label="Inputs per validation run" .value=${String(d?.fixedBatch ?? d?.batch ?? '')} ?disabled=${off || d?.fixedBatch !== undefined}
            title=${d?.fixedBatch !== undefined ? `The model fixes its batch at ${d.fixedBatch}` : 'Inputs per validation run'}
            @change=${(e: Event) => this.intOption('batch', e)}></vscode-textfield></div>
        ${this.renderInputs(d, off)}
      </div>
      ${this.error ? html`<div class="error" role="alert">${this.error}</div>` : nothing}
      ${(d?.errors ?? []).map((e) => html`<div class="error" role="alert" data-data-error>${e}</div>`)}
      ${(d?.warnings ?? []).map((w) => html`<div class="warning hint" data-data-warning>${w}</div>`)}
    </section>`;
  }

  private renderSet(role: 'calibration' | 'evaluation', label: string, set: DataSetInfo | undefined, off: boolean, help: string) {
    return html`<div class="field" data-role=${role}>
      <span class="legend">${label}</span>
      <div class="chosen">
        ${set
          ? html`<span class="name" title=${set.name}>${set.name}</span><span class="muted" data-set-info>${describeSet(set)}</span>`
          : html`<span class="muted">none</span>`}
      </div>
      <span class="buttons">
        <vscode-button secondary icon="folder-opened" ?disabled=${off} data-pick="folder" title=${`${label}: a folder of JPEG/PNG images (one sub-folder per class gives labels)`} @click=${() => this.choose(role, 'folder')}>Image folder…</vscode-button>
        <vscode-button secondary icon="file" ?disabled=${off} data-pick="file" title=${`${label}: a .npy, .npz or .f32 file`} @click=${() => this.choose(role, 'file')}>File…</vscode-button>
        ${set ? html`<vscode-button secondary icon="close" ?disabled=${off} data-clear title=${`Do not use ${set.name}`} @click=${() => this.clear(role)}>Clear</vscode-button>` : nothing}
      </span>
      ${set ? nothing : html`<span class="muted hint">${help}</span>`}
      ${this.data?.npz?.[role] ? this.renderArrays(role, this.data.npz[role], off) : nothing}
    </div>`;
  }

  /** A .npz file's arrays: which one is read (and, for evaluation, which one holds the labels). */
  private renderArrays(role: ArrayRole, npz: NpzChoice, off: boolean) {
    const dims = (a: NpzChoice['arrays'][number]) => `(${a.shape.join(', ')}${a.shape.length === 1 ? ',' : ''}) ${a.dtype}`;
    const labelArrays = npz.arrays.filter((a) => a.labels && a.name !== npz.array);
    return html`<div class="row2" data-npz=${role}>
      <div class="field"><label for=${`${role}-array`}>Array of ${npz.file}</label>
        <vscode-single-select id=${`${role}-array`} aria-label=${`Array of ${npz.file} read as the ${role} inputs`} .value=${npz.array} ?disabled=${off}
          @change=${(e: Event) => this.chooseArray(role, (e.target as HTMLSelectElement).value)}>
          ${npz.arrays.map((a) => html`<vscode-option value=${a.name} ?selected=${a.name === npz.array} description=${dims(a)}>${a.name} ${dims(a)}</vscode-option>`)}
        </vscode-single-select></div>
      ${role === 'evaluation' && labelArrays.length
        ? html`<div class="field"><label for="labels-array">Labels from</label>
            <vscode-single-select id="labels-array" aria-label=${`Array of ${npz.file} read as the labels`} .value=${npz.labels ?? ''} ?disabled=${off}
              @change=${(e: Event) => { const v = (e.target as HTMLSelectElement).value; if (v) this.chooseArray('labels', v); else this.clear('labels'); }}>
              <vscode-option value="" ?selected=${!npz.labels}>none (or a labels file)</vscode-option>
              ${labelArrays.map((a) => html`<vscode-option value=${a.name} ?selected=${a.name === npz.labels} description=${dims(a)}>${a.name} ${dims(a)}</vscode-option>`)}
            </vscode-single-select></div>`
        : nothing}
    </div>`;
  }

  private renderPreprocess(d: DataState, off: boolean) {
    return html`<div class="field">
      <label for="preset">Image preprocessing</label>
      <vscode-single-select id="preset" aria-label="Image preprocessing" .value=${d.preset} ?disabled=${off}
        @change=${(e: Event) => this.setPreset((e.target as HTMLSelectElement).value as DataState['preset'])}>
        <vscode-option value="auto" ?selected=${d.preset === 'auto'}>${d.proposed?.preset ? `proposed (${d.proposed.preset})` : 'proposed'}</vscode-option>
        ${PRESET_NAMES.map((p) => html`<vscode-option value=${p} ?selected=${d.preset === p}>${p}</vscode-option>`)}
        <vscode-option value="custom" ?selected=${d.preset === 'custom'} description="Set resize, crop, scale, mean and std, channel order and layout yourself">custom…</vscode-option>
      </vscode-single-select>
      ${d.preset === 'custom' ? this.renderCustom(d, off) : nothing}
      ${d.preprocess ? html`<span class="muted hint" data-preprocess>${describePreprocess(d.preprocess)}</span>` : nothing}
      ${d.preset === 'auto' ? html`<span class="muted hint">Proposed from the model's input shape: check it matches how the model was trained.</span>` : nothing}
    </div>`;
  }

  /** The custom preprocessing's fields: each change is checked here and by the host, then sent. */
  private renderCustom(d: DataState, off: boolean) {
    const start = d.custom ?? d.preprocess ?? d.proposed;
    if (!start) return nothing;
    const f = this.fields ?? fieldsOf(start);
    const text = (k: keyof CustomFields, label: string, title: string, placeholder = '') =>
      html`<div class="field"><label for=${`pp-${k}`}>${label}</label><vscode-textfield id=${`pp-${k}`} data-field=${k} aria-label=${title} title=${title} placeholder=${placeholder} .value=${f[k]} ?disabled=${off}
        @change=${(e: Event) => this.customField(k, e)}></vscode-textfield></div>`;
    const choice = (k: 'channels' | 'layout', label: string, values: string[]) =>
      html`<div class="field"><label for=${`pp-${k}`}>${label}</label><vscode-single-select id=${`pp-${k}`} data-field=${k} aria-label=${label} .value=${f[k]} ?disabled=${off}
        @change=${(e: Event) => this.customField(k, e)}>${values.map((v) => html`<vscode-option value=${v} ?selected=${v === f[k]}>${v.toUpperCase()}</vscode-option>`)}</vscode-single-select></div>`;
    return html`<div class="custom" data-custom-preprocess>
      <div class="row2">
        ${text('resize', 'Resize shorter side', 'Resize the shorter side to this many pixels before the crop (empty: only enough to cover the crop)', 'none')}
        ${text('scale', 'Scale', 'Multiply 0-255 pixel values by this (0.00392157 = 1/255 for [0, 1])')}
      </div>
      <div class="row2">
        ${text('cropH', 'Crop height', 'Centre crop height (empty: the model input\'s)', 'model')}
        ${text('cropW', 'Crop width', 'Centre crop width (empty: the model input\'s)', 'model')}
      </div>
      <div class="row2">
        ${text('mean', 'Mean', 'Subtracted after scaling: one number, or one per channel (comma-separated)')}
        ${text('std', 'Std', 'Divided by after the mean: one positive number, or one per channel')}
      </div>
      <div class="row2">
        ${choice('channels', 'Channel order', ['rgb', 'bgr'])}
        ${choice('layout', 'Layout', ['nchw', 'nhwc'])}
      </div>
      ${this.customError ? html`<div class="error hint" role="alert" data-custom-error>${this.customError}</div>` : nothing}
    </div>`;
  }

  private renderLabels(d: DataState, off: boolean) {
    return html`<div class="field" data-role="labels">
      <span class="legend">Labels</span>
      <div class="chosen">${d.labelsFile ? html`<span class="name">${d.labelsFile}</span>` : html`<span class="muted">none: agreement with the original instead of accuracy</span>`}</div>
      <span class="buttons">
        <vscode-button secondary icon="file" ?disabled=${off} data-pick="file" @click=${() => this.choose('labels', 'file')}>Labels file…</vscode-button>
        ${d.labelsFile ? html`<vscode-button secondary icon="close" ?disabled=${off} data-clear @click=${() => this.clear('labels')}>Clear</vscode-button>` : nothing}
      </span>
    </div>`;
  }

  private renderInputs(d: DataState | undefined, off: boolean) {
    const from = d?.inputs ? d.inputs.name : d?.evaluation ? `first of ${d.evaluation.name}` : d?.calibration ? `first of ${d.calibration.name}` : 'random (seeded)';
    return html`<div class="field" data-role="inputs">
      <span class="legend">Validation inputs</span>
      <span class="muted hint" data-inputs-from title=${from}>${from}</span>
      <span class="buttons">
        <vscode-button secondary icon="file" ?disabled=${off} data-pick="file" title="A .npy, .npz or .f32 file of inputs for validation" @click=${() => this.choose('inputs', 'file')}>File…</vscode-button>
        ${d?.inputs ? html`<vscode-button secondary icon="close" ?disabled=${off} data-clear @click=${() => this.clear('inputs')}>Clear</vscode-button>` : nothing}
      </span>
      ${d?.npz?.inputs ? this.renderArrays('inputs', d.npz.inputs, off) : nothing}
    </div>`;
  }
}

declare global {
  interface HTMLElementTagNameMap {
    'data-panel': DataPanel;
  }
}
