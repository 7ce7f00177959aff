// `onnx-pruner inspect`: placeholder until its engine part lands.
import type { Command } from 'commander';
import { PrunerError } from '../engine/errors.ts';

export function registerInspect(program: Command): void {
  program
    .command('inspect')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new PrunerError('inspect is not implemented yet');
    });
}
