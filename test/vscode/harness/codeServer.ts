// code-server lifecycle for tests: a private run folder (XDG_*, TMPDIR, user data, extensions),
// a free loopback port, start in its own process group (setsid) and stop by killing that group,
// so none of its helper processes (extension host, pty host, file watcher) outlive the test.
import { spawn, type ChildProcess } from 'node:child_process';
import * as fs from 'node:fs';
import * as net from 'node:net';
import * as os from 'node:os';
import * as path from 'node:path';
import { artifactsDir, codeServerBinary, repoRoot } from './env.ts';

export interface CodeServerOptions {
  /** A label for the run folder and kept logs (e.g. the test file's name). */
  label?: string;
  /** Extra entries for the user settings.json (merged over quiet defaults). */
  settings?: Record<string, unknown>;
  /** Extra environment for code-server and so for the extension host it spawns. */
  env?: Record<string, string>;
  /** How long to wait for /healthz. Default 60 s. */
  startTimeoutMs?: number;
  /**
   * Workspace trust on: the folder opens untrusted, in Restricted Mode, without the start-up
   * "Do you trust the authors" dialog (trust is granted through the UI). Default false: trust
   * is disabled and every workspace is trusted.
   */
  workspaceTrust?: boolean;
}

export interface CodeServer {
  /** e.g. `http://127.0.0.1:41234` (no trailing slash). */
  readonly url: string;
  readonly port: number;
  /** The private folder holding user data, extensions, XDG dirs, TMPDIR and code-server.log. */
  readonly runDir: string;
  /** The workbench URL opening `folder`, optionally loading an extension under development and a test runner. */
  workbenchUrl(folder: string, opts?: { extensionPath?: string; extensionTestsPath?: string }): string;
  /** Kills the process group and removes the run folder; with keepLogs, copies logs to .test-artifacts/logs/<label>/ first. */
  stop(opts?: { keepLogs?: boolean }): Promise<void>;
}

const live = new Set<ChildProcess>();

function killGroup(child: ChildProcess, signal: NodeJS.Signals): void {
  if (child.pid === undefined) return;
  try {
    process.kill(-child.pid, signal);
  } catch {
    // the group is already gone
  }
}

// Last-resort cleanup when the test process ends without calling stop().
process.on('exit', () => {
  for (const c of live) killGroup(c, 'SIGKILL');
});
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.once(sig, () => {
    for (const c of live) killGroup(c, 'SIGKILL');
    process.exit(128 + (os.constants.signals[sig] ?? 1));
  });
}

/** A free TCP port on 127.0.0.1 (asked of the OS, then released). */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      srv.close(() => (typeof addr === 'object' && addr ? resolve(addr.port) : reject(new Error('no port'))));
    });
  });
}

const quietSettings: Record<string, unknown> = {
  'workbench.startupEditor': 'none',
  'workbench.tips.enabled': false,
  'workbench.enableExperiments': false,
  'security.workspace.trust.enabled': false,
  'update.mode': 'none',
  'update.showReleaseNotes': false,
  'telemetry.telemetryLevel': 'off',
  'extensions.autoCheckUpdates': false,
  'extensions.autoUpdate': false,
  'extensions.ignoreRecommendations': true,
  'git.enabled': false,
  'files.hotExit': 'off',
  'window.restoreWindows': 'none',
};

/** With workspace trust on: no modal prompt at start-up, files from outside the folder open directly. */
const restrictedModeSettings: Record<string, unknown> = {
  'security.workspace.trust.enabled': true,
  'security.workspace.trust.startupPrompt': 'never',
  'security.workspace.trust.untrustedFiles': 'open',
};

function sanitize(label: string): string {
  return label.replace(/[^A-Za-z0-9._-]+/g, '_').slice(0, 60) || 'run';
}

