// Accuracy recovered without fine-tuning, next to Torch-Pruning: the two trained Fashion-MNIST
// networks of the shared models (the dense ResNet and the sparse BN-CNN), pruned by the CLI with
// l1 and bn-gamma, uniform and global, ratios 0.3 and 0.5, each as cut (--recover none
// --no-compensate) and with --recover none (the data-free compensation only)|bias|bn|ls|auto,
// calibrated on fmnist_train_calib1000_x.npy and evaluated on the 1000 shared test images
// (fmnist_test1000_x.npy / _y.npy). Torch-Pruning's figures (as pruned, and with BatchNorm
// recalibration where the reference has them) come from the models' tp_results.json.
// Prints a Markdown table and, last, one JSON line.
//   npm run build && node --import tsx bench/recovery-accuracy.ts   (or npm run bench -- recovery-accuracy)
import * as fs from 'node:fs';
import * as os from 'node:os';
import * as path from 'node:path';
import { spawnSync } from 'node:child_process';
import { repoRoot, shared, sharedModels } from '../test/helpers/paths.ts';

/** 'cut': the network as cut (--recover none --no-compensate); 'none' keeps the data-free compensation (the default). */
const MODES = ['cut', 'none', 'bias', 'bn', 'ls', 'auto'] as const;

interface TpRow { acc: number; bnRecal?: number }

/** Torch-Pruning's result for a model, criterion, scope and ratio (bnscale is its BN-γ). */
function tpResult(model: string, criterion: string, global: boolean, ratio: number): TpRow | undefined {
  const file = shared(`trained/${model}.tp_results.json`);
  if (!fs.existsSync(file)) return undefined;
  const tp = JSON.parse(fs.readFileSync(file, 'utf8')) as unknown;
  const imp = criterion === 'bn-gamma' ? 'bnscale' : criterion;
  if (Array.isArray(tp)) {
    const r = (tp as { importance: string; ratio: number; global: boolean; test_acc_after: number }[]).find((x) => x.importance === imp && x.ratio === ratio && x.global === global);
    return r && { acc: r.test_acc_after };
  }
  const r = (tp as Record<string, { acc: number; acc_bn_recal?: number }>)[`${imp}_${global ? 'global' : 'uniform'}_${ratio}`];
  return r && { acc: r.acc, bnRecal: r.acc_bn_recal };
}

export async function runRecoveryAccuracyBench(): Promise<object> {
  if (!sharedModels) return { skipped: 'the shared models are absent' };
  const cli = path.join(repoRoot, 'dist', 'cli.js');
  if (!fs.existsSync(cli)) return { skipped: 'dist/cli.js missing (npm run build)' };
  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'onnx-pruner-recacc-'));
  const rows: object[] = [];
  const fmt = (v: number | undefined) => (v === undefined ? '–' : v.toFixed(3));
  console.log(`load average ${os.loadavg().map((v) => v.toFixed(2)).join(' ')}`);
  console.log('| model | criterion | scope | ratio | as cut | none (compensated) | bias | bn | ls | auto | TP | TP + BN recal. |');
  console.log('|---|---|---|---|---|---|---|---|---|---|---|---|');
  try {
    for (const model of ['fmnist_resnet', 'fmnist_bncnn_sparse']) {
      const file = shared(`trained/${model}_bn.onnx`);
      for (const criterion of ['l1', 'bn-gamma'])
        for (const global of [false, true])
          for (const ratio of [0.3, 0.5]) {
            const acc: Record<string, number> = {};
            let original = 0;
            for (const mode of MODES) {
              const out = path.join(dir, 'out.onnx');
              const r = spawnSync(process.execPath, [
                cli, 'prune', file, '--criterion', criterion, '--ratio', String(ratio), ...(global ? ['--global'] : []),
                ...(mode === 'cut' ? ['--recover', 'none', '--no-compensate'] : ['--recover', mode]), '--calib', shared('trained/fmnist_train_calib1000_x.npy'),
                '--eval', shared('trained/fmnist_test1000_x.npy'), '--labels', shared('trained/fmnist_test1000_y.npy'),
                '--out', out, '--force', '--json',
              ], { encoding: 'utf8', maxBuffer: 1 << 26 });
              if (r.status !== 0) throw new Error(`${model} ${criterion} ${mode}: ${r.stderr}`);
              const ev = JSON.parse(r.stdout).validation.evaluation;
              acc[mode] = ev.pruned.top1;
              original = ev.original.top1;
            }
            const tp = tpResult(model, criterion, global, ratio);
            rows.push({ model, criterion, scope: global ? 'global' : 'uniform', ratio, original, ...acc, tp: tp?.acc, tpBnRecal: tp?.bnRecal });
            console.log(`| ${model} (${original.toFixed(3)}) | ${criterion} | ${global ? 'global' : 'uniform'} | ${ratio} | ${MODES.map((m) => fmt(acc[m])).join(' | ')} | ${fmt(tp?.acc)} | ${fmt(tp?.bnRecal)} |`);
          }
    }
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
  return { rows };
}

if (process.argv[1]?.endsWith(`${path.sep}recovery-accuracy.ts`)) void runRecoveryAccuracyBench().then((r) => console.log(JSON.stringify(r)));
