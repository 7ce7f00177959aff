// onnx-pruner: the command line over the same engine the extension uses.
import { Command, CommanderError } from 'commander';
import { CancelledError, PrunerError } from '../engine/index.ts';
import { registerInspect } from './inspect.ts';
import { registerPrune } from './prune.ts';
import { registerScan } from './scan.ts';
import { registerValidate } from './validate.ts';
import { signalExitCode } from './signals.ts';

export function buildProgram(): Command {
  const program = new Command('onnx-pruner')
    .description('Structured channel pruning for ONNX convolutional networks')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  registerInspect(program);
  registerPrune(program);
  registerValidate(program);
  registerScan(program);
  return program;
}

/** Runs the CLI; user errors become one line on stderr and exit code 1, never a stack trace. */
export async function main(argv: string[]): Promise<number> {
  try {
    await buildProgram().parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    if (e instanceof PrunerError) {
      process.stderr.write(`onnx-pruner: ${e.message}\n`);
      return 1;
    }
    if (e instanceof CancelledError || signalExitCode() !== undefined) {
      process.stderr.write('onnx-pruner: cancelled\n');
      return signalExitCode() ?? 130;
    }
    process.stderr.write(`onnx-pruner: internal error: ${(e as Error)?.message ?? String(e)}\n`);
    if (process.env.ONNX_PRUNER_DEBUG) process.stderr.write(`${(e as Error)?.stack}\n`);
    return 2;
  }
}

// Run when executed directly (dist/cli.js or tsx src/cli/main.ts), not when imported by tests.
const invokedDirectly = typeof require !== 'undefined' ? require.main === module : process.argv[1]?.endsWith('main.ts');
if (invokedDirectly) {
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
