// Worker thread that runs the engine off the extension host's main thread (placeholder).
export {};
