// Writes a generated source file, or with `--check` on the command line exits 1 when the committed
// file differs from what its generator makes now (gen-schema.ts, gen-wasm.ts; the test command checks both).
import * as fs from 'node:fs';
import * as path from 'node:path';

export function writeGenerated(target: string, content: string, command: string, what = ''): void {
  const name = path.basename(target);
  if (process.argv.includes('--check')) {
    const current = fs.existsSync(target) ? fs.readFileSync(target, 'utf8') : '';
    if (current !== content) {
      console.error(`${name} is stale: run ${command}`);
      process.exit(1);
    }
    console.log(`${name} is up to date`);
  } else {
    fs.writeFileSync(target, content);
    console.log(`wrote ${path.relative(process.cwd(), target)}${what}`);
  }
}
