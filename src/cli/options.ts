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

/** `--shape x=1x3x48x192 ...`: whole input shapes by input name (for sizes without a name too). */
export function parseShapes(list: string[] | undefined): Record<string, number[]> {
  const out: Record<string, number[]> = {};
  for (const item of list ?? []) {
    const m = /^(.+)=(\d+(?:x\d+)*)$/.exec(item);
    if (!m) throw new PrunerError(`--shape expects NAME=AxBxC (e.g. x=1x3x48x192), got "${item}"`);
    out[m[1]!] = m[2]!.split('x').map(Number);
  }
  return out;
}
