// Imported first by main.ts: marks when the webview bundle starts to run and when the document's
// load event fires (VS Code shows the webview's frame from then on), for the view benchmark.
performance.mark('onnx-pruner:script-start');
addEventListener('load', () => performance.mark('onnx-pruner:load'), { once: true });
