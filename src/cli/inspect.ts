// `onnx-pruner inspect <model.onnx>`: what the model is (format, producer, inputs and outputs),
// what it costs (parameters, MACs at batch 1) and one row per weighted layer; `--json` prints
// the same summary object the extension shows, with the channel groups (`groups`) and the
// per-layer importance statistics (`importance`) added. `--layer <node>` prints one layer's
// channel scores and ranks, and the layers and nodes coupled with it.
import { cliCommand } from './errors.ts';
import { addSizeOptions, epOption, intOption, parseSizes, type SizeCliOptions } from './options.ts';
import type { Command } from 'commander';
import {
  AnalysedModel, bindInputShapes, CRITERIA, DEFAULT_SCAN_INPUTS, modelInputSpecs, openInputSet, parsePreprocessArg, scanBlocks, type BlockScan, DEFAULT_BLOCK_THRESHOLD, analyzeDependencies, blockRanking, buildAnalysisReport, buildLayerReport, computeImportance, CHEAP_CRITERIA, findResidualBlocks, Graph,
  importanceStats, loadModel, PrunerError, summarizeModel, type AnalysisReport, type BlockReport, type Criterion, type LayerReport, type ModelSummary,
} from '../engine/index.ts';
import { formatBytes, formatCount, formatSI, formatShape, formatTable } from './format.ts';
import { cliSignal } from './signals.ts';
import { describeDataSets } from './data.ts';
import { gammaFromWords } from '../shared/format.ts';

interface InspectCliOptions extends SizeCliOptions {
  json?: boolean;
  layer?: string;
  sort?: string;
  criterion?: string[];
  allCriteria?: boolean;
  calib?: string;
  calibCount?: string;
  labels?: string;
  preprocess?: string;
  ep: string;
}

/** What `inspect` scores: the cheap criteria (γ, L1, L2), plus those named by --criterion / --sort, or all four with --all-criteria. */
export function inspectCriteria(o: Pick<InspectCliOptions, 'criterion' | 'allCriteria' | 'sort'>): Criterion[] {
  if (o.allCriteria) return [...CRITERIA];
  const asked = new Set<Criterion>(CHEAP_CRITERIA);
  for (const c of (o.criterion ?? []).flatMap((x) => x.split(','))) {
    const name = c.trim();
    if (!(CRITERIA as readonly string[]).includes(name)) throw new PrunerError(`--criterion expects one of ${CRITERIA.join(', ')}, got "${name}"`);
    asked.add(name as Criterion);
  }
  if (o.sort) asked.add(o.sort as Criterion);
  return CRITERIA.filter((c) => asked.has(c));
}

/** The line telling how to get the criteria `inspect` left out (FPGM is computed only when asked). */
export function missingCriteriaHint(computed: readonly Criterion[]): string | undefined {
  const missing = CRITERIA.filter((c) => !computed.includes(c));
  if (!missing.length) return undefined;
  return `${missing.map((c) => LABEL[c]).join(', ')} not computed (costly on big layers): add --criterion ${missing.join(',')} or --all-criteria`;
}