/** Starts a private code-server on a free loopback port and waits until it answers /healthz. */
export async function startCodeServer(opts: CodeServerOptions = {}): Promise<CodeServer> {
  const bin = codeServerBinary();
  if (!bin) throw new Error('code-server is not installed: run scripts/setup-vscode-test-env.sh');
  const label = sanitize(opts.label ?? 'code-server');
  const runDir = fs.mkdtempSync(path.join(fs.realpathSync(os.tmpdir()), `onnx-pruner-${label}-`));
  const dirs = {
    data: path.join(runDir, 'data'),
    ext: path.join(runDir, 'ext'),
    config: path.join(runDir, 'xdg-config'),
    xdgData: path.join(runDir, 'xdg-data'),
    cache: path.join(runDir, 'xdg-cache'),
    tmp: path.join(runDir, 'tmp'),
  };
  for (const d of Object.values(dirs)) fs.mkdirSync(d, { recursive: true });
  fs.mkdirSync(path.join(dirs.data, 'User'), { recursive: true });
  fs.writeFileSync(
    path.join(dirs.data, 'User', 'settings.json'),
    JSON.stringify({ ...quietSettings, ...(opts.workspaceTrust ? restrictedModeSettings : {}), ...opts.settings }, null, 2),
  );
  const port = await freePort();
  const configFile = path.join(runDir, 'config.yaml');
  fs.writeFileSync(configFile, `bind-addr: 127.0.0.1:${port}\nauth: none\ncert: false\n`);

  const logFile = path.join(runDir, 'code-server.log');
  const log = fs.openSync(logFile, 'a');
  const args = [
    '--config', configFile,
    '--bind-addr', `127.0.0.1:${port}`,
    '--auth', 'none',
    '--user-data-dir', dirs.data,
    '--extensions-dir', dirs.ext,
    '--disable-telemetry',
    '--disable-update-check',
    '--disable-getting-started-override',
    '--disable-file-downloads',
  ];
  if (!opts.workspaceTrust) args.push('--disable-workspace-trust');
  // detached: the child calls setsid(), so its pid is the id of a new process group.
  const child = spawn(bin, args, {
    cwd: repoRoot,
    detached: true,
    stdio: ['ignore', log, log],
    env: {
      ...process.env,
      XDG_CONFIG_HOME: dirs.config,
      XDG_DATA_HOME: dirs.xdgData,
      XDG_CACHE_HOME: dirs.cache,
      TMPDIR: dirs.tmp,
      ...opts.env,
    },
  });
  fs.closeSync(log);
  live.add(child);
  // Lets a supervising script (scripts/test.sh) kill groups a crashed test process left behind.
  fs.writeFileSync(path.join(runDir, 'pgid'), `${child.pid}\n`);
  let exited: number | null | undefined;
  child.on('exit', (code) => {
    exited = code;
  });

  const url = `http://127.0.0.1:${port}`;
  let stopped = false;
  const stop = async (o: { keepLogs?: boolean } = {}): Promise<void> => {
    if (stopped) return;
    stopped = true;
    killGroup(child, 'SIGTERM');
    const deadline = Date.now() + 5000;
    while (exited === undefined && Date.now() < deadline) await sleep(100);
    killGroup(child, 'SIGKILL');
    live.delete(child);
    if (o.keepLogs) {
      const dest = path.join(artifactsDir, 'logs', `${label}-${Date.now()}`);
      fs.mkdirSync(dest, { recursive: true });
      fs.cpSync(logFile, path.join(dest, 'code-server.log'));
      const logs = path.join(dirs.data, 'logs');
      if (fs.existsSync(logs)) fs.cpSync(logs, path.join(dest, 'logs'), { recursive: true });
      console.error(`code-server logs kept in ${path.relative(repoRoot, dest)}`);
    }
    fs.rmSync(runDir, { recursive: true, force: true, maxRetries: 3 });
  };

  const deadline = Date.now() + (opts.startTimeoutMs ?? 60_000);
  for (;;) {
    if (exited !== undefined) {
      const tail = fs.readFileSync(logFile, 'utf8').split('\n').slice(-20).join('\n');
      await stop();
      throw new Error(`code-server exited with ${exited} before answering:\n${tail}`);
    }
    try {
      const res = await fetch(`${url}/healthz`, { signal: AbortSignal.timeout(2000) });
      if (res.ok) break;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) {
      await stop({ keepLogs: true });
      throw new Error(`code-server did not answer ${url}/healthz within ${opts.startTimeoutMs ?? 60_000} ms`);
    }
    await sleep(250);
  }

  const remote = (p: string) => `vscode-remote://127.0.0.1:${port}${path.resolve(p)}`;
  return {
    url,
    port,
    runDir,
    stop,
    workbenchUrl(folder, o = {}) {
      const payload: [string, string][] = [];
      if (o.extensionPath) payload.push(['extensionDevelopmentPath', remote(o.extensionPath)]);
      if (o.extensionTestsPath) payload.push(['extensionTestsPath', remote(o.extensionTestsPath)]);
      let u = `${url}/?folder=${encodeURIComponent(path.resolve(folder))}`;
      if (payload.length) u += `&payload=${encodeURIComponent(JSON.stringify(payload))}`;
      return u;
    },
  };
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
