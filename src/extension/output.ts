// The "ONNX Pruner" output channel: what ran, on which execution provider, timings, and error details.
import * as vscode from 'vscode';

export class Output implements vscode.Disposable {
  readonly channel: vscode.LogOutputChannel;

  constructor() {
    this.channel = vscode.window.createOutputChannel('ONNX Pruner', { log: true });
  }

  info(message: string): void {
    this.channel.info(message);
  }

  warn(message: string): void {
    this.channel.warn(message);
  }

  error(message: string, details?: string): void {
    this.channel.error(details ? `${message}\n${details}` : message);
  }

  show(): void {
    this.channel.show(true);
  }

  dispose(): void {
    this.channel.dispose();
  }
}
