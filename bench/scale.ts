// Scale benchmark: whole CLI runs (`inspect --json`, `prune --ratio 0.5`) as fresh processes, each
// figure given as a ratio to a plain read of the same model in the same run, and peak RSS against
// the model's bytes. Models: resnet18_bn (shared models), a ResNet-50-sized model and a VGG-11-BN-sized
// model (≥ 500 MB, with a 25088×4096 Gemm) built in code, and a 2.5 GiB external-data model
// (scripts/make-big-model.ts). Generated models live in a temporary folder, deleted at the end.
//
// "Plain read": a `node` process that reads every byte of the model's files (the .onnx with
// fs.readFileSync as any ONNX reader does, external data in 64 MiB reads into one buffer). Times are
// medians of `--repeats` runs (default 3; 1 for the external-data model), run one after the other,
// read first so every run finds the files in the page cache. Peak RSS from /usr/bin/time (%M).
//
//   npm run build && node --import tsx bench/scale.ts [--repeats N] [--models resnet18,resnet50,vgg,big]
//   (or `npm run bench -- scale`); ONNX_PRUNER_CLI=path/to/cli.js measures another build.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { buildResNet50 } from './analysis.ts';
import { makeBigModel } from '../scripts/make-big-model.ts';
import { saveModel } from '../src/engine/onnx/save.ts';
import { ModelBuilder } from '../test/helpers/modelBuilder.ts';
import { repoRoot, shared, sharedModels } from '../test/helpers/paths.ts';

const MiB = 2 ** 20;
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;

/** VGG-11 with BatchNorm (torchvision layout, 224×224): 8 convs, then 25088→4096→4096→1000 (~133 M parameters, ~531 MB). */
export async function buildVgg11Bn(file: string): Promise<string> {
  const b = new ModelBuilder({ opset: 13 });
  let x = b.input('input', ['N', 3, 224, 224]);
  let cin = 3;
  let i = 0;
  for (const v of [64, 'M', 128, 'M', 256, 256, 'M', 512, 512, 'M', 512, 512, 'M'] as const) {
    if (v === 'M') {
      x = b.node('MaxPool', [x], { kernel_shape: [2, 2], strides: [2, 2] });
      continue;
    }
    x = b.relu(b.bn(b.conv(x, cin, v, { k: 3, pad: 1, name: `features.${i}` }), v, { name: `features.${i}.bn` }));
    cin = v;
    i++;
  }
  x = b.flatten(x);
  x = b.relu(b.gemm(x, 25088, 4096, 'classifier.0'));
  x = b.relu(b.gemm(x, 4096, 4096, 'classifier.3'));
  b.output(b.gemm(x, 4096, 1000, 'classifier.6'), ['N', 1000]);
  const dir = path.dirname(file);
  await saveModel({ proto: b.build(), dir }, file, { externalData: false });
  return file;
}

interface Model {
  label: string;
  file: string;
  /** The model's files (the .onnx and its external data). */
  files: string[];
  bytes: number;
  bn: boolean;
}

interface Run {
  ms: number;
  rssMiB: number;
}

/** One process under /usr/bin/time: wall time seen from here, peak RSS as time reports it. */
function timed(args: string[]): Run {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'maxrss=%M', process.execPath, ...args], { encoding: 'utf8', maxBuffer: 1 << 28 });
  const ms = performance.now() - t0;
  const m = /maxrss=(\d+)/.exec(r.stderr ?? '');
  if (r.status !== 0 || !m) throw new Error(`${args.join(' ')} failed (${r.status}): ${(r.stderr ?? '').slice(-2000)}`);
  return { ms, rssMiB: Number(m[1]) / 1024 };
}

function repeat(n: number, args: string[]): Run {
  const runs = Array.from({ length: n }, () => timed(args));
  return { ms: median(runs.map((r) => r.ms)), rssMiB: Math.max(...runs.map((r) => r.rssMiB)) };
}

