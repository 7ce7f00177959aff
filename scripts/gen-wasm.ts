// Assembles src/engine/onnx/gather.wat into src/engine/onnx/gather.generated.ts (the module's bytes,
// base64). `npm run gen:wasm` writes it; `--check` exits 1 when the committed file is stale.
import * as fs from 'node:fs';
import * as path from 'node:path';
import wabtInit from 'wabt';

const dir = path.join(__dirname, '..', 'src', 'engine', 'onnx');
const source = path.join(dir, 'gather.wat');
const target = path.join(dir, 'gather.generated.ts');

async function main(): Promise<void> {
  const wabt = await wabtInit();
  const parsed = wabt.parseWat('gather.wat', fs.readFileSync(source, 'utf8'), { bulk_memory: true });
  parsed.validate();
  const { buffer } = parsed.toBinary({});
  parsed.destroy();
  const out =
    '// Generated from gather.wat by scripts/gen-wasm.ts. Do not edit: run `npm run gen:wasm`.\n' +
    `export const gatherWasm = '${Buffer.from(buffer).toString('base64')}';\n`;
  if (process.argv.includes('--check')) {
    const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
    if (current !== out) {
      console.error('gather.generated.ts is stale: run npm run gen:wasm');
      process.exit(1);
    }
    console.log('gather.generated.ts is up to date');
  } else {
    fs.writeFileSync(target, out);
    console.log(`wrote ${path.relative(process.cwd(), target)} (${buffer.length} bytes of WebAssembly)`);
  }
}

void main();
