// What the host accepts from the model view (a web page: its messages are untrusted input).
// Only `parseFromWebview` (and the scan defaults it must agree with) is imported: whatever the message layer becomes, a hostile message must
// be refused, and a good one must come out as a new object holding only the keys the host knows.
import { test, describe } from 'node:test';
import assert from 'node:assert/strict';
import { parseFromWebview, SCAN_DEFAULTS } from '../../src/shared/protocol.ts';
import { DEFAULT_BREAK_LOSS, DEFAULT_SCAN_INPUTS, DEFAULT_SCAN_RATIOS } from '../../src/engine/target/scan.ts';

const plan = { criterion: 'l1', scope: 'uniform', ratio: 0.5 };
const req = (method: string, params: unknown, extra: object = {}) => ({ kind: 'request', id: 1, method, params, ...extra });

describe('messages from the view (parseFromWebview)', () => {
  test('a prune request carries no output location: extra keys such as out never pass', () => {
    const hostile = req('prune', { plan: { ...plan, out: '/etc/evil.onnx', model: '/tmp/x' }, validate: true, out: '/home/someone/.bashrc', force: true, outputName: '../../x.onnx' }, { out: '/tmp/x.onnx' });
    const m = parseFromWebview(hostile);
    assert.ok(m, 'the well-formed part is accepted');
    assert.deepEqual(m, { kind: 'request', id: 1, method: 'prune', params: { plan: { criterion: 'l1', scope: 'uniform', ratio: 0.5 }, validate: true } });
    assert.notEqual(m, hostile, 'a new object');
    const json = JSON.stringify(m);
    for (const k of ['out', 'force', 'outputName', 'model', 'evil', 'bashrc']) assert.ok(!json.includes(k), `${k} dropped: ${json}`);
  });

  test('every kind of message is rebuilt from its known keys only', () => {
    const cases: [unknown, unknown][] = [
      [{ kind: 'ready', junk: 1 }, { kind: 'ready' }],
      [{ kind: 'cancel', id: 3, out: 'x' }, { kind: 'cancel', id: 3 }],
      [{ kind: 'planState', plan: { ...plan, out: 'x', overrides: { '/a/Conv': { keep: [0, 1], out: 'x' } } } }, { kind: 'planState', plan: { ...plan, overrides: { '/a/Conv': { keep: [0, 1] } } } }],
      [{ kind: 'planState', plan: { ...plan, out: 'x', overrides: { '/a/Conv': { ratio: 0.2 } } } }, { kind: 'planState', plan: { ...plan, overrides: { '/a/Conv': { ratio: 0.2 } } } }],
      [req('getLayers', { offset: 0, limit: 10, out: 'x' }), req('getLayers', { offset: 0, limit: 10 })],
      [req('getLayers', { offset: 0, limit: 10, sort: { key: 'macs', descending: true, out: 'x' }, out: 'x' }), req('getLayers', { offset: 0, limit: 10, sort: { key: 'macs', descending: true } })],
      [req('getHistogram', { criterion: 'l2', bins: 20, out: 'x' }), req('getHistogram', { criterion: 'l2', bins: 20 })],
      [req('getLayerDetail', { layer: '/a/Conv', plan: { ...plan, out: 'x' }, out: 'x' }), req('getLayerDetail', { layer: '/a/Conv', plan })],
      [req('previewPlan', { plan, out: 'x' }), req('previewPlan', { plan })],
      [req('validate', { pruned: 'm.pruned.onnx', original: '/etc/passwd' }), req('validate', { pruned: 'm.pruned.onnx' })],
      [req('openFile', { path: 'm.pruned.onnx', out: 'x' }), req('openFile', { path: 'm.pruned.onnx' })],
    ];
    for (const [msg, want] of cases) assert.deepEqual(parseFromWebview(msg), want, JSON.stringify(msg));
  });

  test('unknown methods and kinds, wrong types, NaN, huge numbers and bad paths are refused', () => {
    const bad: unknown[] = [
      null, 42, 'prune', [], {},
      { kind: 'request', id: 1, method: 'writeFile', params: { path: '/tmp/x' } },
      { kind: 'request', id: 1, method: '__proto__', params: {} },
      { kind: 'request', id: 1, method: 'constructor', params: {} },
      { kind: 'request', id: -1, method: 'getLayers', params: { offset: 0, limit: 10 } },
      { kind: 'request', id: 1.5, method: 'getLayers', params: { offset: 0, limit: 10 } },
      { kind: 'request', id: '1', method: 'getLayers', params: { offset: 0, limit: 10 } },
      { kind: 'request', id: 2 ** 60, method: 'getLayers', params: { offset: 0, limit: 10 } },
      { kind: 'request', id: 1, method: 'getLayers' },
      { kind: 'request', id: 1, method: 'getLayers', params: [] },
      { kind: 'cancel', id: NaN },
      { kind: 'shell', command: 'rm -rf /' },
      req('getLayers', { offset: 0, limit: 'yes' }),
      req('getSummary', {}),
      req('getLayers', { offset: 0, limit: 1e12 }),
      req('getLayers', { offset: NaN, limit: 10 }),
      req('getLayers', { offset: 0, limit: 10, sort: { key: 'macs', descending: 'no' } }),
      req('getLayers', { offset: 0, limit: 10, filter: 'x'.repeat(100000) }),
      req('getHistogram', { criterion: 'magic' }),
      req('getHistogram', { criterion: 'l1', bins: 1e9 }),
      req('getLayerDetail', { layer: 7 }),
      req('previewPlan', { plan: { ...plan, ratio: NaN } }),
      req('previewPlan', { plan: { ...plan, ratio: Infinity } }),
      req('previewPlan', { plan: { ...plan, ratio: 1.5 } }),
      req('previewPlan', { plan: { ...plan, ratio: -0.1 } }),
      req('previewPlan', { plan: { criterion: 'l1', scope: 'uniform', threshold: -1 } }),
      req('previewPlan', { plan: { criterion: 'l1', scope: 'uniform', threshold: NaN } }),
      req('previewPlan', { plan: { ...plan, roundTo: 1e300 } }),
      req('previewPlan', { plan: { ...plan, minChannels: 0 } }),
      req('previewPlan', { plan: { ...plan, minChannels: 2 ** 40 } }),
      req('previewPlan', { plan: { ...plan, scope: 'everything' } }),
      req('previewPlan', { plan: { ...plan, criterion: 'random' } }),
      req('previewPlan', { plan: { ...plan, compensate: 'true' } }),
      req('previewPlan', { plan: { ...plan, exclude: ['ok', 3] } }),
      req('previewPlan', { plan: { ...plan, overrides: { '/a/Conv': { keep: [0, 2 ** 40] } } } }),
      req('previewPlan', { plan: { ...plan, overrides: { '/a/Conv': { keep: [0.5] } } } }),
      req('previewPlan', { plan: { ...plan, overrides: { '/a/Conv': { ratio: 0.2, keep: [0] } } } }),
      req('previewPlan', { plan: { ...plan, overrides: { '/a/Conv': 'all' } } }),
      req('prune', { plan }),
      req('prune', { plan, validate: 'true' }),
      req('prune', { plan: null, validate: true }),
      req('validate', { pruned: '../../../etc/passwd.onnx' }),
      req('validate', { pruned: '/etc/passwd' }),
      req('validate', { pruned: 'm.onnx\0.txt' }),
      req('openFile', { path: '../../secret.onnx' }),
      req('openFile', { path: 'C:\\Users\\x\\..\\..\\secret.json' }),
      req('openFile', { path: '/home/someone/.ssh/id_rsa' }),
      req('openFile', { path: 42 }),
    ];
    for (const msg of bad) assert.equal(parseFromWebview(msg), undefined, JSON.stringify(msg) ?? String(msg));
  });

  test('data requests carry a role, a picker kind and bounded options, never a path', () => {
    const cases: [unknown, unknown][] = [
      [req('getData', {}), req('getData', {})],
      [req('getData', { path: '/etc/passwd' }), req('getData', {})],
      [req('chooseData', { role: 'calibration', pick: 'folder', path: '/etc', defaultUri: 'file:///root' }), req('chooseData', { role: 'calibration', pick: 'folder' })],
      [req('chooseData', { role: 'evaluation', pick: 'file' }), req('chooseData', { role: 'evaluation', pick: 'file' })],
      [req('chooseData', { role: 'labels', pick: 'file' }), req('chooseData', { role: 'labels', pick: 'file' })],
      [req('chooseData', { role: 'inputs', pick: 'file' }), req('chooseData', { role: 'inputs', pick: 'file' })],
      [req('clearData', { role: 'labels', path: 'x' }), req('clearData', { role: 'labels' })],
      [req('setDataOptions', { recover: 'ls', out: 'x' }), req('setDataOptions', { recover: 'ls' })],
      [req('setDataOptions', { preset: 'fmnist', calibCount: 256, runs: 30, batch: 16, calibration: '/etc/shadow' }), req('setDataOptions', { preset: 'fmnist', calibCount: 256, runs: 30, batch: 16 })],
      [req('setDataOptions', { preset: 'auto' }), req('setDataOptions', { preset: 'auto' })],
    ];
    for (const [msg, want] of cases) assert.deepEqual(parseFromWebview(msg), want, JSON.stringify(msg));
    const bad: unknown[] = [
      req('getData', 'all'),
      req('getData', []),
      req('chooseData', { role: 'calibration' }),
      req('chooseData', { role: 'weights', pick: 'file' }),
      req('chooseData', { role: 'calibration', pick: 'path' }),
      req('chooseData', { role: 'calibration', pick: '/tmp/data' }),
      req('chooseData', { role: 'labels', pick: 'folder' }),
      req('chooseData', { role: 'inputs', pick: 'folder' }),
      req('chooseData', { role: '__proto__', pick: 'file' }),
      req('chooseData', null),
      req('clearData', { role: 'everything' }),
      req('clearData', {}),
      req('setDataOptions', {}),
      req('setDataOptions', { out: '/tmp/x' }),
      req('setDataOptions', { recover: 'magic' }),
      req('setDataOptions', { recover: 'ls', preset: 'instagram' }),
      req('setDataOptions', { preset: { scale: 1 } }),
      req('setDataOptions', { calibCount: 0 }),
      req('setDataOptions', { calibCount: 1.5 }),
      req('setDataOptions', { calibCount: 1e9 }),
      req('setDataOptions', { runs: NaN }),
      req('setDataOptions', { runs: -3 }),
      req('setDataOptions', { runs: 1e6 }),
      req('setDataOptions', { batch: '8' }),
      req('setDataOptions', { batch: 1e5 }),
    ];
    for (const msg of bad) assert.equal(parseFromWebview(msg), undefined, JSON.stringify(msg));
    const inherited = parseFromWebview(req('setDataOptions', Object.create({ recover: 'ls' }) as object));
    assert.equal(inherited, undefined, 'an inherited key is not read');
  });

  test('a custom preprocessing is rebuilt from its known fields, each bounded; anything else is refused', () => {
    const good = { resize: 256, crop: [224, 224], scale: 1 / 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], channels: 'bgr', layout: 'nhwc' };
    assert.deepEqual(parseFromWebview(req('setDataOptions', { preset: 'custom', custom: good })), req('setDataOptions', { preset: 'custom', custom: good }));
    // optional sizes left out; one mean and std for every channel; a preset name it started from is kept
    const small = { preset: 'fmnist', scale: 0.5, mean: [0], std: [1], channels: 'rgb', layout: 'nchw' };
    assert.deepEqual(parseFromWebview(req('setDataOptions', { custom: small })), req('setDataOptions', { custom: small }));
    // a new object: changing what was sent does not change what the host holds
    const sent = { ...good, mean: [1, 2, 3] };
    const got = parseFromWebview(req('setDataOptions', { preset: 'custom', custom: sent })) as { params: { custom: { mean: number[] } } };
    sent.mean[0] = 99;
    assert.equal(got.params.custom.mean[0], 1);
    const hostile: unknown[] = [
      { ...good, scale: 0 },
      { ...good, scale: -1 },
      { ...good, scale: Infinity },
      { ...good, scale: 1e300 },
      { ...good, scale: '0.5' },
      { ...good, mean: [] },
      { ...good, mean: [NaN] },
      { ...good, mean: [1, 2, 3, 4, 5] },
      { ...good, mean: new Array(100000).fill(0) },
      { ...good, mean: 0.5 },
      { ...good, mean: [1e9] },
      { ...good, std: [0] },
      { ...good, std: [-0.2, 0.2, 0.2] },
      { ...good, std: [0.2, '0.2', 0.2] },
      { ...good, resize: 0 },
      { ...good, resize: 12.5 },
      { ...good, resize: 1e6 },
      { ...good, crop: [224] },
      { ...good, crop: 224 },
      { ...good, crop: [224, 224, 3] },
      { ...good, crop: [-1, 224] },
      { ...good, crop: [1e9, 1e9] },
      { ...good, channels: 'rgba' },
      { ...good, layout: 'nchwc' },
      { ...good, layout: undefined },
      { ...good, preset: 'instagram' },
      { ...good, preset: 'custom' },
      { ...good, out: '/tmp/x' },
      { ...good, ...(JSON.parse('{"__proto__": {"scale": 1}}') as object) },
      { ...good, file: '/etc/passwd' },
      Object.assign(Object.create({ scale: 1, mean: [0], std: [1], channels: 'rgb', layout: 'nchw' }) as object, {}),
      'imagenet',
      [good],
      null,
    ];
    for (const custom of hostile) assert.equal(parseFromWebview(req('setDataOptions', { preset: 'custom', custom })), undefined, JSON.stringify(custom));
    assert.equal(parseFromWebview(req('setDataOptions', { preset: 'custom', custom: { ...good, constructor: { prototype: {} } } })), undefined, 'an unknown key (constructor) is refused');
  });

  test('chooseArray names a role and an array of the chosen .npz, never a path', () => {
    for (const role of ['calibration', 'evaluation', 'inputs', 'labels']) {
      assert.deepEqual(parseFromWebview(req('chooseArray', { role, array: 'x_train', file: '/etc/passwd' })), req('chooseArray', { role, array: 'x_train' }));
    }
    const bad: unknown[] = [
      { role: 'calibration' },
      { role: 'calibration', array: '' },
      { role: 'calibration', array: '../x' },
      { role: 'calibration', array: 'a/b' },
      { role: 'calibration', array: 'a\\b' },
      { role: 'calibration', array: 'x:y' },
      { role: 'calibration', array: '..' },
      { role: 'calibration', array: 'x\0' },
      { role: 'calibration', array: 'x'.repeat(256) },
      { role: 'calibration', array: 3 },
      { role: 'weights', array: 'x' },
      { role: '__proto__', array: 'x' },
      { array: 'x' },
      null,
    ];
    for (const p of bad) assert.equal(parseFromWebview(req('chooseArray', p)), undefined, JSON.stringify(p));
  });

  test('plans rank by any plan criterion (sketch and the data criteria too), nothing else', () => {
    for (const criterion of ['bn-gamma', 'l1', 'l2', 'fpgm', 'sketch', 'activation', 'apoz', 'thinet']) {
      assert.deepEqual(parseFromWebview(req('previewPlan', { plan: { ...plan, criterion } })), req('previewPlan', { plan: { ...plan, criterion } }));
    }
    for (const criterion of ['random', 'Activation', '', 'activation ', 'toString']) assert.equal(parseFromWebview(req('previewPlan', { plan: { ...plan, criterion } })), undefined, criterion);
  });

  test('scan and findPlan carry a plan, a boolean, a budget (MACs or parameter fraction in (0, 1), latency ms > 0, loss points in [0, 100]) and bounded scan settings, never a path', () => {
    const plan = { criterion: 'l1', scope: 'uniform', ratio: 0 };
    assert.deepEqual(parseFromWebview(req('scan', { plan, cachedOnly: true })), { kind: 'request', id: 1, method: 'scan', params: { plan, cachedOnly: true } });
    assert.deepEqual(parseFromWebview(req('scan', { plan, cachedOnly: false, data: '/etc/passwd', ratios: [0.1] })), { kind: 'request', id: 1, method: 'scan', params: { plan, cachedOnly: false } });
    assert.deepEqual(parseFromWebview(req('findPlan', { plan, budget: { kind: 'macs', fraction: 0.5, absolute: 9 } })), { kind: 'request', id: 1, method: 'findPlan', params: { plan, budget: { kind: 'macs', fraction: 0.5 } } });
    assert.deepEqual(parseFromWebview(req('findPlan', { plan, budget: { kind: 'params', fraction: 0.25 } }))?.kind, 'request');
    assert.deepEqual(parseFromWebview(req('findPlan', { plan, budget: { kind: 'latency', ms: 4.5, fraction: 0.3 } })), { kind: 'request', id: 1, method: 'findPlan', params: { plan, budget: { kind: 'latency', ms: 4.5 } } });
    assert.deepEqual(parseFromWebview(req('findPlan', { plan, budget: { kind: 'loss', points: 1 } })), { kind: 'request', id: 1, method: 'findPlan', params: { plan, budget: { kind: 'loss', points: 1 } } });
    // scan settings: sorted ratios, inputs, break loss; unknown keys dropped
    assert.deepEqual(parseFromWebview(req('scan', { plan, cachedOnly: true, settings: { ratios: [0.5, 0.25], inputs: 32, breakLoss: 20, cacheDir: '/tmp' } })),
      { kind: 'request', id: 1, method: 'scan', params: { plan, cachedOnly: true, settings: { ratios: [0.25, 0.5], inputs: 32, breakLoss: 20 } } });
    assert.deepEqual(parseFromWebview(req('findPlan', { plan, budget: { kind: 'macs', fraction: 0.5 }, settings: { inputs: 16 } })), { kind: 'request', id: 1, method: 'findPlan', params: { plan, budget: { kind: 'macs', fraction: 0.5 }, settings: { inputs: 16 } } });
    // Prune of a found plan carries its budget; measureLatency carries nothing
    assert.deepEqual(parseFromWebview(req('prune', { plan, validate: true, target: { kind: 'latency', ms: 3 } })), { kind: 'request', id: 1, method: 'prune', params: { plan, validate: true, target: { kind: 'latency', ms: 3 } } });
    assert.deepEqual(parseFromWebview(req('measureLatency', { path: '/etc/passwd' })), { kind: 'request', id: 1, method: 'measureLatency', params: {} });
    const bad = [
      req('scan', { plan }),
      req('scan', { plan, cachedOnly: 'yes' }),
      req('scan', { plan: { criterion: 'nope', scope: 'uniform' }, cachedOnly: false }),
      req('scan', undefined),
      req('findPlan', { plan }),
      req('findPlan', { plan, budget: { kind: 'latency', fraction: 0.5 } }),
      req('findPlan', { plan, budget: { kind: 'macs', fraction: 0 } }),
      req('findPlan', { plan, budget: { kind: 'macs', fraction: 1 } }),
      req('findPlan', { plan, budget: { kind: 'macs', fraction: 1.5 } }),
      req('findPlan', { plan, budget: { kind: 'macs', fraction: Number.NaN } }),
      req('findPlan', { plan, budget: { kind: 'macs', fraction: '0.5' } }),
      req('findPlan', { plan, budget: { kind: 'params' } }),
      req('findPlan', { plan, budget: Object.create({ kind: 'macs', fraction: 0.5 }) as object }),
      req('findPlan', { plan, budget: { kind: 'latency', ms: 0 } }),
      req('findPlan', { plan, budget: { kind: 'latency', ms: -3 } }),
      req('findPlan', { plan, budget: { kind: 'latency', ms: '4' } }),
      req('findPlan', { plan, budget: { kind: 'loss', points: -1 } }),
      req('findPlan', { plan, budget: { kind: 'loss', points: 101 } }),
      req('findPlan', { plan, budget: { kind: 'loss' } }),
      req('scan', { plan, cachedOnly: true, settings: { ratios: [0.5, 1] } }),
      req('scan', { plan, cachedOnly: true, settings: { ratios: [0.5, 0.5] } }),
      req('scan', { plan, cachedOnly: true, settings: { ratios: [] } }),
      req('scan', { plan, cachedOnly: true, settings: { ratios: Array.from({ length: 33 }, (_, i) => (i + 1) / 40) } }),
      req('scan', { plan, cachedOnly: true, settings: { inputs: 1 } }),
      req('scan', { plan, cachedOnly: true, settings: { inputs: 2.5 } }),
      req('scan', { plan, cachedOnly: true, settings: { breakLoss: 0 } }),
      req('scan', { plan, cachedOnly: true, settings: { breakLoss: 150 } }),
      req('scan', { plan, cachedOnly: true, settings: 'defaults' }),
      req('prune', { plan, validate: true, target: { kind: 'macs', fraction: 2 } }),
      req('measureLatency', 'now'),
    ];
    for (const msg of bad) assert.equal(parseFromWebview(msg), undefined, JSON.stringify(msg));
  });

  test('the view\'s scan defaults are the command line\'s', () => {
    assert.deepEqual([...SCAN_DEFAULTS.ratios], [...DEFAULT_SCAN_RATIOS]);
    assert.equal(SCAN_DEFAULTS.inputs, DEFAULT_SCAN_INPUTS);
    assert.equal(SCAN_DEFAULTS.breakLoss, DEFAULT_BREAK_LOSS);
  });

  test('keys inherited through the prototype are not read', () => {
    const proto = { criterion: 'l1', scope: 'uniform', ratio: 0.5 };
    const sneaky = Object.create(proto) as object;
    assert.equal(parseFromWebview(req('previewPlan', { plan: sneaky })), undefined);
    const viaJson = JSON.parse('{"kind":"request","id":1,"method":"prune","params":{"plan":{"criterion":"l1","scope":"uniform","ratio":0.5},"validate":false,"__proto__":{"out":"/tmp/x.onnx"}}}');
    const m = parseFromWebview(viaJson) as { params: Record<string, unknown> } | undefined;
    assert.ok(m);
    assert.equal(m.params.out, undefined);
    assert.equal(Object.getPrototypeOf(m.params), Object.prototype);
  });
});
