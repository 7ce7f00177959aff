// Builds the three bundles: the extension host (Node, CommonJS), the webview (browser, ESM)
// and the command line (Node, CommonJS, with a shebang), plus the analysis worker.
import * as fs from 'node:fs';
import process from 'node:process';
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

const node = {
  bundle: true,
  platform: 'node',
  format: 'cjs',
  target: 'node20',
  sourcemap: !production,
  minify: production,
  external: ['vscode', 'onnxruntime-node'],
  logLevel: 'info',
};

const builds = [
  { ...node, entryPoints: { extension: 'src/extension/extension.ts' }, outdir: 'dist' },
  { ...node, entryPoints: { worker: 'src/worker/worker.ts' }, outdir: 'dist' },
  { ...node, entryPoints: { cli: 'src/cli/main.ts' }, outdir: 'dist', banner: { js: '#!/usr/bin/env node' } },
  {
    bundle: true,
    platform: 'browser',
    format: 'esm',
    target: 'es2022',
    sourcemap: !production,
    // always minified: the webview parses this on every open (source maps keep it debuggable)
    minify: true,
    entryPoints: { webview: 'src/webview/main.ts' },
    outdir: 'dist',
    logLevel: 'info',
    plugins: [copyCodicons()],
  },
];

/** The webview's <vscode-icon> needs the codicon font: copy its stylesheet and font beside webview.js. */
function copyCodicons() {
  return {
    name: 'copy-codicons',
    setup(build) {
      build.onEnd(() => {
        fs.mkdirSync('dist', { recursive: true });
        for (const f of ['codicon.css', 'codicon.ttf']) fs.copyFileSync(`node_modules/@vscode/codicons/dist/${f}`, `dist/${f}`);
      });
    },
  };
}

if (watch) {
  for (const b of builds) (await esbuild.context(b)).watch();
} else {
  await Promise.all(builds.map((b) => esbuild.build(b)));
}
