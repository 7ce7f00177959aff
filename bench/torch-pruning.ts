// Torch-Pruning against ONNX Pruner, whole processes, paired: the same torchvision model (seed 0)
// as a PyTorch state dict for Torch-Pruning and as an ONNX export (BatchNorm kept) for ONNX Pruner;
// each pair runs Torch-Pruning, then `onnx-pruner prune`, one after the other, and the ratio of
// each pair is taken (above 1: ONNX Pruner is faster); the table gives the median pair. Both prune
// uniformly at the same ratio with the final classifier kept, and both write the pruned model.
// Peak RSS from /usr/bin/time. Parameter counts of both results are printed: where the plans are
// the same they are equal.
//
//   TORCH_PRUNING_DIR=path/to/Torch-Pruning [ONNX_PRUNER_PYTHON=python3] \
//     node --import tsx bench/torch-pruning.ts [--pairs 5] [--archs resnet50,vgg11_bn] [--criteria bn-gamma,l1]
//
// Needs a Python with torch and torchvision (e.g. Debian's python3-torch, python3-torchvision) and a
// checkout of VainF/Torch-Pruning (v1.5.0 for the figures in the README); skipped, saying why, without.
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot } from '../test/helpers/paths.ts';

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
const round = (v: number, d = 2) => Math.round(v * 10 ** d) / 10 ** d;
const script = path.join(repoRoot, 'bench', 'torch-pruning.py');

interface Run { ms: number; rssMiB: number }

function timed(cmd: string, args: string[], env?: NodeJS.ProcessEnv): Run {
  const t0 = performance.now();
  const r = spawnSync('/usr/bin/time', ['-f', 'maxrss=%M', cmd, ...args], { encoding: 'utf8', env: { ...process.env, ...env }, maxBuffer: 1 << 26 });
  const ms = performance.now() - t0;
  const m = /maxrss=(\d+)/.exec(r.stderr ?? '');
  if (r.status !== 0 || !m) throw new Error(`${cmd} ${args.join(' ')} failed (${r.status}): ${(r.stderr ?? '').slice(-2000)}`);
  return { ms, rssMiB: Number(m[1]) / 1024 };
}

