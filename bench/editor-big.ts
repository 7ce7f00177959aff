// The editor's engine worker on a 2.5 GiB external-data model, without the UI: this process plays
// the extension host (the real EngineClient and dist/worker.js, as in bench/editor.ts), opens the
// model, lists its first layer rows, then waits for its channel scores. Each model is measured in
// a fresh child process under /usr/bin/time, so the peak RSS is the host's and the worker thread's
// together; resnet18_bn (shared models) is measured the same way as the small-model reference.
// Targets (issue "Scale"): the worker under 1 GiB, the first rows as fast as for a small model.
//
//   npm run build && node --import tsx bench/editor-big.ts [--gib 2.5]   (or `npm run bench -- editor-big`)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { makeBigModel } from '../scripts/make-big-model.ts';
import { headlessOpen } from './editor.ts';
import { shared, sharedModels } from '../test/helpers/paths.ts';

const MiB = 2 ** 20;

function measure(file: string): { peakRssMiB: number; result: Awaited<ReturnType<typeof headlessOpen>> } {
  const r = spawnSync('/usr/bin/time', ['-f', 'maxrss=%M', process.execPath, '--import', 'tsx', __filename, '--child', file], { encoding: 'utf8', maxBuffer: 1 << 26 });
  const rss = /maxrss=(\d+)/.exec(r.stderr ?? '');
  const line = (r.stdout ?? '').trim().split('\n').pop() ?? '';
  if (r.status !== 0 || !rss || !line.startsWith('{')) throw new Error(`child failed on ${file}: ${r.stderr}`);
  return { peakRssMiB: Math.round(Number(rss[1]) / 1024), result: JSON.parse(line) };
}

export async function runEditorBigBench(args: string[] = process.argv.slice(2)): Promise<object> {
  const gi = args.indexOf('--gib');
  const gib = gi >= 0 ? Number(args[gi + 1]) : 2.5;
  const out: Record<string, unknown> = { machine: `${os.cpus().length} × ${os.cpus()[0]?.model}, ${Math.round(os.totalmem() / 2 ** 30)} GiB`, loadBefore: os.loadavg().map((v) => Math.round(v * 10) / 10) };
  const small = sharedModels ? shared('synthetic/resnet18_bn.onnx') : '';
  if (small && fs.existsSync(small)) out.resnet18 = { bytesMiB: Math.round(fs.statSync(small).size / MiB), ...measure(small) };
  else out.resnet18 = 'skipped: ../shared/models is absent';
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-pruner-editor-big-'));
  try {
    const big = path.join(dir, 'big.onnx');
    await makeBigModel(big, gib);
    const bytes = fs.readdirSync(dir).reduce((a, f) => a + fs.statSync(path.join(dir, f)).size, 0);
    out.big = { bytesMiB: Math.round(bytes / MiB), ...measure(big) };
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  out.loadAfter = os.loadavg().map((v) => Math.round(v * 10) / 10);
  return out;
}

if (process.argv[1] && path.resolve(process.argv[1]) === path.resolve(__filename)) {
  const args = process.argv.slice(2);
  if (args[0] === '--child') void headlessOpen(args[1]!, 1).then((r) => console.log(JSON.stringify(r)));
  else void runEditorBigBench(args).then((r) => console.log(JSON.stringify(r, null, 2)));
}
