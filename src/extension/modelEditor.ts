// The custom editor for .onnx files: a read-only document whose model lives in the engine
// worker; the view asks for what it shows through the typed protocol in src/shared/protocol.ts,
// answered here by one handler per request (`viewHandlers`).
import * as path from 'node:path';
import * as vscode from 'vscode';
import {
  FIRST_LAYER_QUERY, isDataCriterion, parseDataOptions, parseFromWebview, parseInputShapes, type DataOptions, type DataRole, type DataState, type FromWebview, type InputShapes, type PruneReport, type ToWebview, type ViewEvent, type ViewMethods, type ViewPlan, type ViewSummary,
} from '../shared/protocol.ts';
import { RpcServer, type Handlers, type ProgressFn } from '../shared/rpc.ts';
import { EngineRequestError, type EngineClient } from './engineClient.ts';
import type { DataJob } from '../worker/protocol.ts';
import type { Output } from './output.ts';
import { planFromSettings, readSettings } from './settings.ts';
import { modelViewHtml, webviewOptions } from './webviewHtml.ts';

export const VIEW_TYPE = 'onnxPruner.modelView';

/** Scoring starts when a view has its first rows, or this long after the structure is loaded. */
const SCORE_AFTER_MS = 1000;

export class ModelDocument implements vscode.CustomDocument {
  readonly path: string;
  /** The plan last set in one of this model's views (used by "Export Pruning Plan…"). */
  plan: ViewPlan | undefined;
  /** Resolves when the worker has loaded the model and found its coupled channels (the rows can show). */
  summary: Promise<ViewSummary> | undefined;
  /** Resolves when the channels are scored (phase 2: `startScoring`, once a view has its rows). */
  scored: Promise<ViewSummary> | undefined;
  private latest: ViewSummary | undefined;
  private started = 0;
  private scoreTimer: ReturnType<typeof setTimeout> | undefined;
  private readonly loadEvents: ViewEvent[] = [];
  private readonly listeners = new Set<(e: ViewEvent) => void>();
  private readonly cancel = new AbortController();
  /** Counts analyses (a new input size starts a new one): events of an older one are dropped. */
  private generation = 0;

  constructor(
    readonly uri: vscode.Uri,
    private readonly engine: EngineClient,
    private readonly output: Output,
    /** Sizes of the model's symbolic inputs (whole shapes by input name), remembered for this model; `{}` when none was given. */
    public inputShapes: InputShapes = {},
    private readonly remember: (shapes: InputShapes) => void = () => {},
  ) {
    this.path = uri.fsPath;
  }

  /** Starts loading once; events are replayed to every view that attaches later. */
  load(): Promise<ViewSummary> {
    if (!this.summary) {
      const started = Date.now();
      this.output.info(`Opening ${this.path}`);
      const open = (inputShapes: InputShapes) => this.engine.request('open', { path: this.path, inputShapes }, {
        signal: this.cancel.signal,
        onProgress: (stage, fraction) => this.emit({ type: 'loading', stage, fraction }),
      });
      const remembered = this.inputShapes;
      this.summary = open(remembered)
        // remembered sizes that no longer fit the model (the file changed): forgotten, the model opens without them
        .catch((e: EngineRequestError) => {
          if (!Object.keys(remembered).length || e.cancelled) throw e;
          this.output.warn(`The input size remembered for ${path.basename(this.path)} no longer fits it (${e.message}): opening without it`);
          this.inputShapes = {};
          this.remember({});
          return open({});
        })
        .then(
          (s) => {
            this.output.info(`Loaded ${path.basename(this.path)} in ${Date.now() - started} ms: ${s.layerCount} layers, ${s.prunableGroupCount}/${s.groupCount} prunable groups`);
            this.latest = s;
            // Scoring takes every core for a moment: it starts once a view has its first rows (the
            // webview starting up is not slowed down by it), or after a second without one.
            this.scoreTimer = setTimeout(() => this.startScoring(), SCORE_AFTER_MS);
            this.started = started;
            return s;
          },
          (e: EngineRequestError) => {
            this.output.error(`Could not open ${this.path}: ${e.message}`, e.details);
            this.emit({ type: 'loadFailed', error: { message: e.message, details: e.details, cancelled: e.cancelled } });
            throw e;
          },
        );
      this.summary.catch(() => {});
    }
    return this.summary;
  }

