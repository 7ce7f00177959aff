// Assembles the WebAssembly kernels (src/engine/onnx/gather.wat, src/engine/prune/fold.wat) into
// <name>.generated.ts beside each (the module's bytes, base64). `npm run gen:wasm` writes them;
// `--check` exits 1 when a committed file is stale.
import * as fs from 'node:fs';
import * as path from 'node:path';
import wabtInit from 'wabt';
import { writeGenerated } from './generated-file.ts';

const src = path.join(__dirname, '..', 'src', 'engine');

/** Each kernel: its folder under src/engine, its name, and the name of the exported constant. */
const KERNELS = [
  { dir: 'onnx', name: 'gather', constant: 'gatherWasm' },
  { dir: 'prune', name: 'fold', constant: 'foldWasm' },
];

async function main(): Promise<void> {
  const wabt = await wabtInit();
  for (const { dir, name, constant } of KERNELS) {
    const wat = `${name}.wat`;
    const parsed = wabt.parseWat(wat, fs.readFileSync(path.join(src, dir, wat), 'utf8'), { bulk_memory: true });
    parsed.validate();
    const { buffer } = parsed.toBinary({});
    parsed.destroy();
    const out =
      `// Generated from ${wat} by scripts/gen-wasm.ts. Do not edit: run \`npm run gen:wasm\`.\n` +
      `export const ${constant} = '${Buffer.from(buffer).toString('base64')}';\n`;
    writeGenerated(path.join(src, dir, `${name}.generated.ts`), out, 'npm run gen:wasm', ` (${buffer.length} bytes of WebAssembly)`);
  }
}

void main();
