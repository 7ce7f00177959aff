// The one request/response layer (src/shared/rpc.ts) both hops use, and the view protocol's
// validators: typed requests answered once, progress, cancellation, errors, events; what the
// view sends is rebuilt from known keys only, and anything malformed is dropped.
import * as assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import { RequestError, RpcClient, RpcServer, type ClientMessage, type Handlers, type ServerMessage } from '../../src/shared/rpc.ts';
import { parseFromWebview, VIEW_VALIDATORS } from '../../src/shared/protocol.ts';

interface TestMethods {
  add: { params: { a: number; b: number }; result: number };
  slow: { params: { steps: number }; result: string };
  fail: { params: { user: boolean }; result: null };
}

function pair() {
  const ends: { server?: RpcServer<TestMethods, { type: 'ping' }> } = {};
  const client = new RpcClient<TestMethods, { type: 'ping' }>((m: ClientMessage<TestMethods>) => queueMicrotask(() => void ends.server!.receive(structuredClone(m))));
  const handlers: Handlers<TestMethods> = {
    add: ({ a, b }) => a + b,
    slow: async ({ steps }, { signal, progress }) => {
      for (let i = 0; i < steps; i++) {
        if (signal.aborted) throw new RequestError('cancelled', { cancelled: true });
        progress(`step ${i}`, i / steps);
        await new Promise((r) => setTimeout(r, 5));
      }
      return 'done';
    },
    fail: ({ user }) => {
      throw new RequestError('bad plan', { user });
    },
  };
  const server = new RpcServer<TestMethods, { type: 'ping' }>(handlers, (m: ServerMessage<{ type: 'ping' }>) => queueMicrotask(() => client.receive(structuredClone(m))));
  ends.server = server;
  return { client, server };
}

describe('rpc', () => {
  test('requests are answered once, with progress, errors and events', async () => {
    const { client, server } = pair();
    assert.equal(await client.request('add', { a: 2, b: 3 }), 5);
    const stages: string[] = [];
    assert.equal(await client.request('slow', { steps: 3 }, { onProgress: (s) => stages.push(s) }), 'done');
    assert.deepEqual(stages, ['step 0', 'step 1', 'step 2']);
    await assert.rejects(client.request('fail', { user: true }), (e: RequestError) => e.message === 'bad plan' && e.user && !e.cancelled);
    const events: string[] = [];
    client.onEvent((e) => events.push(e.type));
    server.event({ type: 'ping' });
    await new Promise((r) => setTimeout(r, 1));
    assert.deepEqual(events, ['ping']);
    assert.equal(client.waiting, 0);
  });

  test('cancelling aborts the handler and rejects as cancelled', async () => {
    const { client } = pair();
    const c = new AbortController();
    const p = client.request('slow', { steps: 1000 }, { signal: c.signal, onProgress: () => c.abort() });
    await assert.rejects(p, (e: RequestError) => e.cancelled);
  });
});

describe('view protocol validators', () => {
  const plan = { criterion: 'l1', ratio: 0.5, scope: 'uniform' };
  test('a valid request comes back as a new object with the known keys only', () => {
    const raw = { kind: 'request', id: 1, method: 'previewPlan', params: { plan: { ...plan, extra: 'x', overrides: { a: { ratio: 0.2, evil: 1 } } }, more: 1 } };
    const m = parseFromWebview(raw);
    assert.ok(m && m.kind === 'request' && m.method === 'previewPlan');
    assert.deepEqual(m.params, { plan: { ...plan, overrides: { a: { ratio: 0.2 } } } });
    assert.notEqual(m.params.plan, raw.params.plan, 'a new object, not the view\'s');
  });

  test('malformed and hostile messages are dropped', () => {
    const bad: unknown[] = [
      null, 'x', [], { kind: 'request', id: 1, method: 'eval', params: {} },
      { kind: 'request', id: 1, method: 'toString', params: {} },
      { kind: 'request', id: -1, method: 'getLayers', params: { offset: 0, limit: 10 } },
      { kind: 'request', id: 1, method: 'getLayers', params: { offset: 0, limit: 1e9 } },
      { kind: 'request', id: 1, method: 'getLayers', params: { offset: 0, limit: 10, sort: { key: 'constructor', descending: true } } },
      { kind: 'request', id: 1, method: 'getHistogram', params: { criterion: 'l3' } },
      { kind: 'request', id: 1, method: 'previewPlan', params: { plan: { ...plan, ratio: '0.5' } } },
      { kind: 'request', id: 1, method: 'previewPlan', params: { plan: { ...plan, roundTo: 1e12 } } },
      { kind: 'request', id: 1, method: 'prune', params: { plan, validate: 'yes' } },
      { kind: 'request', id: 1, method: 'prune', params: { plan: { ...plan, overrides: { a: { keep: [1, 2, 1e30] } } }, validate: true } },
      { kind: 'request', id: 1, method: 'openFile', params: { path: 'x'.repeat(5000) } },
      { kind: 'cancel', id: 'x' },
      { kind: 'planState', plan: { criterion: 'l1' } },
    ];
    for (const m of bad) assert.equal(parseFromWebview(m), undefined, JSON.stringify(m)?.slice(0, 120));
  });

  test('a layer named __proto__ stays a plain key', () => {
    const raw = JSON.parse('{"kind":"request","id":1,"method":"previewPlan","params":{"plan":{"criterion":"l1","ratio":0.5,"scope":"uniform","overrides":{"__proto__":{"ratio":0.1}}}}}');
    const m = parseFromWebview(raw);
    assert.ok(m && m.kind === 'request' && m.method === 'previewPlan');
    const o = m.params.plan.overrides!;
    assert.deepEqual(Object.keys(o), ['__proto__']);
    assert.equal(Object.getPrototypeOf(o), Object.prototype);
    assert.equal(({} as Record<string, unknown>).ratio, undefined);
  });

  test('every view request has a validator', () => {
    assert.deepEqual(Object.keys(VIEW_VALIDATORS).sort(), ['chooseArray', 'chooseData', 'clearData', 'findPlan', 'getBlocks', 'getData', 'getGroups', 'getHistogram', 'getLayerDetail', 'getLayers', 'measureLatency', 'openFile', 'previewPlan', 'prune', 'scan', 'setDataOptions', 'setInputShapes', 'validate']);
  });
});