  /** Phase 2: channel scores, reported as `scoring` events; a failure fails the views like a load failure. */
  startScoring(): void {
    if (this.scored || !this.summary || this.cancel.signal.aborted) return;
    clearTimeout(this.scoreTimer);
    const started = this.started;
    const generation = this.generation;
    this.scored = this.engine
      .request('score', { path: this.path }, {
        signal: this.cancel.signal,
        onProgress: (stage, fraction) => { if (generation === this.generation) this.emit({ type: 'scoring', stage, fraction }); },
      })
      .then(
        (s) => {
          if (generation !== this.generation) return s;
          this.output.info(`Scored the channels of ${path.basename(this.path)}: ${Date.now() - started} ms from opening`);
          this.latest = s;
          this.emit({ type: 'scored', summary: s });
          return s;
        },
        (e: EngineRequestError) => {
          // the scoring of an analysis replaced by a new input size was stopped on purpose
          if (generation !== this.generation) throw e;
          if (!e.cancelled) this.output.error(`Could not score the channels of ${this.path}: ${e.message}`, e.details);
          this.emit({ type: 'loadFailed', error: { message: e.message, details: e.details, cancelled: e.cancelled } });
          throw e;
        },
      );
    this.scored.catch(() => {});
  }

  /**
   * New input sizes (`{}`: none): the worker analyses the model again with them (without reading
   * it again), they are remembered for the model, and the channels are scored again. Answers the
   * new summary, not scored yet; `scored` follows. Sizes that do not fit the model change nothing.
   */
  async setInputShapes(inputShapes: InputShapes): Promise<ViewSummary> {
    await this.load();
    const started = Date.now();
    // from here on, the scoring of the analysis being replaced is stopped on purpose: its end is not news
    this.generation++;
    let s: ViewSummary;
    try {
      s = await this.engine.request('open', { path: this.path, inputShapes }, { signal: this.cancel.signal });
    } catch (e) {
      // the model stays analysed as it was: its scores are asked for again (at once when they were complete)
      this.generation++;
      this.scored = undefined;
      this.startScoring();
      throw e;
    }
    clearTimeout(this.scoreTimer);
    this.inputShapes = inputShapes;
    this.remember(inputShapes);
    this.summary = Promise.resolve(s);
    this.scored = undefined;
    this.latest = s;
    this.loadEvents.length = 0;
    this.started = started;
    const sizes = Object.entries(inputShapes).map(([n, d]) => `${n} ${d.join('×')}`).join(', ');
    this.output.info(`Analysed ${path.basename(this.path)} again ${sizes ? `with input size ${sizes}` : 'without input sizes'} in ${Date.now() - started} ms: ${s.macs} MACs`);
    this.startScoring();
    return s;
  }

  /** The summary as of now (scored or not), once the structure is loaded. */
  async current(): Promise<ViewSummary> {
    const s = await this.load();
    return this.latest ?? s;
  }

  /** The summary as of this moment, when the structure is loaded. */
  get now(): ViewSummary | undefined {
    return this.latest;
  }

  emit(e: ViewEvent): void {
    if (e.type === 'loading' || e.type === 'loadFailed' || e.type === 'scoring' || e.type === 'scored') this.loadEvents.push(e);
    for (const l of this.listeners) l(e);
  }

  subscribe(l: (e: ViewEvent) => void): vscode.Disposable {
    for (const e of this.loadEvents.slice(-2)) l(e);
    this.listeners.add(l);
    return new vscode.Disposable(() => this.listeners.delete(l));
  }

  dispose(): void {
    clearTimeout(this.scoreTimer);
    this.cancel.abort();
    this.listeners.clear();
    void this.engine.request('close', { path: this.path }).catch(() => {});
  }
}

export class ModelEditorProvider implements vscode.CustomReadonlyEditorProvider<ModelDocument> {
  private readonly documents = new Map<string, ModelDocument>();
  private readonly panels = new Map<string, Set<vscode.WebviewPanel>>();
  private activeDocument: ModelDocument | undefined;