export function registerInspect(program: Command): void {
  const cmd = program
    .command('inspect')
    .description('Show a model\'s inputs, outputs, parameters, MACs and weighted layers')
    .argument('<model>', 'the .onnx model');
  addSizeOptions(cmd, 'shapes and MACs; a symbolic batch counts as 1 otherwise')
    .option('--json', 'print the summary as JSON')
    .option('--layer <node>', 'print every channel\'s scores and ranks for this layer (node name), and what is coupled with it')
    .option('--sort <criterion>', `with --layer: sort the channels by a criterion, ascending (${CRITERIA.join(', ')}; default: by channel)`)
    .option('--criterion <names...>', `also compute these criteria (${CRITERIA.join(', ')}); BN γ, L1 and L2 are always computed, FPGM only when asked`)
    .option('--all-criteria', 'compute every criterion, FPGM included')
    .option('--calib <path>', 'rank the residual blocks from data: each removed alone and run on these inputs (a folder of JPEG/PNG images, .npy, .npz[:NAME] or FILE.f32:COUNTxCxHxW)')
    .option('--calib-count <n>', `with --calib: inputs measured on, the first n (default ${DEFAULT_SCAN_INPUTS})`)
    .option('--labels <file>', 'with --calib: labels of those inputs (.npy / .npz[:NAME] of integers, or .u8): the block score is then accuracy lost')
    .option('--preprocess <preset|json>', 'with --calib: image preprocessing: imagenet, raw255, unit, signed, fmnist, or JSON (default: proposed from the model input)')
    .option('--ep <provider>', 'with --calib: execution provider: auto (CUDA when present), cuda or cpu', 'auto')
    .action(async (file: string, o: InspectCliOptions) => {
      const { dims, shapes: inputShapes } = parseSizes(o);
      if (o.sort !== undefined && !(CRITERIA as readonly string[]).includes(o.sort))
        throw new PrunerError(`--sort expects one of ${CRITERIA.join(', ')}, got "${o.sort}"`);
      if (o.sort !== undefined && o.layer === undefined) throw new PrunerError('--sort applies to --layer');
      const criteria = inspectCriteria(o);
      for (const k of ['calibCount', 'labels', 'preprocess'] as const) if (o[k] !== undefined && o.calib === undefined) throw new PrunerError(`--${k.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)} goes with --calib`);
      if (o.calib !== undefined && o.layer !== undefined) throw new PrunerError('--calib ranks the residual blocks; it does not go with --layer');
      epOption(o.ep);
      const model = loadModel(file, { weights: 'file' });
      const graph = new Graph(model);
      try {
        bindInputShapes(graph, inputShapes);
      } catch (e) {
        throw new PrunerError(`${file}: ${(e as Error).message}`, { subject: file });
      }
      const deps = analyzeDependencies(graph);
      const importance = await computeImportance(graph, deps, { criteria });
      const hint = missingCriteriaHint(importance.criteria);
      if (o.layer !== undefined) {
        const rep = buildLayerReport(deps, importance, o.layer);
        if (!rep) throw new PrunerError(unknownLayerMessage(o.layer, [...importance.layers.keys()]));
        process.stdout.write(o.json ? `${JSON.stringify(rep, null, 2)}\n` : formatLayerReport(rep, o.sort as Criterion | undefined) + (hint ? `${hint}\n` : ''));
        return;
      }
      const summary = summarizeModel(model, graph, { dims, inputShapes });
      const report = buildAnalysisReport(graph, deps, importance, importanceStats(importance));
      const blockScan = o.calib !== undefined ? await blocksFromData(file, model, o) : undefined;
      const blocks = blockRanking(findResidualBlocks(graph), blockScan?.scores);
      const merged = { ...summary, groups: report.groups, importance: report.importance, blocks, ...(blockScan ? { blockScan: { data: blockScan.data, inputs: blockScan.inputs, labelled: blockScan.labelled, ...(blockScan.baselineAccuracy !== undefined ? { baselineAccuracy: blockScan.baselineAccuracy } : {}), seconds: blockScan.seconds } } : {}) };
      process.stdout.write(o.json ? `${JSON.stringify(merged, null, 2)}\n` : formatSummary(summary, report, blocks, blockScan) + (hint ? `\n${hint}\n` : ''));
    });
}

/** `inspect --calib`: every removable block removed alone and measured on the calibration inputs. */
async function blocksFromData(file: string, model: ReturnType<typeof loadModel>, o: InspectCliOptions): Promise<BlockScan> {
  const specs = modelInputSpecs(file);
  if (specs.length !== 1) throw new PrunerError(`${file}: ranking blocks from data needs a model with one input, this one has ${specs.length} (${specs.map((s) => s.name).join(', ')})`, { subject: file });
  const count = o.calibCount !== undefined ? intOption('--calib-count', o.calibCount) : DEFAULT_SCAN_INPUTS;
  const data = await openInputSet(o.calib!, {
    spec: specs[0],
    maxCount: count,
    ...(o.preprocess !== undefined ? { preprocess: parsePreprocessArg(o.preprocess) } : {}),
    ...(o.labels !== undefined ? { labels: o.labels } : {}),
  });
  if (!o.json) process.stderr.write(describeDataSets({ calibration: data }));
  return scanBlocks(new AnalysedModel(model), data, { count, ep: o.ep as 'auto' | 'cuda' | 'cpu', signal: cliSignal() });
}

