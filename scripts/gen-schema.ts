// Regenerates src/engine/onnx/schema.generated.ts from src/engine/onnx/onnx.proto.
// `npm run gen:schema` writes it; `--check` exits 1 when the committed file is stale.
import * as fs from 'node:fs';
import * as path from 'node:path';
import protobuf from 'protobufjs';
import { writeGenerated } from './generated-file.ts';

const dir = path.join(__dirname, '..', 'src', 'engine', 'onnx');
const proto = fs.readFileSync(path.join(dir, 'onnx.proto'), 'utf8');
const root = protobuf.parse(proto, { keepCase: true }).root;
const json = JSON.stringify(root.toJSON(), null, 1);
const out =
  '// Generated from onnx.proto by scripts/gen-schema.ts. Do not edit: run `npm run gen:schema`.\n' +
  `export const onnxSchema = ${json} as const;\n`;
writeGenerated(path.join(dir, 'schema.generated.ts'), out, 'npm run gen:schema');