  constructor(
    private readonly context: vscode.ExtensionContext,
    private readonly engine: EngineClient,
    private readonly output: Output,
    private readonly runPrune: (uri: vscode.Uri, request: { plan: ViewPlan; validate: boolean; data?: DataJob }, progress: ProgressFn, signal: AbortSignal) => Promise<PruneReport>,
  ) {}

  static register(context: vscode.ExtensionContext, provider: ModelEditorProvider): vscode.Disposable {
    return vscode.window.registerCustomEditorProvider(VIEW_TYPE, provider, {
      // Without retainContextWhenHidden: the view saves its UI state with setState and re-requests data when shown again.
      webviewOptions: { retainContextWhenHidden: false, enableFindWidget: true },
      supportsMultipleEditorsPerDocument: true,
    });
  }

  /** The model shown in the active custom editor, if any. */
  get active(): ModelDocument | undefined {
    return this.activeDocument;
  }

  documentFor(fsPath: string): ModelDocument | undefined {
    return this.documents.get(fsPath);
  }

  /** The input sizes remembered for a model (workspace state), `{}` when none. */
  storedShapes(fsPath: string): InputShapes {
    return parseInputShapes(this.context.workspaceState.get(sizesStateKey(fsPath))) ?? {};
  }

  /** The input sizes of a model: those of its open view, else those remembered. */
  inputShapesFor(fsPath: string): InputShapes {
    return this.documents.get(fsPath)?.inputShapes ?? this.storedShapes(fsPath);
  }

  async openCustomDocument(uri: vscode.Uri): Promise<ModelDocument> {
    const remember = (shapes: InputShapes) => void this.context.workspaceState.update(sizesStateKey(uri.fsPath), Object.keys(shapes).length ? shapes : undefined);
    const doc = new ModelDocument(uri, this.engine, this.output, this.storedShapes(uri.fsPath), remember);
    this.documents.set(doc.path, doc);
    doc.load();
    return doc;
  }

  /** Sends an event to the views of every open model. */
  broadcastAll(event: ViewEvent): void {
    for (const doc of this.documents.values()) doc.emit(event);
  }

  /** Sends an event to every view of the model (e.g. "reveal this layer"). */
  broadcast(fsPath: string, event: ViewEvent): void {
    this.documents.get(fsPath)?.emit(event);
    const panels = this.panels.get(fsPath);
    if (panels) for (const p of panels) if (event.type === 'revealLayer') p.reveal();
  }

