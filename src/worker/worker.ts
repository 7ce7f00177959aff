// The engine worker thread: holds the open models and answers the extension host's requests
// (src/worker/protocol.ts, carried by src/shared/rpc.ts). Heavy work (decoding a 500 MB model,
// analysis, surgery, ONNX Runtime) happens here.
import { parentPort } from 'node:worker_threads';
import { PrunerError } from '../engine/index.ts';
import { RpcServer } from '../shared/rpc.ts';
import { workerHandlers } from './handlers.ts';
import type { FromWorker, ToWorker, WorkerMethods } from './protocol.ts';

if (!parentPort) throw new Error('worker.ts must run in a worker thread');
const port = parentPort;

const server = new RpcServer<WorkerMethods>(workerHandlers(), (m: FromWorker) => port.postMessage(m), (e, cancelled) => {
  const err = e as Error | undefined;
  const user = e instanceof PrunerError;
  return { message: cancelled ? 'cancelled' : err?.message ?? String(e), details: user ? (e as PrunerError).details : err?.stack, cancelled, user };
});

port.on('message', (m: ToWorker) => void server.receive(m));
