import js from '@eslint/js';
import tseslint from 'typescript-eslint';

export default tseslint.config(
  { ignores: ['dist/**', 'out/**', 'node_modules/**', '.cache/**', '.test-artifacts/**'] },
  js.configs.recommended,
  ...tseslint.configs.recommended,
  {
    rules: {
      '@typescript-eslint/no-unused-vars': ['error', { argsIgnorePattern: '^_', varsIgnorePattern: '^_' }],
      '@typescript-eslint/no-explicit-any': 'off',
    },
  },
  {
    // The engine is shared by the extension, the CLI and the tests: it must never import vscode.
    // Only the extension host (src/extension) runs inside VS Code's API; the worker thread, the
    // CLI, the shared protocol and the webview never see it.
    files: ['src/engine/**/*.ts', 'src/shared/**/*.ts', 'src/webview/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', { paths: [{ name: 'vscode', message: 'Only src/extension may import vscode.' }] }],
    },
  },
  {
    // The graph layer (graph index, shapes, cost, the operator registry) sits below the analysis and
    // the pruning: it must not import them (the registry names their rules by kind instead).
    files: ['src/engine/graph/**/*.ts', 'src/engine/onnx/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'vscode', message: 'Only src/extension may import vscode.' }],
        patterns: [{ regex: '^\\.\\./(\\.\\./)?(analysis|prune|recovery|target|runtime|data)/', message: 'graph/ and onnx/ are below the analysis and the pruning: keep the layering.' }],
      }],
    },
  },
  {
    // The CLI, the worker thread and the extension host use the engine through its public module
    // (src/engine/index.ts), never a file behind it.
    files: ['src/cli/**/*.ts', 'src/worker/**/*.ts', 'src/extension/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        paths: [{ name: 'vscode', message: 'Only src/extension may import vscode.' }],
        patterns: [{ regex: '/engine/(?!index\\.ts$)', message: 'Import the engine through src/engine/index.ts.' }],
      }],
    },
  },
  {
    files: ['src/extension/**/*.ts'],
    rules: {
      'no-restricted-imports': ['error', {
        patterns: [{ regex: '/engine/(?!index\\.ts$)', message: 'Import the engine through src/engine/index.ts.' }],
      }],
    },
  },
);