  async resolveCustomEditor(doc: ModelDocument, panel: vscode.WebviewPanel, _token: vscode.CancellationToken): Promise<void> {
    const webview = panel.webview;
    webview.options = webviewOptions(this.context.extensionUri);
    webview.html = modelViewHtml(webview, this.context.extensionUri, path.basename(doc.path));
    let set = this.panels.get(doc.path);
    if (!set) this.panels.set(doc.path, (set = new Set()));
    set.add(panel);
    if (panel.active) this.activeDocument = doc;

    const post = (m: ToWebview) => void webview.postMessage(m);
    let disposed = false;
    const server = new RpcServer<ViewMethods, ViewEvent>(this.viewHandlers(doc), post, (e, cancelled) => {
      const err = e as EngineRequestError;
      return { message: cancelled ? 'Cancelled' : err?.message ?? String(e), details: err?.details, cancelled };
    });
    // The first screen (summary as of now, heaviest layers, the settings' plan) goes to the view
    // when it says `ready`, i.e. once its script listens: a message posted before that can be lost
    // (VS Code delivers it when the page has loaded, which may be before the script runs), and with
    // it the settings' plan and the scores. The model's load started when the document opened, so
    // this waits for nothing the view would not wait for anyway. A view that reloads (hidden, then
    // shown) says `ready` again and gets it again.
    const pushFirstScreen = async () => {
      await doc.load();
      const page = await this.engine.request('getLayers', { path: doc.path, query: FIRST_LAYER_QUERY });
      // the summary as of now: scored if the scores arrived meanwhile (else the `scored` event follows)
      const summary = await this.viewSummary(doc);
      if (!disposed) post({ kind: 'event', event: { type: 'firstScreen', summary, query: FIRST_LAYER_QUERY, page, defaultPlan: planFromSettings(readSettings(doc.uri)) } });
    };
    // a view that starts after the load failed learns it here
    const firstScreen = () => void pushFirstScreen().catch((e: EngineRequestError) => {
      if (!disposed) post({ kind: 'event', event: { type: 'loadFailed', error: { message: e?.message ?? String(e), details: e?.details, cancelled: e?.cancelled } } });
    });
    const disposables: vscode.Disposable[] = [
      doc.subscribe((event) => post({ kind: 'event', event: event.type === 'scored' ? { type: 'scored', summary: this.decorate(event.summary) } : event })),
      panel.onDidChangeViewState(() => {
        if (panel.active) this.activeDocument = doc;
        else if (this.activeDocument === doc && ![...(this.panels.get(doc.path) ?? [])].some((p) => p.active)) this.activeDocument = undefined;
      }),
      vscode.workspace.onDidChangeConfiguration((e) => {
        if (e.affectsConfiguration('onnxPruner', doc.uri)) post({ kind: 'event', event: { type: 'defaultPlan', plan: planFromSettings(readSettings(doc.uri)) } });
      }),
      webview.onDidReceiveMessage((raw: unknown) => {
        const msg: FromWebview | undefined = parseFromWebview(raw);
        if (!msg) {
          this.output.warn(`Ignored a malformed message from the view of ${doc.path}: ${JSON.stringify(raw)?.slice(0, 300)}`);
          // A request still gets its answer (an error), so the view does not wait for it forever.
          const id = (raw as { kind?: unknown; id?: unknown } | null)?.kind === 'request' ? (raw as { id: unknown }).id : undefined;
          if (typeof id === 'number' && Number.isInteger(id)) post({ kind: 'response', id, ok: false, error: { message: 'The request was malformed' } });
          return;
        }
        if (msg.kind === 'ready') {
          firstScreen();
          return;
        }
        if (msg.kind === 'planState') {
          doc.plan = msg.plan;
          return;
        }
        void server.receive(msg);
      }),
    ];
    panel.onDidDispose(() => {
      disposed = true;
      server.cancelAll();
      for (const d of disposables) d.dispose();
      set!.delete(panel);
      if (this.activeDocument === doc && set!.size === 0) this.activeDocument = undefined;
    });
  }

