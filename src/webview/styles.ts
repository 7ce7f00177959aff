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

/** A form's fields: a label (or legend) over its control, hints below, two fields side by side (`.row2`). */
export const form = css`
  .field { display: flex; flex-direction: column; gap: 4px; }
  .field > label, .legend { font-weight: 600; font-size: 0.92em; }
  .hint { font-size: 0.9em; }
  .row2 { display: grid; grid-template-columns: 1fr 1fr; gap: 8px; }
  vscode-textfield, vscode-single-select { width: 100%; }
`;

/** A segmented choice (`.seg`): buttons in one bordered group, the pressed one filled. */
export const segmented = css`
  .seg { display: inline-flex; border: 1px solid var(--vscode-button-border, var(--vscode-panel-border, rgba(128,128,128,0.5))); border-radius: 3px; overflow: hidden; }
  .seg button { all: unset; cursor: pointer; padding: 2px 10px; font-size: 0.95em; }
  .seg button[aria-pressed='true'] { background: var(--vscode-button-background); color: var(--vscode-button-foreground);
    outline: 1px solid var(--vscode-contrastActiveBorder, transparent); outline-offset: -2px; font-weight: 600; }
  .seg button:focus-visible { outline: 1px solid var(--vscode-focusBorder); outline-offset: -1px; }
`;

/** A long run's progress (see progress.ts): the bar across its box. */
export const progress = css`
  progress { width: 100%; accent-color: var(--vscode-progressBar-background); }
`;

/** The controls above a list (`.bar`): one wrapping row. */
export const toolbar = css`
  .bar { display: flex; gap: 8px; align-items: center; flex-wrap: wrap; margin: 4px 0 6px; }
`;

/** The plan panel's sections with a form, choices and a long run (the plan and target panels). */
export const panel = [base, form, segmented, progress];
