// SIGINT and SIGTERM during a CLI run: the running command is cancelled (its AbortSignal fires),
// so it removes its temporary and partly published files and exits 130 (SIGINT) or 143 (SIGTERM).
// Work that does not look at the signal for a while (a long synchronous step) is cut short: after
// a grace period, or at a second signal, the temporary files are removed here and the process exits.
import { removeActiveTemps } from '../engine/index.ts';

const GRACE_MS = 3000;
const controller = new AbortController();
let received: NodeJS.Signals | undefined;
let installed = false;

/** The exit code for the signal that stopped the run (128 + its number), or undefined. */
export function signalExitCode(): number | undefined {
  if (received === 'SIGINT') return 130;
  if (received === 'SIGTERM') return 143;
  return undefined;
}

/** The signal a CLI command passes to the engine; installs the handlers on first use. */
export function cliSignal(): AbortSignal {
  if (!installed) {
    installed = true;
    for (const sig of ['SIGINT', 'SIGTERM'] as const) {
      process.on(sig, () => {
        if (received) return hardExit();
        received = sig;
        process.stderr.write(`onnx-pruner: ${sig === 'SIGINT' ? 'interrupted' : 'terminated'}, cleaning up\n`);
        controller.abort();
        setTimeout(hardExit, GRACE_MS).unref();
      });
    }
  }
  return controller.signal;
}

function hardExit(): never {
  removeActiveTemps();
  process.exit(signalExitCode() ?? 130);
}
