// `onnx-pruner validate`: placeholder until its engine part lands.
import type { Command } from 'commander';
import { PrunerError } from '../engine/errors.ts';

export function registerValidate(program: Command): void {
  program
    .command('validate')
    .description('(not implemented yet)')
    .allowUnknownOption()
    .action(() => {
      throw new PrunerError('validate is not implemented yet');
    });
}
