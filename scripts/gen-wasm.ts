// Assembles src/engine/onnx/gather.wat into src/engine/onnx/gather.generated.ts (the module's bytes,
// base64). `npm run gen:wasm` writes it; `--check` exits 1 when the committed file is stale.
import * as fs from 'node:fs';
import * as path from 'node:path';
import wabtInit from 'wabt';
import { writeGenerated } from './generated-file.ts';

const dir = path.join(__dirname, '..', 'src', 'engine', 'onnx');

async function main(): Promise<void> {
  const wabt = await wabtInit();
  const parsed = wabt.parseWat('gather.wat', fs.readFileSync(path.join(dir, 'gather.wat'), 'utf8'), { bulk_memory: true });
  parsed.validate();
  const { buffer } = parsed.toBinary({});
  parsed.destroy();
  const out =
    '// Generated from gather.wat by scripts/gen-wasm.ts. Do not edit: run `npm run gen:wasm`.\n' +
    `export const gatherWasm = '${Buffer.from(buffer).toString('base64')}';\n`;
  writeGenerated(path.join(dir, 'gather.generated.ts'), out, 'npm run gen:wasm', ` (${buffer.length} bytes of WebAssembly)`);
}

void main();
