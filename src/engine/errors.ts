/**
 * The one error type for what a user can cause: a bad file, a bad plan, a missing provider.
 * `message` is one line for people; `details` is for logs. Anything else thrown is a bug.
 */
export class PrunerError extends Error {
  readonly details?: string;
  /** The file or node at fault, when there is one. */
  readonly subject?: string;
  constructor(message: string, opts: { details?: string; subject?: string; cause?: unknown } = {}) {
    super(message, opts.cause !== undefined ? { cause: opts.cause } : undefined);
    this.name = 'PrunerError';
    this.details = opts.details;
    this.subject = opts.subject;
  }
}

export function isPrunerError(e: unknown): e is PrunerError {
  return e instanceof PrunerError;
}

/** Thrown by long operations when their AbortSignal fires. */
export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new CancelledError();
}
