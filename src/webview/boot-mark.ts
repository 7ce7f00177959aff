// Imported first by main.ts: marks when the webview bundle starts to run (for the view benchmark).
performance.mark('onnx-pruner:script-start');
