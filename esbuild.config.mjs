// Builds the three bundles: the extension host (Node, CommonJS), the webview (browser, ESM)
// and the command line (Node, CommonJS, with a shebang), plus the analysis worker.
// The command line is an entry (dist/cli.js: commander and the list of commands) plus one bundle
// per command (dist/cli-<command>.js), which the entry requires when that command runs: a run
// parses and evaluates only the code of its own command (see src/cli/main.ts).
import * as fs from 'node:fs';
import process from 'node:process';
import * as esbuild from 'esbuild';

const watch = process.argv.includes('--watch');
const production = process.argv.includes('--production');

/** The CLI's commands, each bundled apart (src/cli/<name>.ts → dist/cli-<name>.js). */
const CLI_COMMANDS = ['inspect', 'prune', 'validate', 'scan'];

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
  { ...node, entryPoints: { cli: 'src/cli/main.ts' }, outdir: 'dist', banner: { js: '#!/usr/bin/env node' }, plugins: [cliCommandsApart(), lazyChildProcess()] },
  { ...node, entryPoints: Object.fromEntries(CLI_COMMANDS.map((c) => [`cli-${c}`, `src/cli/${c}.ts`])), outdir: 'dist' },
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

/**
 * In the CLI entry, `import('./<command>.ts')` becomes a plain require of that command's own
 * bundle (a require, not an import(), which Node would route through its ES module loader).
 */
function cliCommandsApart() {
  const filter = new RegExp(`^\\./(${CLI_COMMANDS.join('|')})\\.ts$`);
  return {
    name: 'cli-commands-apart',
    setup(build) {
      build.onResolve({ filter }, (args) => (args.importer.endsWith('main.ts') ? { path: filter.exec(args.path)[1], namespace: 'cli-command' } : undefined));
      build.onLoad({ filter: /.*/, namespace: 'cli-command' }, (args) => ({ contents: `module.exports = require('./cli-${args.path}.js');`, loader: 'js' }));
      build.onResolve({ filter: /^\.\/cli-[a-z]+\.js$/ }, (args) => ({ path: args.path, external: true }));
    },
  };
}

/**
 * commander requires node:child_process when loaded, only to spawn stand-alone executable
 * subcommands (this CLI has none); Node loads its networking modules with it. In the CLI entry,
 * commander gets a stand-in that loads node:child_process on first use.
 */
function lazyChildProcess() {
  return {
    name: 'lazy-child-process',
    setup(build) {
      build.onResolve({ filter: /^node:child_process$/ }, (args) => (args.importer.includes('node_modules/commander') ? { path: 'child_process', namespace: 'lazy-child-process' } : undefined));
      build.onLoad({ filter: /.*/, namespace: 'lazy-child-process' }, () => ({
        contents: "let cp; module.exports = { spawn: (...args) => (cp ??= require('node:child_process')).spawn(...args) };",
        loader: 'js',
      }));
    },
  };
}

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
