// Option parsing shared by the subcommands.
import { PrunerError } from '../engine/index.ts';

/** `--dim N=4 height=48` → { N: 4, height: 48 }. */
export function parseDims(list: string[] | undefined): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of list ?? []) {
    const m = /^([^=]+)=(\d+)$/.exec(item);
    if (!m || Number(m[2]) < 1) throw new PrunerError(`--dim expects NAME=SIZE (e.g. N=4), got "${item}"`);
    out[m[1]] = Number(m[2]);
  }
  return out;
}