/** "unknown layer X", with up to five layer names close to it (substring either way, then shared words). */
export function unknownLayerMessage(name: string, layers: string[]): string {
  const q = name.toLowerCase();
  const words = q.split(/[^a-z0-9]+/).filter((w) => w.length > 1);
  const score = (l: string) => {
    const s = l.toLowerCase();
    if (s.includes(q) || q.includes(s)) return 100;
    return words.filter((w) => s.includes(w)).length;
  };
  const close = layers.map((l) => ({ l, s: score(l) })).filter((x) => x.s > 0).sort((a, b) => b.s - a.s).slice(0, 5).map((x) => x.l);
  const hint = (close.length ? close : layers.slice(0, 5)).join(', ');
  return `unknown layer "${name}" (${layers.length} weighted layers; ${close.length ? 'close names' : 'for example'}: ${hint})`;
}

/** A score for a table: 4 significant digits, exponent form below 1e-3. */
function fmtScore(v: number | undefined): string {
  if (v === undefined || Number.isNaN(v)) return '';
  if (v === 0) return '0';
  return Math.abs(v) < 1e-3 ? v.toExponential(3) : v.toPrecision(4);
}

const LABEL: Record<Criterion, string> = { 'bn-gamma': 'BN γ', l1: 'L1', l2: 'L2', fpgm: 'FPGM' };

/** `inspect --layer`: the layer's header, its coupling, then one row per channel. */
export function formatLayerReport(r: LayerReport, sort?: Criterion): string {
  const out: string[] = [];
  out.push(`${r.name}  ${r.op}, ${r.channels} output channels${r.bn ? `, BN ${r.bn}` : ''}${r.gammaFrom ? `, ${gammaFromWords(r.gammaFrom)}` : ''}${r.bnFused ? ', no BN scores it: no γ' : ''}`);
  const g = r.coupled;
  if (!g) out.push('  group        none (no channel group for this layer)');
  else {
    out.push(`  group        ${g.id}: ${g.channels} channels, ${g.prunable ? 'prunable' : `frozen: ${g.reason ?? 'no reason given'}`}${g.divisor ? `, in ${g.divisor} equal blocks` : ''}`);
    const others = g.layers.filter((l) => l !== r.name);
    out.push(`  coupled      ${others.length ? others.join(', ') : 'no other layer'}`);
    if (g.bnNodes.length) out.push(`  BN nodes     ${g.bnNodes.join(', ')}`);
    const members = g.members.filter((m) => m !== r.name && !g.layers.includes(m) && !g.bnNodes.includes(m));
    if (members.length) out.push(`  members      ${members.join(', ')}`);
  }
  out.push('');
  const crits = CRITERIA.filter((c) => r.rows.some((row) => row[c] !== undefined));
  const rows = [...r.rows];
  if (sort) {
    if (!crits.includes(sort)) throw new PrunerError(`--sort ${sort}: layer "${r.name}" has no ${LABEL[sort]} scores`);
    rows.sort((a, b) => (a[sort] ?? 0) - (b[sort] ?? 0) || a.channel - b.channel);
  }
  const table = rows.map((row) => [String(row.channel), ...crits.map((c) => fmtScore(row[c])), ...crits.map((c) => String(row.rank[c] ?? ''))]);
  out.push(...formatTable([
    { header: 'channel', align: 'right' },
    ...crits.map((c) => ({ header: LABEL[c], align: 'right' as const })),
    ...crits.map((c) => ({ header: `rank ${LABEL[c]}`, align: 'right' as const })),
  ], table));
  return `${out.join('\n')}\n`;
}

