// What the CLI prints for a bug (anything thrown that is not a user error nor a cancellation):
// one line, the stack with ONNX_PRUNER_DEBUG set; exit code 2. Apart from errors.ts, which needs
// the engine, so that the CLI entry (main.ts) stays free of it.
export function internalError(e: unknown): number {
  process.stderr.write(`onnx-pruner: internal error: ${(e as Error)?.message ?? String(e)}\n`);
  if (process.env.ONNX_PRUNER_DEBUG) process.stderr.write(`${(e as Error)?.stack}\n`);
  return 2;
}
