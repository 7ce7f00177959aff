// ONNX file I/O benchmark: load + graph index time and peak RSS, and save time, on ResNet-18
// (shared models) and on generated models of 1 GiB (inline) and 2.5 GiB (external data).
// Every measurement runs in its own child process so its peak RSS (`resourceUsage().maxRSS`) is its own.
// The generated models go to a temporary folder that is removed afterwards.
//
//   node --import tsx bench/io.ts          (or `npm run bench -- io`)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { performance } from 'node:perf_hooks';
import { Graph } from '../src/engine/graph/graph.ts';
import { loadModel } from '../src/engine/onnx/model.ts';
import { saveModel } from '../src/engine/onnx/save.ts';
import { makeBigModel } from '../scripts/make-big-model.ts';

const MiB = 2 ** 20;
const GiB = 2 ** 30;

interface Measure {
  /** wall time of the measured operation, ms (median when repeated) */
  ms: number;
  /** first run in a fresh process, ms */
  firstMs: number;
  /** peak resident set of the whole child process, MiB */
  peakRssMiB: number;
  [k: string]: unknown;
}

interface Row {
  case: string;
  op: 'load+index' | 'save';
  modelGiB: number;
  ms: number;
  firstMs: number;
  peakRssMiB: number;
  target?: string;
  pass?: boolean;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

// ---- child side ----

async function child(args: string[]): Promise<void> {
  const [op, file, out, repsArg] = args;
  const reps = Number(repsArg ?? 1);
  const times: number[] = [];
  let extra: Record<string, unknown> = {};
  for (let i = 0; i < reps; i++) {
    if (op === 'load') {
      const t0 = performance.now();
      const m = loadModel(file);
      const g = new Graph(m);
      times.push(performance.now() - t0);
      extra = { nodes: g.nodes.length, initializers: g.initializers.size, sizeOnDisk: m.sizeOnDisk };
    } else {
      const m = loadModel(file);
      const t0 = performance.now();
      const r = await saveModel(m, out, { externalData: 'auto' });
      times.push(performance.now() - t0);
      extra = { bytes: r.bytes + (r.externalDataBytes ?? 0), external: Boolean(r.externalDataPath) };
    }
  }
  const result: Measure = {
    ms: median(times),
    firstMs: times[0],
    peakRssMiB: process.resourceUsage().maxRSS / 1024,
    ...extra,
  };
  process.stdout.write(`${JSON.stringify(result)}\n`);
}

function measure(op: 'load' | 'save', file: string, out = '-', reps = 1): Measure {
  const r = spawnSync(process.execPath, ['--import', 'tsx', path.join(__dirname, 'io.ts'), '--child', op, file, out, String(reps)], {
    encoding: 'utf8',
    maxBuffer: 16 * MiB,
  });
  if (r.status !== 0) throw new Error(`child ${op} ${file} failed: ${r.stderr || r.error?.message}`);
  return JSON.parse(r.stdout.trim().split('\n').pop()!) as Measure;
}

// ---- parent side ----

function sharedModel(rel: string): string | undefined {
  const dir = process.env.ONNX_PRUNER_SHARED_MODELS ?? path.resolve(__dirname, '..', '..', 'shared', 'models');
  const p = path.join(dir, rel);
  return fs.existsSync(p) ? p : undefined;
}

export async function runIoBench(): Promise<object> {
  const rows: Row[] = [];
  const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-pruner-bench-io-'));
  try {
    const resnet = sharedModel('synthetic/resnet18_bn.onnx');
    if (resnet) {
      const gib = fs.statSync(resnet).size / GiB;
      const l = measure('load', resnet, '-', 6);
      rows.push({ case: 'resnet18_bn (shared)', op: 'load+index', modelGiB: gib, ms: l.ms, firstMs: l.firstMs, peakRssMiB: l.peakRssMiB, target: '≤ 300 ms', pass: l.ms <= 300 });
      const s = measure('save', resnet, path.join(tmp, 'resnet18_copy.onnx'), 3);
      rows.push({ case: 'resnet18_bn (shared), unmodified', op: 'save', modelGiB: gib, ms: s.ms, firstMs: s.firstMs, peakRssMiB: s.peakRssMiB });
    } else {
      console.log('resnet18_bn: shared models folder not present, skipped');
    }

    const t1 = performance.now();
    const inline1 = await makeBigModel(path.join(tmp, 'big1g_inline.onnx'), 1, { inline: true });
    const genInlineMs = performance.now() - t1;
    const l1 = measure('load', inline1.path);
    rows.push({ case: `generated ${inline1.layers} x Gemm 4096², inline`, op: 'load+index', modelGiB: inline1.bytes / GiB, ms: l1.ms, firstMs: l1.firstMs, peakRssMiB: l1.peakRssMiB });
    fs.rmSync(inline1.path);

    const t2 = performance.now();
    const ext = await makeBigModel(path.join(tmp, 'big2_5g.onnx'), 2.5);
    const genExtMs = performance.now() - t2;
    const l2 = measure('load', ext.path, '-', 3);
    rows.push({ case: `generated ${ext.layers} x Gemm 4096², external data`, op: 'load+index', modelGiB: ext.bytes / GiB, ms: l2.ms, firstMs: l2.firstMs, peakRssMiB: l2.peakRssMiB, target: '≤ 10 s, RSS < 1 GiB', pass: l2.firstMs <= 10_000 && l2.peakRssMiB < 1024 });
    // Saving elsewhere copies the external data by range, in bounded memory.
    const outDir = path.join(tmp, 'copy');
    fs.mkdirSync(outDir);
    const s2 = measure('save', ext.path, path.join(outDir, 'big2_5g.onnx'));
    rows.push({ case: 'same, saved to another folder (data copied)', op: 'save', modelGiB: ext.bytes / GiB, ms: s2.ms, firstMs: s2.firstMs, peakRssMiB: s2.peakRssMiB });

    printTable(rows);
    const result = { rows, generate: { inline1GiBMs: Math.round(genInlineMs), external2_5GiBMs: Math.round(genExtMs) } };
    return result;
  } finally {
    fs.rmSync(tmp, { recursive: true, force: true });
  }
}

function printTable(rows: Row[]): void {
  const head = ['case', 'op', 'GiB', 'ms (median)', 'first ms', 'peak RSS MiB', 'target'];
  const body = rows.map((r) => [
    r.case,
    r.op,
    r.modelGiB.toFixed(3),
    r.ms.toFixed(0),
    r.firstMs.toFixed(0),
    r.peakRssMiB.toFixed(0),
    r.target ? `${r.target}: ${r.pass ? 'ok' : 'MISSED'}` : '',
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...body.map((b) => b[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => (i >= 2 && i <= 5 ? c.padStart(widths[i]) : c.padEnd(widths[i]))).join('  ');
  console.log(line(head));
  console.log(widths.map((w) => '-'.repeat(w)).join('  '));
  for (const b of body) console.log(line(b));
}

if (process.argv.includes('--child')) {
  child(process.argv.slice(process.argv.indexOf('--child') + 1)).catch((e) => {
    console.error((e as Error).stack ?? e);
    process.exit(1);
  });
} else if (/bench[\\/]io\.ts$/.test(process.argv[1] ?? '')) {
  console.log(`machine: ${os.cpus().length} × ${os.cpus()[0]?.model ?? '?'}, ${(os.totalmem() / GiB).toFixed(1)} GiB, Node ${process.version}`);
  runIoBench().then(
    (r) => console.log(JSON.stringify({ io: r })),
    (e) => {
      console.error((e as Error).stack ?? e);
      process.exit(1);
    },
  );
}