  /** What the view's requests do: one handler per request of ViewMethods. */
  private viewHandlers(doc: ModelDocument): Handlers<ViewMethods> {
    const p = doc.path;
    return {
      getLayers: async (query, { signal }) => {
        await doc.load();
        const page = await this.engine.request('getLayers', { path: p, query }, { signal });
        // scoring takes every core for a moment: it starts once a view has its first rows
        setImmediate(() => doc.startScoring());
        return page;
      },
      getHistogram: async (params, { signal }) => {
        await doc.load();
        return this.engine.request('getHistogram', { path: p, ...params }, { signal });
      },
      getLayerDetail: async (params, { signal }) => {
        await doc.load();
        return this.engine.request('getLayerDetail', { path: p, ...params, ...this.planData(doc, params.plan) }, { signal });
      },
      previewPlan: async ({ plan }, { signal, progress }) => {
        await doc.load();
        return this.engine.request('previewPlan', { path: p, plan, ...this.planData(doc, plan) }, { signal, onProgress: progress });
      },
      prune: async (params, { signal, progress }) => {
        if (!vscode.workspace.isTrusted) throw new EngineRequestError('Pruning runs only in a trusted workspace', { user: true });
        try {
          // Only the plan and whether to validate come from the view: where the result is written is the host's choice.
          // The data (calibration, evaluation, validation inputs) is the host's memory of this model's choices: paths never come from the view.
          const report = await this.runPrune(doc.uri, { plan: params.plan, validate: params.validate, data: this.dataJob(doc.uri) }, progress, signal);
          // the pruned model has the same symbolic inputs: it opens at the size this model was pruned at
          if (Object.keys(doc.inputShapes).length) void this.context.workspaceState.update(sizesStateKey(report.output), doc.inputShapes);
          if (!params.target) return { report };
          // a plan found for a target: the target checked on the written model (as the command line does);
          // the model is written whatever happens here, so a check that fails or is cancelled is a warning
          try {
            await doc.load();
            const target = await this.engine.request('checkTarget', { path: p, pruned: report.output, budget: params.target, data: this.dataJob(doc.uri), macs: report.macs.after, params: report.params.after }, { signal, onProgress: progress });
            return { report, target };
          } catch (e) {
            const err = e as EngineRequestError;
            const why = err?.cancelled || signal.aborted ? 'cancelled' : err?.message;
            if (!err?.cancelled && !signal.aborted) this.output.error(`Checking the target on ${report.output} failed: ${err?.message}`, err?.details);
            return { report: { ...report, warnings: [...(report.warnings ?? []), `the target was not checked on the written model (${why})`] } };
          }
        } catch (e) {
          const err = e as EngineRequestError;
          if (!err?.cancelled && !signal.aborted) this.output.error(`Pruning ${doc.path} failed: ${err?.message}`, err?.details);
          throw e;
        }
      },
      validate: async ({ pruned }, { signal, progress }) => {
        if (!vscode.workspace.isTrusted) throw new EngineRequestError('Running models needs a trusted workspace', { user: true });
        const ep = readSettings().executionProvider;
        await doc.load();
        return this.engine.request('validate', { original: p, pruned: allowedFile(p, pruned), ep, data: this.dataJob(doc.uri), inputShapes: doc.inputShapes }, { signal, onProgress: progress });
      },
      getData: async (_params, { signal }) => {
        requireTrustForData();
        return this.describeData(doc, signal);
      },
      chooseData: async ({ role, pick }, { signal }) => {
        await this.pickData(doc.uri, role, pick);
        return this.describeData(doc, signal);
      },
      clearData: async ({ role }, { signal }) => {
        requireTrustForData();
        const stored = { ...this.storedData(doc) };
        delete stored[role];
        await this.saveData(doc, stored);
        return this.describeData(doc, signal);
      },
      setDataOptions: async (options, { signal }) => {
        requireTrustForData();
        await this.saveData(doc, { ...this.storedData(doc), ...options });
        return this.describeData(doc, signal);
      },
      chooseArray: async ({ role, array }, { signal }) => {
        requireTrustForData();
        const stored = this.storedData(doc);
        // the array of a file chosen before; labels: an array of the evaluation file
        const of = role === 'labels' ? stored.evaluation : stored[role];
        const file = of?.replace(/(\.npz):[^:\\/]+$/i, '$1');
        if (!file || !/\.npz$/i.test(file)) throw new EngineRequestError(`${role === 'labels' ? 'the evaluation data' : `the ${role} data`} is not a .npz file: there is no array to choose`, { user: true });
        await this.saveData(doc, { ...stored, [role]: `${file}:${array}` });
        return this.describeData(doc, signal);
      },
      setInputShapes: async ({ inputShapes }) => this.decorate(await doc.setInputShapes(inputShapes)),
      getGroups: async (_params, { signal }) => {
        await doc.load();
        return this.engine.request('getGroups', { path: p }, { signal });
      },
      scan: async ({ plan, cachedOnly, settings }, { signal, progress }) => {
        if (!vscode.workspace.isTrusted) throw new EngineRequestError('The sensitivity scan runs the model: it needs a trusted workspace', { user: true });
        await doc.load();
        const ep = readSettings().executionProvider;
        try {
          return await this.engine.request('scan', { path: p, plan, cachedOnly, data: this.dataJob(doc.uri), ep, ...(settings ? { settings } : {}) }, { signal, onProgress: progress });
        } catch (e) {
          const err = e as EngineRequestError;
          if (!cachedOnly && !err?.cancelled && !signal.aborted) this.output.error(`Scanning ${doc.path} failed: ${err?.message}`, err?.details);
          throw e;
        }
      },
      getBlocks: async ({ measure }, { signal, progress }) => {
        if (measure && !vscode.workspace.isTrusted) throw new EngineRequestError('Measuring the blocks runs the model: it needs a trusted workspace', { user: true });
        await doc.load();
        const ep = readSettings().executionProvider;
        return this.engine.request('getBlocks', { path: p, measure, ...(vscode.workspace.isTrusted ? { data: this.dataJob(doc.uri) } : {}), ep }, { signal, onProgress: progress });
      },
      findPlan: async ({ plan, budget, settings }, { signal, progress }) => {
        if (!vscode.workspace.isTrusted) throw new EngineRequestError('Finding a plan for a target uses the sensitivity scan: it needs a trusted workspace', { user: true });
        await doc.load();
        return this.engine.request('findPlan', { path: p, plan, budget, data: this.dataJob(doc.uri), ...(settings ? { settings } : {}) }, { signal, onProgress: progress });
      },
      measureLatency: async (_params, { signal, progress }) => {
        if (!vscode.workspace.isTrusted) throw new EngineRequestError('Timing the model runs it: it needs a trusted workspace', { user: true });
        await doc.load();
        return this.engine.request('measureLatency', { path: p }, { signal, onProgress: progress });
      },
      openFile: async ({ path: file }) => {
        const target = vscode.Uri.file(allowedFile(p, file));
        if (!target.fsPath.endsWith('.onnx') && !target.fsPath.endsWith('.json')) throw new EngineRequestError('Only .onnx and .json files can be opened from the view', { user: true });
        if (target.fsPath.endsWith('.onnx')) await vscode.commands.executeCommand('vscode.openWith', target, VIEW_TYPE);
        else await vscode.window.showTextDocument(target);
        return null;
      },
    };
  }

