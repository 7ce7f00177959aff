// The VS Code test harness. Import UI helpers from here.
//
// Extension-host tests (run inside VS Code's Node extension host, with the `vscode` API):
//   - write `test/vscode/suite/<name>.test.ts` using mocha's BDD globals (describe/it) and
//     `import * as vscode from 'vscode'`; imports of src/ and test/helpers/ (with .ts) are bundled;
//   - scripts/build-tests.mjs compiles them to out/test/suite/, and test/vscode/suite/index.ts
//     loads every *.test.js there;
//   - the workspace folder is a fresh temporary copy of samples/fmnist/*.onnx
//     (`vscode.workspace.workspaceFolders[0]`); `process.env.ONNX_PRUNER_TEST_HOST` is
//     'code-server' or 'electron';
//   - run: `npm run test:vscode` (`-- --grep <title>` filters).
//
// UI tests (Playwright driving the workbench in headless chromium, through code-server):
//   - write `test/ui/<name>.test.ts` with node:test; give each test
//     `{ skip: skipWithoutCodeServer, timeout: 240_000 }`;
//   - one `withWorkbench({ label, files }, async ({ page, workspace }) => ...)` per file: start-up
//     costs 5-15 s, so group related checks in one workbench;
//   - helpers: openFileFromExplorer, explorerContextMenu, runPaletteCommand, waitForExtension
//     (waits until a command title is registered), webviewFrame (content of a webview inside its
//     two iframes), screenshot (→ .test-artifacts/<name>.png), refreshExplorer; to assert what is
//     offered (or not): explorerContextMenuLabels, paletteLabels;
//   - workspace trust is off (every folder trusted) unless `withWorkbench({ workspaceTrust: true })`:
//     then the folder opens untrusted, in Restricted Mode (test/ui/trust.test.ts);
//   - a failing withWorkbench saves .test-artifacts/<label>-failure.png and keeps code-server's
//     logs under .test-artifacts/logs/;
//   - run: `npm run test:ui` (files run one at a time).
export * from './env.ts';
export * from './codeServer.ts';
export * from './workbench.ts';
export * from './extensionTests.ts';