const READER = `
const fs = require('fs');
const [onnx, ...data] = process.argv.slice(1);
let n = fs.readFileSync(onnx).length;
const buf = Buffer.allocUnsafe(64 * 2 ** 20);
for (const f of data) {
  const fd = fs.openSync(f, 'r');
  for (let r; (r = fs.readSync(fd, buf, 0, buf.length, null)) > 0; ) n += r;
  fs.closeSync(fd);
}
if (n <= 0) process.exit(1);
`;

export async function runScaleBench(argv: string[] = process.argv.slice(2)): Promise<object> {
  const opt = (name: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1] : undefined;
  };
  const repeats = Number(opt('--repeats') ?? 3);
  const wanted = new Set((opt('--models') ?? 'resnet18,resnet50,vgg,big').split(','));
  const cli = process.env.ONNX_PRUNER_CLI ?? path.join(repoRoot, 'dist', 'cli.js');
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-pruner-scale-'));
  const rows: object[] = [];
  console.log(`cli ${cli}; load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  try {
    const models: Model[] = [];
    const add = (label: string, file: string, bn: boolean) => {
      const files = [file, ...fs.readdirSync(path.dirname(file)).filter((f) => f.startsWith(`${path.basename(file)}.data`)).map((f) => path.join(path.dirname(file), f))];
      models.push({ label, file, files, bytes: files.reduce((s, f) => s + fs.statSync(f).size, 0), bn });
    };
    if (wanted.has('resnet18') && sharedModels) add('resnet18_bn', shared('synthetic/resnet18_bn.onnx'), true);
    if (wanted.has('resnet50')) {
      fs.mkdirSync(path.join(scratch, 'r50'));
      add('resnet50 (built)', buildResNet50(path.join(scratch, 'r50', 'resnet50_bn.onnx')), true);
    }
    if (wanted.has('vgg')) {
      fs.mkdirSync(path.join(scratch, 'vgg'));
      add('vgg11_bn (built)', await buildVgg11Bn(path.join(scratch, 'vgg', 'vgg11_bn.onnx')), true);
    }
    if (wanted.has('big')) {
      fs.mkdirSync(path.join(scratch, 'big'));
      add('big external 2.5 GiB', (await makeBigModel(path.join(scratch, 'big', 'big.onnx'), 2.5)).path, false);
    }
    for (const m of models) {
      const n = m.bytes > 2 ** 30 ? 1 : repeats;
      timed(['-e', READER, ...m.files]); // page cache warm-up
      const read = repeat(n, ['-e', READER, ...m.files]);
      const out = path.join(scratch, 'out.onnx');
      const jobs: [string, string[]][] = [['inspect --json', ['inspect', m.file, '--json']]];
      for (const c of m.bn ? ['bn-gamma', 'l1'] : ['l1']) jobs.push([`prune ${c} 0.5`, ['prune', m.file, '--criterion', c, '--ratio', '0.5', '--out', out, '--force', '--json']]);
      console.log(`\n${m.label}: ${(m.bytes / MiB).toFixed(1)} MiB; plain read ${round(read.ms, 0)} ms, ${round(read.rssMiB, 0)} MiB (load ${os.loadavg()[0].toFixed(2)})`);
      for (const [job, args] of jobs) {
        const r = repeat(n, [cli, ...args]);
        for (const f of fs.readdirSync(scratch)) if (f.startsWith('out.onnx')) fs.rmSync(path.join(scratch, f), { force: true });
        const row = {
          model: m.label, job, modelMiB: round(m.bytes / MiB, 1), ms: round(r.ms, 0), readMs: round(read.ms, 0),
          vsRead: round(r.ms / read.ms), peakRssMiB: round(r.rssMiB, 0), rssVsModel: round((r.rssMiB * MiB) / m.bytes), load: round(os.loadavg()[0]),
        };
        rows.push(row);
        console.log(`  ${job.padEnd(16)} ${String(row.ms).padStart(7)} ms = ${row.vsRead.toFixed(2)}× read; peak RSS ${row.peakRssMiB} MiB = ${row.rssVsModel}× model (load ${row.load})`);
      }
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return { rows };
}

if (process.argv[1]?.endsWith(`${path.sep}scale.ts`) && path.basename(path.dirname(process.argv[1])) === 'bench') {
  void runScaleBench().then((r) => console.log(JSON.stringify(r)));
}