  /**
   * Asks for a model's data of `role` (a file or a folder, starting beside the file chosen before)
   * and remembers it for the model, as the view's data panel does (the view and the Prune Channels…
   * command share it). The path chosen, undefined when dismissed. Needs a trusted workspace.
   */
  async pickData(model: vscode.Uri, role: DataRole, pick: 'file' | 'folder'): Promise<string | undefined> {
    requireTrustForData();
    const doc = { path: model.fsPath };
    const stored = this.storedData(doc);
    const current = stored[role];
    const files: Record<string, string[]> = role === 'labels' ? { Labels: ['npy', 'npz', 'u8'] } : { 'Arrays (NumPy, raw float32)': ['npy', 'npz', 'f32'] };
    const chosen = await vscode.window.showOpenDialog({
      title: DATA_TITLES[role](pick),
      openLabel: 'Use',
      canSelectFiles: pick === 'file',
      canSelectFolders: pick === 'folder',
      canSelectMany: false,
      ...(pick === 'file' ? { filters: files } : {}),
      defaultUri: vscode.Uri.file(current ? path.dirname(current) : path.dirname(model.fsPath)),
    });
    const uri = chosen?.[0];
    if (!uri) return undefined;
    if (uri.scheme !== 'file') throw new EngineRequestError(`${uri.toString()}: data is read from the model's file system only`, { user: true });
    await this.saveData(doc, { ...stored, [role]: uri.fsPath });
    this.output.info(`${path.basename(model.fsPath)}: ${role} data ${uri.fsPath}`);
    return uri.fsPath;
  }

  /** Remembers data options (e.g. the recovery mode) for a model, as the view's data panel does. */
  async rememberDataOptions(model: vscode.Uri, options: Partial<DataOptions>): Promise<void> {
    const doc = { path: model.fsPath };
    await this.saveData(doc, { ...this.storedData(doc), ...options });
  }

  /**
   * The calibration choice a plan ranked by a data criterion is measured on (it runs the model: a
   * trusted workspace only); nothing for the other criteria.
   */
  private planData(doc: ModelDocument, plan: ViewPlan | undefined): { data?: DataJob } {
    if (!plan || !isDataCriterion(plan.criterion)) return {};
    if (!vscode.workspace.isTrusted) throw new EngineRequestError(`Criterion ${plan.criterion} runs the model on calibration inputs: it needs a trusted workspace`, { user: true });
    return { data: this.dataJob(doc.uri) };
  }

  /** The data choices remembered for a model (paths on this host, options set in its view). */
  private storedData(doc: { path: string }): StoredData {
    const raw = this.context.workspaceState.get<unknown>(DATA_KEY + doc.path);
    if (!raw || typeof raw !== 'object') return {};
    const r = raw as Record<string, unknown>;
    const out: StoredData = { ...(parseDataOptions(r) ?? {}) };
    for (const k of ['calibration', 'evaluation', 'labels', 'inputs'] as const) if (typeof r[k] === 'string') out[k] = r[k] as string;
    return out;
  }

