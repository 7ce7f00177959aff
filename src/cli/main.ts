// onnx-pruner: the command line over the same engine the extension uses.
//
// Start-up loads only what the command needs: this entry holds commander and the list of commands;
// each command's module (its options, its action and the engine parts it uses) is imported when
// that command runs. In the build (esbuild.config.mjs) each command module is a bundle of its own
// (dist/cli-<command>.js), so `inspect` never parses or evaluates the code of `prune` or `scan`,
// and nothing loads ONNX Runtime unless the command runs a model. `--help` and unknown commands
// load every command (the help lists them); `--version` loads none.
import { Command, CommanderError } from 'commander';
import { internalError } from './internal-error.ts';
import type { CliCommand } from './errors.ts';

/** The commands, in the order the help lists them (the import paths literal, for the bundler). */
const COMMANDS: Record<string, () => Promise<CliCommand>> = {
  inspect: async () => (await import('./inspect.ts')).command,
  prune: async () => (await import('./prune.ts')).command,
  validate: async () => (await import('./validate.ts')).command,
  scan: async () => (await import('./scan.ts')).command,
};

/**
 * The commands `argv` needs: the one it starts with (the program itself has no options but
 * --version and --help); none for a bare --version; every one otherwise (help, unknown command).
 */
export function commandsFor(argv: readonly string[]): string[] {
  const word = argv[0];
  if (word !== undefined && Object.hasOwn(COMMANDS, word)) return [word];
  if (argv.length > 0 && argv.every((a) => a === '-V' || a === '--version')) return [];
  return Object.keys(COMMANDS);
}

/** The program with the commands `argv` needs registered (all of them without `argv`). */
export async function buildProgram(argv?: readonly string[]): Promise<{ program: Command; commands: CliCommand[] }> {
  const program = new Command('onnx-pruner')
    .description('Structured channel pruning for ONNX convolutional networks')
    .version('0.1.0')
    .showHelpAfterError()
    .exitOverride();
  const commands = await Promise.all((argv ? commandsFor(argv) : Object.keys(COMMANDS)).map((name) => COMMANDS[name]!()));
  for (const c of commands) c.register(program);
  return { program, commands };
}

/** Runs the CLI; user errors become one line on stderr and exit code 1, never a stack trace. */
export async function main(argv: string[]): Promise<number> {
  let commands: CliCommand[] = [];
  try {
    const built = await buildProgram(argv);
    commands = built.commands;
    await built.program.parseAsync(argv, { from: 'user' });
    return 0;
  } catch (e) {
    if (e instanceof CommanderError) return e.exitCode;
    // only a command's action throws anything else, and then only that command is loaded
    return commands.length === 1 ? commands[0]!.exitCodeFor(e) : internalError(e);
  }
}

// Run when executed directly (dist/cli.js or tsx src/cli/main.ts), not when imported by tests.
const invokedDirectly = typeof require !== 'undefined' ? require.main === module : process.argv[1]?.endsWith('main.ts');
if (invokedDirectly) {
  // A reader that stops early (`inspect --json | head`) closes the pipe: what is left of the output
  // goes nowhere and the command still finishes (a prune still writes its model), instead of dying
  // on an unhandled EPIPE.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => {
    if (e.code !== 'EPIPE') throw e;
  });
  main(process.argv.slice(2)).then((code) => {
    process.exitCode = code;
  });
}
