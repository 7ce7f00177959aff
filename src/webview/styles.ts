// Styles shared by the view's components; every colour comes from VS Code's theme variables.
import { css } from 'lit';

export const base = css`
  :host {
    color: var(--vscode-foreground);
    font-family: var(--vscode-font-family);
    font-size: var(--vscode-font-size, 13px);
    box-sizing: border-box;
  }
  *, *::before, *::after { box-sizing: inherit; }
  .muted { color: var(--vscode-descriptionForeground); }
  .num { font-variant-numeric: tabular-nums; text-align: right; }
  .ellipsis { overflow: hidden; text-overflow: ellipsis; white-space: nowrap; min-width: 0; }
  h2 { font-size: 1.05em; font-weight: 600; margin: 0 0 8px; }
  h3 { font-size: 0.85em; font-weight: 600; margin: 0 0 6px; text-transform: uppercase; letter-spacing: 0.04em; color: var(--vscode-descriptionForeground); }
  .error { color: var(--vscode-errorForeground); }
  .warning { color: var(--vscode-editorWarning-foreground); }
  .good { color: var(--vscode-charts-green, var(--vscode-testing-iconPassed, #388a34)); }
  .link {
    background: none; border: none; padding: 0; font: inherit; cursor: pointer;
    color: var(--vscode-textLink-foreground); text-align: left;
  }
  .link:hover { color: var(--vscode-textLink-activeForeground); text-decoration: underline; }
  .link:focus-visible, button:focus-visible, select:focus-visible, input:focus-visible {
    outline: 1px solid var(--vscode-focusBorder); outline-offset: 1px;
  }
  .card {
    border: 1px solid var(--vscode-panel-border, var(--vscode-editorWidget-border, rgba(128,128,128,0.35)));
    border-radius: 4px;
    padding: 10px 12px;
    background: var(--vscode-editorWidget-background, transparent);
  }
  select.native {
    background: var(--vscode-dropdown-background);
    color: var(--vscode-dropdown-foreground);
    border: 1px solid var(--vscode-dropdown-border, transparent);
    font: inherit; font-size: 0.95em; border-radius: 2px; padding: 1px 2px; max-width: 100%;
  }
  .pill {
    display: inline-block; padding: 0 6px; border-radius: 8px; font-size: 0.85em; line-height: 16px;
    background: var(--vscode-badge-background); color: var(--vscode-badge-foreground); white-space: nowrap;
  }
  .pill.warn { background: var(--vscode-inputValidation-warningBackground, #5a4500); color: var(--vscode-foreground); border: 1px solid var(--vscode-inputValidation-warningBorder, transparent); }
  .pill.outline { background: transparent; color: var(--vscode-foreground); border: 1px solid var(--vscode-panel-border, rgba(128,128,128,0.5)); }
`;