export async function runTorchPruningBench(argv: string[] = process.argv.slice(2)): Promise<object> {
  const opt = (name: string, d: string) => {
    const i = argv.indexOf(name);
    return i >= 0 ? argv[i + 1]! : d;
  };
  const tpDir = process.env.TORCH_PRUNING_DIR;
  const python = process.env.ONNX_PRUNER_PYTHON ?? 'python3';
  const cli = process.env.ONNX_PRUNER_CLI ?? path.join(repoRoot, 'dist', 'cli.js');
  const skip = (why: string) => {
    console.log(`skipped: ${why}`);
    return { skipped: why };
  };
  if (!tpDir || !fs.existsSync(path.join(tpDir, 'torch_pruning'))) return skip('TORCH_PRUNING_DIR does not name a Torch-Pruning checkout');
  const probe = spawnSync(python, ['-c', 'import torch, torchvision; print(torch.__version__, torchvision.__version__)'], { encoding: 'utf8' });
  if (probe.status !== 0) return skip(`${python} cannot import torch and torchvision`);
  if (!fs.existsSync(cli)) throw new Error(`${cli} is missing: run npm run build first`);
  const tpVersion = spawnSync('git', ['-C', tpDir, 'describe', '--tags'], { encoding: 'utf8' }).stdout.trim() || 'unknown';
  const pairs = Number(opt('--pairs', '5'));
  const archs = opt('--archs', 'resnet50,vgg11_bn').split(',');
  const criteria = opt('--criteria', 'bn-gamma,l1').split(',');
  console.log(`torch ${probe.stdout.trim()}, Torch-Pruning ${tpVersion}; cli ${cli}; load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  const scratch = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-pruner-tp-'));
  const env = { PYTHONPATH: tpDir };
  const rows: object[] = [];
  try {
    for (const arch of archs) {
      const r = spawnSync(python, [script, 'export', arch, scratch], { encoding: 'utf8', env: { ...process.env, ...env } });
      if (r.status !== 0) throw new Error(`export of ${arch} failed: ${r.stderr.slice(-2000)}`);
      const pt = path.join(scratch, `${arch}.pt`);
      const onnx = path.join(scratch, `${arch}_bn.onnx`);
      for (const criterion of criteria) {
        const tpOut = path.join(scratch, 'tp-out.pt');
        const ourOut = path.join(scratch, 'out.onnx');
        const tpRuns: Run[] = [];
        const ourRuns: Run[] = [];
        const ratios: number[] = [];
        let tpError: string | undefined;
        for (let i = 0; i <= pairs; i++) {
          let t: Run | undefined;
          try {
            t = tpError ? undefined : timed(python, [script, 'prune', arch, pt, criterion, '0.5', tpOut], env);
          } catch (e) {
            // Torch-Pruning failing on a model is a result too (BNScaleImportance on VGG-11-BN does): ours is still timed
            tpError = ((e as Error).message.match(/\n(\w*Error: [^\n]*)/g) ?? []).pop()?.trim() ?? (e as Error).message.slice(0, 200);
          }
          const o = timed(process.execPath, [cli, 'prune', onnx, '--criterion', criterion, '--ratio', '0.5', '--out', ourOut, '--force', '--json']);
          if (i === 0) continue; // the first pair warms the page cache
          ourRuns.push(o);
          if (!t) continue;
          tpRuns.push(t);
          ratios.push(t.ms / o.ms);
        }
        const params = (cmd: string, args: string[]) => Number(spawnSync(cmd, args, { encoding: 'utf8', env: { ...process.env, ...env } }).stdout.trim());
        const tpParams = tpError ? undefined : params(python, ['-c', `import torch; m = torch.load(${JSON.stringify(tpOut)}); print(sum(p.numel() for p in m.parameters()))`]);
        const ourParams = (JSON.parse(spawnSync(process.execPath, [cli, 'inspect', ourOut, '--json'], { encoding: 'utf8', maxBuffer: 1 << 28 }).stdout) as { params: number }).params;
        const oursMs = round(median(ourRuns.map((x) => x.ms)), 0);
        const oursRssMiB = round(Math.max(...ourRuns.map((x) => x.rssMiB)), 0);
        const load = round(os.loadavg()[0]);
        if (tpError) {
          rows.push({ arch, criterion, pairs, tpError, oursMs, oursRssMiB, ourParams, load });
          console.log(`${arch} ${criterion} 0.5: Torch-Pruning failed (${tpError}); ONNX Pruner ${oursMs} ms, ${oursRssMiB} MiB, params ${ourParams} (load ${load})`);
          continue;
        }
        const row = {
          arch, criterion, pairs,
          tpMs: round(median(tpRuns.map((x) => x.ms)), 0), oursMs,
          tpOverOurs: round(median(ratios)), tpRssMiB: round(Math.max(...tpRuns.map((x) => x.rssMiB)), 0), oursRssMiB,
          tpParams, ourParams, load,
        };
        rows.push(row);
        console.log(`${arch} ${criterion} 0.5: Torch-Pruning ${row.tpMs} ms, ${row.tpRssMiB} MiB; ONNX Pruner ${row.oursMs} ms, ${row.oursRssMiB} MiB; ` +
          `Torch-Pruning / ONNX Pruner ${row.tpOverOurs}× (median of ${pairs} pairs); params ${tpParams} / ${ourParams} (load ${row.load})`);
      }
    }
  } finally {
    fs.rmSync(scratch, { recursive: true, force: true });
  }
  return { tpVersion, rows };
}

if (process.argv[1]?.endsWith(`${path.sep}torch-pruning.ts`)) void runTorchPruningBench().then((r) => console.log(JSON.stringify(r)));
