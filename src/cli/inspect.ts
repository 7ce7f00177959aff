// `onnx-pruner inspect <model.onnx>`: what the model is (format, producer, inputs and outputs),
// what it costs (parameters, MACs at batch 1) and one row per weighted layer; `--json` prints
// the same summary object the extension shows.
import type { Command } from 'commander';
import { PrunerError } from '../engine/errors.ts';
import { loadModel } from '../engine/onnx/model.ts';
import { type ModelSummary, summarizeModel } from '../engine/graph/summary.ts';
import { formatBytes, formatCount, formatSI, formatShape, formatTable } from './format.ts';

interface InspectCliOptions {
  json?: boolean;
  dim?: string[];
}

function parseDims(list: string[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of list ?? []) {
    const m = /^([^=]+)=(\d+)$/.exec(item);
    if (!m || Number(m[2]) < 1) throw new PrunerError(`--dim expects NAME=SIZE (e.g. N=4), got "${item}"`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('Show a model\'s inputs, outputs, parameters, MACs and weighted layers')
    .argument('<model>', 'the .onnx model')
    .option('--dim <name=size...>', 'size of a symbolic input dimension, e.g. N=8 or height=48 (a symbolic batch counts as 1 otherwise)')
    .option('--json', 'print the summary as JSON')
    .action((file: string, o: InspectCliOptions) => {
      const summary = summarizeModel(loadModel(file), undefined, { dims: parseDims(o.dim) });
      process.stdout.write(o.json ? `${JSON.stringify(summary, null, 2)}\n` : formatSummary(summary));
    });
}

/** The human-readable summary: a header block, then the table of weighted layers. */
export function formatSummary(s: ModelSummary): string {
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
    const rows = s.layers.map((l) => [
      l.name, l.op, formatShape(l.weightShape), String(l.group), formatShape(l.inputShape), formatShape(l.outputShape),
      formatCount(l.params), formatSI(l.macs), l.bn ?? '',
    ]);
    out.push(...formatTable([
      { header: 'layer' }, { header: 'op' }, { header: 'weight' }, { header: 'group', align: 'right' }, { header: 'input' },
      { header: 'output' }, { header: 'params', align: 'right' }, { header: 'MACs', align: 'right' }, { header: 'BN' },
    ], rows));
  }
  return `${out.join('\n')}\n`;
}
