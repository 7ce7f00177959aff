// `npm run bench`: every benchmark of the engine, one after the other, with the machine they ran on.
// Each part prints its own table; the last line is one JSON object with all the numbers.
// `npm run bench -- io prune` runs only the named parts.
import * as os from 'node:os';

const parts: Record<string, () => Promise<{ run: () => Promise<object> }>> = {
  io: async () => ({ run: (await import('./io.ts')).runIoBench }),
  inspect: async () => ({ run: (await import('./inspect.ts')).runInspectBench }),
  analysis: async () => ({ run: (await import('./analysis.ts')).runAnalysisBench }),
  importance: async () => ({ run: (await import('./importance.ts')).runImportanceBench }),
  prune: async () => ({ run: (await import('./prune.ts')).runPruneBench }),
  // A prune of a model open in the worker (from its held analysis) against one that reloads (needs `npm run build`).
  'held-prune': async () => ({ run: (await import('./held-prune.ts')).runHeldPruneBench }),
  // Whole CLI runs as ratios to a plain read, peak RSS against model size (needs `npm run build`).
  scale: async () => ({ run: (await import('./scale.ts')).runScaleBench }),
  // The editor's worker opening a 2.5 GiB external-data model: peak RSS, first rows, scores (needs `npm run build`).
  'editor-big': async () => ({ run: (await import('./editor-big.ts')).runEditorBigBench }),
  // Torch-Pruning's whole run against ONNX Pruner's, paired (needs TORCH_PRUNING_DIR and a Python with torch).
  'torch-pruning': async () => ({ run: (await import('./torch-pruning.ts')).runTorchPruningBench }),
  runtime: async () => ({ run: (await import('./runtime.ts')).runRuntimeBench }),
  recovery: async () => ({ run: (await import('./recovery.ts')).runRecoveryBench }),
  'recovery-accuracy': async () => ({ run: (await import('./recovery-accuracy.ts')).runRecoveryAccuracyBench }),
  // Sensitivity scan of resnet18_bn against 64-input forward passes, and the cache hit (SCAN_RESNET50=1 adds a ResNet-50).
  scan: async () => ({ run: (await import('./scan.ts')).runScanBench }),
  // A latency target on resnet18_bn (70% of its measured latency) and the latency of a conv by output width.
  target: async () => ({ run: (await import('./target.ts')).runTargetBench }),
  // Through code-server + Playwright (skipped, saying why, where they cannot run).
  view: async () => ({ run: (await import('./view.ts')).runViewBench }),
  editor: async () => ({ run: (await import('./editor.ts')).runEditorBench }),
};

async function main(): Promise<void> {
  const wanted = process.argv.slice(2).filter((a) => !a.startsWith('-'));
  const names = wanted.length ? wanted : Object.keys(parts);
  const machine = {
    cpus: `${os.cpus().length} × ${os.cpus()[0]?.model ?? 'unknown'}`,
    memory: `${(os.totalmem() / 2 ** 30).toFixed(1)} GiB`,
    platform: `${os.platform()} ${os.release()} ${os.arch()}`,
    node: process.version,
  };
  console.log(`machine: ${machine.cpus}, ${machine.memory}, ${machine.platform}, Node ${machine.node}`);
  const results: Record<string, unknown> = { machine };
  for (const name of names) {
    const load = parts[name];
    if (!load) {
      console.error(`unknown benchmark ${name}; known: ${Object.keys(parts).join(', ')}`);
      process.exitCode = 1;
      continue;
    }
    console.log(`\n== ${name} ==`);
    try {
      results[name] = await (await load()).run();
    } catch (e) {
      console.error(`${name}: failed: ${(e as Error).stack ?? e}`);
      results[name] = { error: (e as Error).message };
      process.exitCode = 1;
    }
  }
  console.log(`\n${JSON.stringify(results)}`);
}

void main();
