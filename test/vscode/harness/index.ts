// The VS Code test harness: code-server lifecycle, workbench helpers for Playwright UI tests,
// and the extension-host test runner. UI tests import from here.
export * from './env.ts';
export * from './codeServer.ts';
export * from './workbench.ts';
export * from './extensionTests.ts';
