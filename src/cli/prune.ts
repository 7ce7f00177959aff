// `onnx-pruner prune`: placeholder until its engine part lands.
import type { Command } from 'commander';
import { PrunerError } from '../engine/errors.ts';

export function registerPrune(program: Command): void {
  program
    .command('prune')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new PrunerError('prune is not implemented yet');
    });
}
