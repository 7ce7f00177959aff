// A long request as a component shows it: started with a first stage, then the host's progress
// (stage and fraction) with a Cancel, and how it ended (answered, cancelled or failed).
import { html } from 'lit';
import type { RequestName, RequestParams, RequestResult } from '../shared/protocol.ts';
import type { HostClient, RequestError } from './host.ts';
import { pct } from './format.ts';

/** A long request's state: running (its stage, its progress, the id that cancels it), or how it ended. */
export type TrackedRun =
  | { kind: 'idle' }
  | { kind: 'running'; stage: string; fraction?: number; id: number }
  | { kind: 'failed'; message: string }
  | { kind: 'cancelled' };

/**
 * Starts `method` and tells `run` how it goes: running at `stage`, the host's progress while `run`
 * still holds it running, then idle once `answered` has taken the result, or cancelled, or failed.
 */
export async function track<K extends RequestName>(
  host: HostClient, method: K, params: RequestParams<K>, stage: string,
  run: { get(): { kind: string }; set(r: TrackedRun): void },
  answered: (result: RequestResult<K>) => void,
): Promise<void> {
  const h = host.start(method, params, (stage, fraction) => {
    if (run.get().kind === 'running') run.set({ kind: 'running', stage, fraction, id: h.id });
  });
  run.set({ kind: 'running', stage, id: h.id });
  try {
    answered(await h.result);
    run.set({ kind: 'idle' });
  } catch (e) {
    const err = e as RequestError;
    run.set(err.cancelled ? { kind: 'cancelled' } : { kind: 'failed', message: err.message });
  }
}

/** The stage with its share done, and a progress bar (indeterminate without a fraction) labelled `label`. */
export function progressLine(stage: string, fraction: number | undefined, label: string) {
  return html`<span>${stage}${fraction !== undefined ? ` — ${pct(fraction, 0)}` : ''}</span>
    ${fraction !== undefined ? html`<progress max="1" .value=${fraction} aria-label=${label}></progress>` : html`<progress aria-label=${label}></progress>`}`;
}
