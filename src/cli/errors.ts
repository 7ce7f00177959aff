// How a CLI command's error ends the run: user errors become one line on stderr and exit code 1,
// never a stack trace; a cancelled run exits 130 (SIGINT) or 143 (SIGTERM); anything else is a bug
// (exit 2). Each command module exports a CliCommand with exitCodeFor: in the built CLI every command
// is a bundle of its own with its own copy of the engine's error classes, so the entry asks the
// module that ran the command to classify what it threw.
import { CancelledError, PrunerError } from '../engine/index.ts';
import { internalError } from './internal-error.ts';
import { signalExitCode } from './signals.ts';
import type { Command } from 'commander';

/** What a command module gives the entry (src/cli/main.ts): its `command` export. */
export interface CliCommand {
  register(program: Command): void;
  /** Exit code for an error the command threw (printing it). */
  exitCodeFor(e: unknown): number;
}

/** A command module's `command`: its registration with this module's exitCodeFor. */
export const cliCommand = (register: (program: Command) => void): CliCommand => ({ register, exitCodeFor });

export function exitCodeFor(e: unknown): number {
  if (e instanceof PrunerError) {
    process.stderr.write(`onnx-pruner: ${e.message}\n`);
    return 1;
  }
  if (e instanceof CancelledError || signalExitCode() !== undefined) {
    process.stderr.write('onnx-pruner: cancelled\n');
    return signalExitCode() ?? 130;
  }
  return internalError(e);
}