/** The human-readable summary: a header block, then the table of weighted layers. */
export function formatSummary(s: ModelSummary, a?: AnalysisReport, blocks?: BlockReport[], blockScan?: BlockScan): string {
  const out: string[] = [];
  const opsets = Object.entries(s.opsets).map(([d, v]) => `${d} ${v}`).join(', ');
  const producer = [s.producer.name, s.producer.version].filter(Boolean).join(' ') || 'unknown';
  out.push(`${s.name}`);
  out.push(`  format       IR ${s.irVersion}, opset ${opsets}, producer ${producer}`);
  out.push(`  size         ${formatBytes(s.sizeOnDisk)} on disk (${formatCount(s.sizeOnDisk)} bytes)`);
  out.push(`  parameters   ${formatCount(s.params)} (${formatSI(s.params)})`);
  const batch = (s.batchAssumed ? 'at batch 1' : 'for the input shapes below') + (s.macsComplete ? '' : ', incomplete (see the notes)');
  out.push(`  MACs         ${formatCount(s.macs)} (${formatSI(s.macs)}) ${batch}`);
  out.push(`  nodes        ${formatCount(s.nodes)}; ${s.weightedLayers} weighted layers; ${s.bnCount} BatchNormalization`);
  const nameWidth = Math.max(...[...s.inputs, ...s.outputs].map((t) => t.name.length));
  const io = (kind: string, list: ModelSummary['inputs']) =>
    list.forEach((t, i) => out.push(`  ${i === 0 ? kind.padEnd(12) : ' '.repeat(12)} ${t.name.padEnd(nameWidth)}  ${t.elemType}  ${formatShape(t.shape)}`));
  io('inputs', s.inputs);
  io('outputs', s.outputs);
  for (const n of s.notes) out.push(`  note: ${n}`);
  for (const a of s.advice) out.push(`  advice: ${a}`);
  out.push('');
  if (s.layers.length === 0) out.push('No weighted layers (Conv, ConvTranspose, Gemm, MatMul with a constant weight).');
  else {
    const imp = new Map((a?.importance.layers ?? []).map((l) => [l.name, l]));
    const rows = s.layers.map((l) => {
      const li = imp.get(l.name);
      const gamma = li?.criteria['bn-gamma'];
      const extra = a ? [fmtScore(gamma?.median), gamma ? String(gamma.below['1e-2']) : '', fmtScore(li?.criteria.l1?.median)] : [];
      return [
        l.name, l.op, formatShape(l.weightShape), String(l.group), formatShape(l.inputShape), formatShape(l.outputShape),
        formatCount(l.params), formatSI(l.macs), ...extra, l.bn ?? (li?.gammaFrom ? gammaFromWords(li.gammaFrom, 1) : ''),
      ];
    });
    const extraCols = a ? [{ header: 'γ median', align: 'right' as const }, { header: 'γ<1e-2', align: 'right' as const }, { header: 'L1 median', align: 'right' as const }] : [];
    out.push(...formatTable([
      { header: 'layer' }, { header: 'op' }, { header: 'weight' }, { header: 'group', align: 'right' }, { header: 'input' },
      { header: 'output' }, { header: 'params', align: 'right' }, { header: 'MACs', align: 'right' }, ...extraCols, { header: 'BN' },
    ], rows));
  }
  if (a) {
    const prunable = a.groups.filter((g) => g.prunable);
    const frozen = a.groups.filter((g) => !g.prunable);
    out.push('');
    out.push(`Channel groups: ${a.groups.length} (${prunable.length} prunable, ${frozen.length} frozen; ${formatCount(prunable.reduce((n, g) => n + g.channels, 0))} prunable channels)`);
    if (frozen.length) {
      const id = Math.max(...frozen.map((g) => String(g.id).length));
      const ch = Math.max(...frozen.map((g) => String(g.channels).length));
      for (const g of frozen) out.push(`  frozen ${String(g.id).padStart(id)}  ${String(g.channels).padStart(ch)} ch  ${g.reason ?? 'no reason given'}`);
    }
  }
  if (blocks?.length) {
    const removable = blocks.filter((b) => b.removable);
    const weak = removable.filter((b) => b.score !== null && b.score < DEFAULT_BLOCK_THRESHOLD);
    out.push('');
    const by = blockScan ? `by the output change without each, on ${blockScan.data}` : 'by the last BN\'s max |γ|';
    out.push(`Residual blocks: ${blocks.length} (${removable.length} removable, ${weak.length} with every |γ| of the last BN below ${DEFAULT_BLOCK_THRESHOLD}); weakest first ${by}:`);
    const what = blockScan?.labelled ? 'accuracy' : 'agreement';
    for (const b of blockScan ? removable : removable.slice(0, 5)) {
      const d = b.data ? `  loss ${b.data.loss.toFixed(2)} pt ${what}, drift ${b.data.drift.toExponential(2)}` : '';
      out.push(`  ${b.name}  max |γ| ${b.score?.toExponential(2)}${d}  ${b.nodes.length} nodes, ${b.shortcut} shortcut`);
    }
  }
  return `${out.join('\n')}\n`;
}

/** This command for the CLI's entry (main.ts). */
export const command = cliCommand(registerInspect);