  private async saveData(doc: { path: string }, data: StoredData): Promise<void> {
    await this.context.workspaceState.update(DATA_KEY + doc.path, data);
  }

  /**
   * What a prune or validation run of `model` reads: the paths remembered for it (chosen in its
   * view), the view's options over the settings' defaults. Also used by the Prune Channels… command.
   */
  dataJob(model: vscode.Uri): DataJob {
    const s = readSettings(model);
    const d = this.storedData({ path: model.fsPath });
    return {
      preset: d.preset ?? 'auto',
      ...(d.custom ? { custom: d.custom } : {}),
      recover: d.recover ?? s.recover,
      calibCount: d.calibCount ?? s.calibrationCount,
      runs: d.runs ?? s.validationRuns,
      batch: d.batch ?? s.validationBatch,
      ...(d.calibration ? { calibration: d.calibration } : {}),
      ...(d.evaluation ? { evaluation: d.evaluation } : {}),
      ...(d.labels ? { labels: d.labels } : {}),
      ...(d.inputs ? { inputs: d.inputs } : {}),
    };
  }

  /** The chosen data as the view sees it: opened by the worker against the model's input (names and counts only). */
  private async describeData(doc: ModelDocument, signal: AbortSignal): Promise<DataState> {
    await doc.load();
    return this.engine.request('describeData', { path: doc.path, data: this.dataJob(doc.uri) }, { signal });
  }

  /** The summary as a view shows it: with this machine's execution providers and the workspace's trust. */
  private async viewSummary(doc: ModelDocument): Promise<ViewSummary> {
    await doc.current();
    const providers = await this.providers();
    return this.decorate(doc.now!, providers);
  }

  private providerList: string[] = ['cpu'];
  private decorate(s: ViewSummary, providers = this.providerList): ViewSummary {
    return { ...s, providers, trusted: vscode.workspace.isTrusted };
  }

  private providersCache: Promise<string[]> | undefined;
  /** The execution providers, asked of the worker once (loads ONNX Runtime there). */
  providers(): Promise<string[]> {
    this.providersCache ??= this.engine.request('providers', {}).catch(() => ['cpu']).then((p) => (this.providerList = p));
    return this.providersCache;
  }
}

/** Per model, in the workspace state: the chosen data (absolute paths on this host) and options. */
const DATA_KEY = 'onnxPruner.data:';
type StoredData = Partial<DataOptions> & Partial<Record<DataRole, string>>;

const DATA_TITLES: Record<DataRole, (pick: 'file' | 'folder') => string> = {
  calibration: (pick) => (pick === 'folder' ? 'Calibration data: a folder of images (one sub-folder per class, or images directly)' : 'Calibration data: a .npy, .npz or .f32 file of inputs'),
  evaluation: (pick) => (pick === 'folder' ? 'Evaluation data: a folder of images (one sub-folder per class gives the labels)' : 'Evaluation data: a .npy, .npz or .f32 file of inputs (not the calibration inputs)'),
  labels: () => 'Labels of the evaluation data: .npy / .npz of integers, or .u8 (one byte each)',
  inputs: () => 'Validation inputs: a .npy, .npz or .f32 file',
};

/** Choosing data is for running the model (calibration, evaluation): it needs a trusted workspace. */
function requireTrustForData(): void {
  if (!vscode.workspace.isTrusted) throw new EngineRequestError('Calibration and evaluation run the model: they need a trusted workspace', { user: true });
}

/** The workspace-state key of a model's input sizes. */
function sizesStateKey(fsPath: string): string {
  return `onnxPruner.inputShapes:${fsPath}`;
}

/**
 * A file the view names, resolved against the model's folder: only inside that folder or a
 * workspace folder (the view never reaches elsewhere on disk).
 */
function allowedFile(model: string, file: string): string {
  const abs = path.resolve(path.dirname(model), file);
  const roots = [path.dirname(model), ...(vscode.workspace.workspaceFolders ?? []).map((f) => f.uri.fsPath)];
  const inside = roots.some((r) => {
    const rel = path.relative(r, abs);
    return rel !== '' && !rel.startsWith('..') && !path.isAbsolute(rel);
  });
  if (!inside) throw new EngineRequestError(`${file}: the view can only name files in the model's folder or the workspace`, { user: true });
  return abs;
}
