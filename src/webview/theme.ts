// Colours for canvas charts, read from VS Code's --vscode-* CSS variables and re-read when
// the theme changes (VS Code swaps the body class and the variables on the <html> element).

export interface ChartTheme {
  kind: 'light' | 'dark' | 'high-contrast' | 'high-contrast-light';
  foreground: string;
  muted: string;
  grid: string;
  bar: string;
  removed: string;
  threshold: string;
  font: string;
  fontSize: number;
}

function cssVar(style: CSSStyleDeclaration, name: string, fallback: string): string {
  const v = style.getPropertyValue(name).trim();
  return v || fallback;
}

export function themeKind(body: HTMLElement = document.body): ChartTheme['kind'] {
  const c = body.classList;
  if (c.contains('vscode-high-contrast-light')) return 'high-contrast-light';
  if (c.contains('vscode-high-contrast')) return 'high-contrast';
  if (c.contains('vscode-dark')) return 'dark';
  return 'light';
}

export function readTheme(): ChartTheme {
  const s = getComputedStyle(document.documentElement);
  const kind = themeKind();
  const hc = kind.startsWith('high-contrast');
  const fg = cssVar(s, '--vscode-editor-foreground', cssVar(s, '--vscode-foreground', kind === 'dark' || kind === 'high-contrast' ? '#cccccc' : '#333333'));
  return {
    kind,
    foreground: fg,
    muted: cssVar(s, '--vscode-descriptionForeground', fg),
    grid: hc ? cssVar(s, '--vscode-contrastBorder', fg) : cssVar(s, '--vscode-editorWidget-border', cssVar(s, '--vscode-panel-border', 'rgba(128,128,128,0.35)')),
    bar: cssVar(s, '--vscode-charts-blue', cssVar(s, '--vscode-textLink-foreground', '#3794ff')),
    removed: cssVar(s, '--vscode-charts-red', cssVar(s, '--vscode-errorForeground', '#f14c4c')),
    threshold: cssVar(s, '--vscode-charts-orange', cssVar(s, '--vscode-editorWarning-foreground', '#d18616')),
    font: cssVar(s, '--vscode-font-family', 'system-ui, sans-serif'),
    fontSize: parseFloat(cssVar(s, '--vscode-font-size', '13')) || 13,
  };
}

/** Calls back when the body's theme class changes (VS Code switched theme). */
export function onThemeChange(cb: () => void): () => void {
  const obs = new MutationObserver(() => cb());
  obs.observe(document.body, { attributes: true, attributeFilter: ['class'] });
  return () => obs.disconnect();
}
