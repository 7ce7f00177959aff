// The model view's HTML: a strict Content-Security-Policy with a nonce, nothing remote,
// scripts and styles only from the extension's own dist/ folder.
import * as crypto from 'node:crypto';
import * as fs from 'node:fs';
import * as vscode from 'vscode';

export function webviewOptions(extensionUri: vscode.Uri): vscode.WebviewOptions {
  return {
    enableScripts: true,
    localResourceRoots: [vscode.Uri.joinPath(extensionUri, 'dist'), vscode.Uri.joinPath(extensionUri, 'media')],
  };
}

export function modelViewHtml(webview: vscode.Webview, extensionUri: vscode.Uri, title: string): string {
  const nonce = crypto.randomBytes(16).toString('base64');
  const script = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'webview.js'));
  const codicons = webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', 'codicon.css'));
  const font = codiconFont(extensionUri);
  // The icon font is fetched with the script rather than after the first render: VS Code shows
  // the view's frame at its load event, which waits for the font.
  const preload = font
    ? `<link rel="preload" href="${webview.asWebviewUri(vscode.Uri.joinPath(extensionUri, 'dist', font.file)).with({ query: font.query }).toString(true)}" as="font" type="font/ttf" crossorigin>\n`
    : '';
  const csp = [
    "default-src 'none'",
    `img-src ${webview.cspSource} data:`,
    `style-src ${webview.cspSource} 'unsafe-inline'`,
    `font-src ${webview.cspSource}`,
    `script-src 'nonce-${nonce}'`,
  ].join('; ');
  return `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="UTF-8">
<meta http-equiv="Content-Security-Policy" content="${csp}">
<meta name="viewport" content="width=device-width, initial-scale=1.0">
${preload}<link rel="stylesheet" href="${codicons}" id="vscode-codicon-stylesheet">
<title>${escapeHtml(title)}</title>
</head>
<body>
<onnx-model-view></onnx-model-view>
<script type="module" nonce="${nonce}" src="${script}"></script>
</body>
</html>`;
}

let fontRef: { file: string; query: string } | undefined | null;

/** The icon font as codicon.css refers to it (file and cache-busting query), read once. */
function codiconFont(extensionUri: vscode.Uri): { file: string; query: string } | undefined {
  if (fontRef === undefined) {
    try {
      const css = fs.readFileSync(vscode.Uri.joinPath(extensionUri, 'dist', 'codicon.css').fsPath, 'utf8');
      const m = /url\("?\.\/(codicon\.ttf)(?:\?([^")]*))?"?\)/.exec(css);
      fontRef = m ? { file: m[1]!, query: m[2] ?? '' } : null;
    } catch {
      fontRef = null;
    }
  }
  return fontRef ?? undefined;
}

function escapeHtml(s: string): string {
  return s.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);
}
