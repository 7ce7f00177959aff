// Webview entry point (placeholder until the view lands).
export {};
