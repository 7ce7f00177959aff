// Small residual networks built in code for the whole-block tests (engine, worker, view).
import { ModelBuilder } from './modelBuilder.ts';

/**
 * stem → block A (identity, last BN γ = 0) → block B (identity, last BN γ = 2: strong) → block C
 * (γ = 0.05) → GAP → Gemm; input x [N, 3, 8, 8]. Every block is removable; A changes nothing.
 */
export function scoredBlockNet(file: string): string {
  const b = new ModelBuilder({ opset: 13, seed: 5 });
  const x = b.input('x', ['N', 3, 8, 8]);
  let h = b.relu(b.bn(b.conv(x, 3, 8, { name: 'stem' }), 8, { name: 'stem_bn' }));
  const block = (name: string, gamma: number) => {
    let br = b.relu(b.bn(b.conv(h, 8, 8, { name: `${name}1` }), 8, { name: `${name}1_bn` }));
    br = b.bn(b.conv(br, 8, 8, { name: `${name}2` }), 8, { name: `${name}2_bn`, gamma: new Array<number>(8).fill(gamma) });
    h = b.relu(b.node('Add', [br, h], {}, name));
  };
  block('blockA', 0);
  block('blockB', 2);
  block('blockC', 0.05);
  b.output(b.gemm(b.flatten(b.gap(h)), 8, 5, 'fc'));
  return b.save(file);
}
