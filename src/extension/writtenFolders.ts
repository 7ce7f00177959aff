// The folders the extension has written pruned models into, kept in globalState, so that on
// activation it removes the temporary files a killed run (a crashed or force-quit VS Code) left
// there. Only this tool's stale temporary files are removed (engine/files.ts decides which).
import * as fs from 'node:fs';
import type * as vscode from 'vscode';
import { removeStaleTemps } from '../engine/index.ts';

const KEY = 'onnxPruner.writtenFolders';
/** The most recent folders remembered. */
const MAX_FOLDERS = 100;

export class WrittenFolders {
  constructor(private readonly state: vscode.Memento) {}

  list(): string[] {
    return this.state.get<string[]>(KEY, []);
  }

  /** Remembers a folder about to be written into (before the write: a killed run must be found). */
  async remember(dir: string): Promise<void> {
    const now = [dir, ...this.list().filter((d) => d !== dir)].slice(0, MAX_FOLDERS);
    await this.state.update(KEY, now);
  }

  /** Removes stale temporary files from every remembered folder; forgets folders that are gone. Returns the files removed. */
  async clean(): Promise<string[]> {
    const removed: string[] = [];
    const kept: string[] = [];
    for (const dir of this.list()) {
      if (!fs.existsSync(dir)) continue;
      kept.push(dir);
      for (const name of removeStaleTemps(dir)) removed.push(`${dir}/${name}`);
    }
    await this.state.update(KEY, kept);
    return removed;
  }
}
