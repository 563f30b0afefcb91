import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import { context, type Span, trace } from '@opentelemetry/api';
import { SeverityNumber } from '@opentelemetry/api-logs';
import {
  FlightRecorderSpanProcessor,
  type FlightRecorderOptions,
  SNAPSHOT_ID_ATTRIBUTE,
  TRIGGER_ATTRIBUTE,
} from '../src/index.js';
import { attr, makeLogging, TestLogExporter } from './helpers/logs.js';
import { TestExporter } from './helpers/test-exporter.js';
import { captureDiag, fail, makeTracing, traceIdOf } from './helpers/tracing.js';

const T0 = 1_800_000_000_000;
beforeEach(() => mock.timers.enable({ apis: ['Date', 'setTimeout'], now: T0 }));
afterEach(() => mock.timers.reset());

function setup(options: FlightRecorderOptions = {}) {
  const exporter = new TestExporter();
  const recorder = new FlightRecorderSpanProcessor({ exporter, flushScope: 'trace', ...options });
  const tracing = makeTracing(recorder);
  const logging = makeLogging(recorder);
  /** Emits a log record inside `span` (or outside any span). */
  const log = (
    body: string,
    span?: Span,
    severityNumber = SeverityNumber.DEBUG,
    attributes: Record<string, unknown> = {},
  ): void => {
    const ctx = span === undefined ? context.active() : trace.setSpan(context.active(), span);
    logging.logger.emit({
      severityNumber,
      severityText: SeverityNumber[severityNumber],
      body,
      attributes: attributes as never,
      context: ctx,
    });
  };
  return { ...tracing, ...logging, exporter, recorder, logs: logging.exporter, log };
}

/** Lets the export loops run (timers are mocked). */
async function settle(t: ReturnType<typeof setup>): Promise<void> {
  for (let i = 0; i < 5; i++) {
    mock.timers.tick(1);
    await t.recorder.forceFlush();
    mock.timers.tick(1);
    await t.processor.forceFlush();
  }
}

test("a trace flush sends exactly that trace's log records, marked as its spans are; interleaved requests do not mix", async () => {
  const t = setup();
  const a = t.start('GET /a', T0);
  const b = t.start('GET /b', T0);
  t.log('a1', a);
  t.log('b1', b);
  const child = t.start('db', T0, a);
  t.log('a2', child);
  child.end(T0 + 1);
  t.log('b2', b);
  t.log('outside');
  fail(a).end(T0 + 2);
  await settle(t);
  const marks = new Set(t.exporter.spans.map((s) => s.attributes[SNAPSHOT_ID_ATTRIBUTE]));
  assert.equal(marks.size, 1);
  const [snapshotId] = [...marks];
  const records = t.logs.records;
  assert.deepEqual(
    records.map((r) => r.body?.stringValue),
    ['a1', 'a2'],
  );
  for (const r of records) {
    assert.equal(r.traceId, traceIdOf(a));
    assert.equal(attr(r, SNAPSHOT_ID_ATTRIBUTE), snapshotId);
    assert.equal(attr(r, TRIGGER_ATTRIBUTE), 'error');
    assert.equal(r.severityNumber, SeverityNumber.DEBUG);
    assert.equal(r.timeUnixNano, String(BigInt(T0) * 1_000_000n));
  }
  assert.equal(records[0]!.spanId, a.spanContext().spanId);
  assert.equal(records[1]!.spanId, child.spanContext().spanId);
  const stats = t.recorder.stats();
  assert.equal(stats.logsRecorded, 5);
  assert.equal(stats.logsExported, 2);
  assert.equal(stats.bufferedLogs, 3, "b's two records and the uncorrelated one stay");
  // b fails later: its own records, no others, none again.
  fail(b).end(T0 + 3);
  await settle(t);
  assert.deepEqual(
    t.logs.records.map((r) => r.body?.stringValue),
    ['a1', 'a2', 'b1', 'b2'],
  );
  await t.recorder.shutdown();
  await t.provider.shutdown();
});

test('after a window flush took a closed trace, its later records follow that flush, an ERROR one too when it could flush nothing', async () => {
  const t = setup({ flushScope: 'window', exportDelayMs: 0, runtimeEvents: false });
  const root = t.start('GET /a', T0);
  const job = t.start('background job', T0, root);
  t.log('in the root', root);
  root.end(T0 + 1);
  await t.recorder.snapshot('manual');
  const windowId = t.exporter.spans[0]!.attributes[SNAPSHOT_ID_ATTRIBUTE];
  t.log('in the job, after the window flush', job);
  await settle(t);
  const marked = () =>
    t.logs.records.map((r) => [r.body?.stringValue, attr(r, SNAPSHOT_ID_ATTRIBUTE)]);
  assert.deepEqual(marked(), [
    ['in the root', windowId],
    ['in the job, after the window flush', windowId],
  ]);
  assert.equal(t.recorder.stats().bufferedLogs, 0);
  // An ERROR record in it could flush nothing (the window took all of the
  // trace): it follows the window flush too, spending no token.
  t.log('the job failed', job, SeverityNumber.ERROR);
  job.end(T0 + 5);
  await settle(t);
  assert.deepEqual(t.recorder.stats().triggers, { manual: 1 });
  assert.deepEqual(marked().slice(2), [['the job failed', windowId]]);
  const jobSpan = t.exporter.spans.find((s) => s.name === 'background job')!;
  assert.equal(jobSpan.attributes[SNAPSHOT_ID_ATTRIBUTE], windowId, 'the job follows it');
  await t.recorder.shutdown();
});

test('a window flush also sends the uncorrelated log records; a snapshot() does too', async () => {
  const t = setup({ flushScope: 'window' });
  const a = t.start('GET /a', T0);
  t.log('in a', a);
  t.log('startup line');
  const other = t.start('GET /other', T0);
  t.log('in other', other);
  other.end(T0 + 1);
  fail(a).end(T0 + 2);
  await settle(t);
  assert.deepEqual(t.logs.records.map((r) => r.body?.stringValue).sort(), [
    'in a',
    'in other',
    'startup line',
  ]);
  assert.ok(t.logs.records.every((r) => attr(r, TRIGGER_ATTRIBUTE) === 'error'));
  t.log('later');
  const result = await t.recorder.snapshot();
  await settle(t);
  const last = t.logs.records.at(-1)!;
  assert.equal(last.body?.stringValue, 'later');
  assert.equal(attr(last, SNAPSHOT_ID_ATTRIBUTE), result.snapshotId);
  assert.equal(attr(last, TRIGGER_ATTRIBUTE), 'manual');
  assert.equal(t.recorder.stats().bufferedLogs, 0);
  await t.recorder.shutdown();
  await t.provider.shutdown();
});

test("a window flush sends the records of traces still open too, under its marks, once: the trace's later flush sends only what came after", async () => {
  const t = setup({ flushScope: 'window' });
  const failed = t.start('GET /failed', T0);
  const open = t.start('GET /open', T0);
  const child = t.start('db', T0, open);
  t.log('in the open root', open);
  t.log('in its child', child);
  child.end(T0 + 1);
  fail(failed).end(T0 + 2);
  await settle(t);
  const window = t.exporter.spans.find((s) => s.name === 'GET /failed')!;
  const windowId = window.attributes[SNAPSHOT_ID_ATTRIBUTE];
  // The open trace's records went with the window flush, marked as it is, and left the ring.
  assert.deepEqual(
    t.logs.records.map((r) => [r.body?.stringValue, attr(r, SNAPSHOT_ID_ATTRIBUTE)]),
    [
      ['in the open root', windowId],
      ['in its child', windowId],
    ],
  );
  assert.equal(t.recorder.stats().bufferedLogs, 0);
  // Its ended child left in the flush and carries its line; its root is still open.
  assert.deepEqual(
    t.exporter.spans.find((s) => s.name === 'db')!.events.map((e) => e.name),
    ['in its child'],
  );
  t.log('after the window flush', open);
  fail(open).end(T0 + 3);
  await settle(t);
  const root = t.exporter.spans.find((s) => s.name === 'GET /open')!;
  const ownId = root.attributes[SNAPSHOT_ID_ATTRIBUTE];
  assert.notEqual(ownId, windowId);
  // Its own flush sends only the later record: nothing twice.
  assert.deepEqual(
    t.logs.records.map((r) => [r.body?.stringValue, attr(r, SNAPSHOT_ID_ATTRIBUTE)]),
    [
      ['in the open root', windowId],
      ['in its child', windowId],
      ['after the window flush', ownId],
    ],
  );
  assert.equal(t.recorder.stats().logsExported, 3);
  // The root's line taken by the window flush is an event on no span.
  assert.deepEqual(
    root.events.map((e) => e.name),
    ['after the window flush'],
  );
  assert.equal(t.recorder.stats().logsAsSpanEvents, 2);
  await t.recorder.shutdown();
  await t.provider.shutdown();
});

test('records at or above the pass-through severity go out at once, unmarked, and a flush does not send them again', async () => {
  const t = setup();
  const a = t.start('GET /a', T0);
  t.log('debug', a);
  t.log('warned', a, SeverityNumber.WARN);
  await settle(t);
  assert.deepEqual(
    t.logs.records.map((r) => [r.body?.stringValue, attr(r, TRIGGER_ATTRIBUTE)]),
    [['warned', undefined]],
  );
  fail(a).end(T0 + 1);
  await settle(t);
  assert.deepEqual(
    t.logs.records.map((r) => [r.body?.stringValue, attr(r, TRIGGER_ATTRIBUTE)]),
    [
      ['warned', undefined],
      ['debug', 'error'],
    ],
  );
  await t.recorder.shutdown();
  await t.provider.shutdown();

  const off = setup({ logPassThroughSeverity: 'off', flushOnErrorLog: false });
  off.log('fatal', undefined, SeverityNumber.FATAL);
  await settle(off);
  assert.equal(off.logs.records.length, 0);
  const debug = setup({ logPassThroughSeverity: 'debug' });
  debug.log('debug');
  debug.log('trace', undefined, SeverityNumber.TRACE);
  await settle(debug);
  assert.deepEqual(
    debug.logs.records.map((r) => r.body?.stringValue),
    ['debug'],
  );
  await off.recorder.shutdown();
  await debug.recorder.shutdown();
});

test('the log ring is bounded by logMaxBytes and logMinAgeMs, and counts what it evicts', async () => {
  const t = setup({ logMaxBytes: 4096, logMinAgeMs: 1_000 });
  for (let i = 0; i < 200; i++) t.log(`line ${i} ${'x'.repeat(40)}`);
  let stats = t.recorder.stats();
  assert.equal(stats.logsRecorded, 200);
  assert.ok(stats.logsEvictedByBytes > 0);
  assert.equal(stats.bufferedLogs + stats.logsEvictedByBytes, 200);
  assert.ok(stats.bufferedLogBytes <= 4096);
  mock.timers.tick(1_001);
  stats = t.recorder.stats();
  assert.equal(stats.bufferedLogs, 0);
  assert.equal(stats.logsEvictedByAge + stats.logsEvictedByBytes, 200);
  // Only the newest stay: a window flush after eviction has only the newest.
  t.log('fresh');
  await t.recorder.snapshot();
  await settle(t);
  assert.deepEqual(
    t.logs.records.map((r) => r.body?.stringValue),
    ['fresh'],
  );
  await t.recorder.shutdown();
});

test('after the wall clock steps back, log records still age out', async () => {
  const t = setup({ logMinAgeMs: 1_000 });
  // The clock ran an hour ahead, then NTP set it right.
  mock.timers.setTime(T0 + 3_600_000);
  t.log('ahead');
  mock.timers.setTime(T0);
  t.log('after');
  mock.timers.tick(500);
  assert.equal(t.recorder.stats().bufferedLogs, 2);
  // The clock goes on at the wall clock's pace: both are past logMinAgeMs.
  mock.timers.tick(600);
  assert.equal(t.recorder.stats().bufferedLogs, 0);
  assert.equal(t.recorder.stats().logsEvictedByAge, 2);
  await t.recorder.shutdown();
});

test('a record larger than logMaxRecordBytes bypasses the ring: sent at once, unmarked, counted', async () => {
  const t = setup({ logMaxRecordBytes: 256 });
  const a = t.start('GET /a', T0);
  t.log('y'.repeat(1_000), a);
  t.log('small', a);
  await settle(t);
  assert.equal(t.recorder.stats().logsOversize, 1);
  assert.equal(t.recorder.stats().bufferedLogs, 1);
  assert.equal(t.logs.records.length, 1);
  assert.equal(t.logs.records[0]!.body?.stringValue?.length, 1_000);
  assert.equal(attr(t.logs.records[0]!, TRIGGER_ATTRIBUTE), undefined);
  await t.recorder.shutdown();
});

test('an oversize ERROR record still triggers error-log, and an oversize record of a flushed trace goes with its marks', async () => {
  // A stack trace past logMaxRecordBytes is the typical large ERROR record.
  const t = setup({ logMaxRecordBytes: 256 });
  const root = t.start('GET /a', T0);
  t.log('before', root);
  t.log(`it broke\n${'    at frame\n'.repeat(100)}`, root, SeverityNumber.ERROR);
  root.end(T0 + 2);
  t.log(`late ${'z'.repeat(1_000)}`, root);
  await settle(t);
  assert.deepEqual(t.recorder.stats().triggers, { 'error-log': 1 });
  assert.deepEqual(
    t.exporter.spans.map((s) => s.name),
    ['GET /a'],
  );
  assert.equal(t.recorder.stats().logsOversize, 2);
  const byBody = new Map(t.logs.records.map((r) => [r.body?.stringValue?.slice(0, 8), r]));
  // The ERROR went at once, unmarked; the record before it went with the flush,
  // and the late oversize one with the flush's marks.
  assert.equal(attr(byBody.get('it broke')!, TRIGGER_ATTRIBUTE), undefined);
  assert.equal(attr(byBody.get('before')!, TRIGGER_ATTRIBUTE), 'error-log');
  assert.equal(attr(byBody.get('late zzz')!, TRIGGER_ATTRIBUTE), 'error-log');
  await t.recorder.shutdown();
});

test('records going out at once stay bounded by logMaxBytes: a burst goes to the queue as it fills, and the oldest are dropped, counted', async () => {
  const logMaxBytes = 64 * 1024;
  const t = setup({ logMaxBytes });
  // Every WARN record passes through; 20,000 of them in one synchronous loop.
  for (let i = 0; i < 20_000; i++)
    t.log(`warn ${i} ${'w'.repeat(40)}`, undefined, SeverityNumber.WARN);
  const processor = t.processor as unknown as {
    _goingBytes: number;
    _exports: { bytes: number };
  };
  assert.ok(processor._goingBytes < logMaxBytes, `${processor._goingBytes} bytes gathered`);
  assert.ok(processor._exports.bytes <= 2 * logMaxBytes, `${processor._exports.bytes} queued`);
  // One larger than logMaxBytes itself is dropped, not held.
  t.log('x'.repeat(2 * logMaxBytes), undefined, SeverityNumber.WARN);
  const stats = t.recorder.stats();
  assert.ok(stats.logsDropped > 0);
  assert.equal(stats.logsOversize, 1);
  await settle(t);
  assert.equal(
    t.logs.records.length + t.recorder.stats().logsDropped,
    20_001,
    'every record exported or counted as dropped',
  );
  await t.recorder.shutdown();
});

test('an ERROR record inside a trace triggers error-log when its local root ends: the whole trace, its records and later ones share one flush', async () => {
  const t = setup();
  const root = t.start('GET /a', T0);
  t.log('before', root);
  const child = t.start('cleanup', T0, root);
  child.end(T0 + 1);
  t.log('it broke', root, SeverityNumber.ERROR);
  t.log('after', root);
  await settle(t);
  assert.equal(t.exporter.spans.length, 0, 'nothing until the root ends');
  root.end(T0 + 2);
  t.log('late', root);
  await settle(t);
  assert.deepEqual(t.recorder.stats().triggers, { 'error-log': 1 });
  assert.deepEqual(t.exporter.spans.map((s) => s.name).sort(), ['GET /a', 'cleanup']);
  assert.ok(t.exporter.spans.every((s) => s.attributes[TRIGGER_ATTRIBUTE] === 'error-log'));
  const snapshotId = t.exporter.spans[0]!.attributes[SNAPSHOT_ID_ATTRIBUTE];
  const sent = t.logs.records.map((r) => [r.body?.stringValue, attr(r, SNAPSHOT_ID_ATTRIBUTE)]);
  // The ERROR record passed through at once (WARN and above), unmarked, and is not sent twice.
  assert.deepEqual(sent.sort(), [
    ['after', snapshotId],
    ['before', snapshotId],
    ['it broke', undefined],
    ['late', snapshotId],
  ]);
  await t.recorder.shutdown();

  const quiet = setup({ flushOnErrorLog: false });
  const r2 = quiet.start('GET /b', T0);
  quiet.log('it broke', r2, SeverityNumber.ERROR);
  r2.end(T0 + 1);
  await settle(quiet);
  assert.equal(quiet.exporter.spans.length, 0);
  assert.deepEqual(quiet.recorder.stats().triggers, {});
  await quiet.recorder.shutdown();
});

test('an ERROR record after its trace ended here flushes what the ring still holds of it; with nothing in reach it flushes nothing and spends no token', async () => {
  const t = setup({ minAgeMs: 1_000, exportDelayMs: 0 });
  const asked: string[] = [];
  const policy = t.recorder._policy;
  t.recorder._policy = {
    reason: (span, root, now) => policy.reason(span, root, now),
    decide: (reason, traceId, span, now) => {
      asked.push(reason);
      return policy.decide(reason, traceId, span, now);
    },
  };
  const root = t.start('GET /a', T0);
  t.start('db', T0, root).end(T0 + 1);
  root.end(T0 + 2);
  // The root ended without a trigger: its records are found from where they
  // begin (the closed-trace table), and go out with the record.
  t.log('broke after the response', root, SeverityNumber.ERROR);
  await settle(t);
  assert.deepEqual(asked, ['error-log']);
  assert.deepEqual(t.exporter.spans.map((s) => s.name).sort(), ['GET /a', 'db']);
  assert.ok(t.exporter.spans.every((s) => s.attributes[TRIGGER_ATTRIBUTE] === 'error-log'));
  // A trace whose records aged out: the policy is not asked (it would spend
  // a token a real error then lacks in a storm).
  const old = t.start('GET /b', T0 + 3);
  old.end(T0 + 4);
  mock.timers.tick(5_000);
  t.start('GET /c', T0 + 5_000).end(T0 + 5_001);
  t.log('broke long after', old, SeverityNumber.ERROR);
  await settle(t);
  assert.deepEqual(asked, ['error-log']);
  assert.equal(t.exporter.spans.length, 2);
  await t.recorder.shutdown();
});

test('an ERROR record follows the trigger policy: a suppressed error-log flushes nothing', async () => {
  const t = setup();
  const asked: string[] = [];
  t.recorder._policy = {
    reason: () => undefined,
    decide: (reason, traceId) => {
      asked.push(`${reason} ${traceId}`);
      return 'suppress';
    },
  };
  const root = t.start('GET /a', T0);
  t.log('it broke', root, SeverityNumber.ERROR);
  root.end(T0 + 1);
  await settle(t);
  assert.deepEqual(asked, [`error-log ${traceIdOf(root)}`]);
  assert.equal(t.exporter.spans.length, 0);
  assert.equal(t.recorder.stats().bufferedLogs, 1);
  await t.recorder.shutdown();
});

test('failed log exports are counted as dropped, reported once; hooks never throw', async () => {
  const diagnostics = captureDiag();
  try {
    const logs = new TestLogExporter();
    logs.fail = true;
    const recorder = new FlightRecorderSpanProcessor({ exporter: new TestExporter() });
    const t = makeLogging(recorder, logs);
    for (let i = 0; i < 3; i++) {
      t.logger.emit({ severityNumber: SeverityNumber.DEBUG, body: `line ${i}` });
    }
    // A record that is not one: still no throw into the app.
    t.processor.onEmit(null as never);
    await recorder.snapshot();
    mock.timers.tick(1);
    await t.processor.forceFlush();
    const stats = recorder.stats();
    assert.equal(stats.logsDropped, 3);
    assert.equal(stats.logsExported, 0);
    assert.equal(
      diagnostics.messages.filter((m) => m.message.includes('log records failed')).length,
      1,
    );
    await recorder.shutdown();
    await t.processor.shutdown();
    assert.equal(logs.shutdowns, 1);
  } finally {
    diagnostics.restore();
  }
});

test('a record whose encoding throws (a body getter) is dropped and counted, reported once; onEmit does not throw, other records are unaffected', async () => {
  const diagnostics = captureDiag();
  try {
    const t = setup();
    const root = t.start('GET /a', T0);
    const throwing = (extra: Record<string, unknown> = {}) =>
      Object.defineProperty({ ...extra }, 'boom', {
        enumerable: true,
        get() {
          throw new Error('a body getter threw');
        },
      });
    const emit = (body: unknown): void =>
      t.logger.emit({
        severityNumber: SeverityNumber.DEBUG,
        body: body as never,
        context: trace.setSpan(context.active(), root),
      });
    emit('before');
    emit(throwing());
    // Past logMaxRecordBytes: the getter throws when the record is encoded again to go out at once.
    emit(throwing({ big: 'x'.repeat(64 * 1024) }));
    emit(throwing());
    emit('after');
    let stats = t.recorder.stats();
    assert.equal(stats.logsDropped, 3);
    assert.equal(stats.logsRecorded, 2);
    assert.equal(stats.bufferedLogs, 2);
    assert.equal(stats.logsOversize, 1);
    assert.equal(
      diagnostics.messages.filter((m) => m.message.includes('a body getter threw')).length,
      1,
    );
    fail(root).end(T0 + 1);
    await settle(t);
    assert.deepEqual(
      t.logs.records.map((r) => r.body?.stringValue),
      ['before', 'after'],
    );
    stats = t.recorder.stats();
    assert.equal(stats.logsExported, 2);
    assert.equal(stats.logsDropped, 3);
    await t.recorder.shutdown();
    await t.provider.shutdown();
  } finally {
    diagnostics.restore();
  }
});

test('logsAsSpanEvents on a window flush: the records go on their spans, found by id, and no leaving span is decoded for it', async () => {
  // Decoding every span of a full window (tens of thousands) blocked the
  // event loop for 0.3-0.9 s whenever the log processor was attached.
  const t = setup({ flushScope: 'window' });
  const spans: Span[] = [];
  for (let i = 0; i < 300; i++) spans.push(t.start(`op ${i}`, T0));
  t.log('in 17', spans[17]);
  t.log('in 250', spans[250], SeverityNumber.INFO);
  t.log('in 250 again', spans[250]);
  t.log('in a span still open', t.start('open', T0));
  for (const span of spans) span.end(T0 + 1);
  let read = 0;
  const recorder = t.recorder as unknown as {
    _contributors: { contribute(flush: { spans: unknown }): unknown }[];
  };
  recorder._contributors = recorder._contributors.map((c) => ({
    contribute: (flush) =>
      c.contribute(
        new Proxy(flush as object, {
          get(target, key, receiver) {
            if (key === 'spans') read++;
            return Reflect.get(target, key, receiver);
          },
        }) as never,
      ),
  }));
  await t.recorder.snapshot();
  await settle(t);
  assert.equal(read, 0, 'flush.spans read');
  const byName = new Map(t.exporter.spans.map((s) => [s.name, s]));
  assert.equal(t.exporter.spans.length, 300);
  assert.deepEqual(
    byName.get('op 17')!.events.map((e) => e.name),
    ['in 17'],
  );
  assert.deepEqual(
    byName.get('op 250')!.events.map((e) => e.name),
    ['in 250', 'in 250 again'],
  );
  assert.equal(t.exporter.spans.filter((s) => s.events.length > 0).length, 2);
  assert.equal(t.recorder.stats().logsAsSpanEvents, 3);
  await t.recorder.shutdown();
});

test('logRecordProcessor() is one per recorder; a disabled recorder records no logs', async () => {
  const recorder = new FlightRecorderSpanProcessor({ exporter: new TestExporter() });
  recorder._logExporter = new TestLogExporter();
  assert.equal(recorder.logRecordProcessor(), recorder.logRecordProcessor());
  const off = new FlightRecorderSpanProcessor({ exporter: new TestExporter(), disabled: true });
  const t = makeLogging(off);
  t.logger.emit({ severityNumber: SeverityNumber.ERROR, body: 'x' });
  assert.equal(off.stats().logsRecorded, 0);
  await recorder.shutdown();
  await off.shutdown();
});

test("logRecordProcessor(options) checks its options as the recorder's constructor does; a later call with other options warns once", async () => {
  const diagnostics = captureDiag();
  try {
    const recorder = new FlightRecorderSpanProcessor({ exporter: new TestExporter() });
    recorder._logExporter = new TestLogExporter();
    const warnings = () => diagnostics.messages.map((m) => m.message);
    // A typo is named, with the option it was likely meant as; the default stays.
    const processor = recorder.logRecordProcessor({ exportLog: false } as never);
    assert.deepEqual(warnings(), [
      'otel-flight-recorder: ignoring the unknown option "exportLog" (did you mean `exportLogs`?)',
    ]);
    // A bad value throws, naming the option and the value as the other options' errors do.
    assert.throws(
      () => recorder.logRecordProcessor({ exportLogs: 'no' as never }),
      (e: unknown) =>
        e instanceof TypeError && e.message === 'Expected `exportLogs` to be a boolean, got "no"',
    );
    assert.throws(
      () => recorder.logRecordProcessor(5 as never),
      (e: unknown) =>
        e instanceof TypeError && e.message === 'Expected options to be an object, got 5',
    );
    // Options are read on the first call: other ones later are said, once, and change nothing.
    diagnostics.messages.length = 0;
    assert.equal(recorder.logRecordProcessor(), processor);
    assert.equal(recorder.logRecordProcessor({ exportLogs: true }), processor);
    assert.deepEqual(warnings(), []);
    assert.equal(recorder.logRecordProcessor({ exportLogs: false }), processor);
    assert.equal(recorder.logRecordProcessor({ exportLogs: false }), processor);
    assert.deepEqual(warnings(), [
      'otel-flight-recorder: logRecordProcessor() was called before with exportLogs: true; ignoring exportLogs: false (its options are read on the first call only)',
    ]);
    await recorder.shutdown();
  } finally {
    diagnostics.restore();
  }
});

test('logsAsSpanEvents: a flush writes each record as an event on the span it was emitted in, in time order, with severity and attributes', async () => {
  const t = setup();
  const root = t.start('GET /a', T0);
  t.log('start', root, SeverityNumber.INFO, { route: '/a' });
  mock.timers.tick(5);
  const child = t.start('db', T0, root);
  t.log('query', child, SeverityNumber.DEBUG, { rows: 3 });
  child.end(T0 + 6);
  mock.timers.tick(5);
  t.log('failing', root, SeverityNumber.DEBUG);
  t.log('outside');
  fail(root).end(T0 + 20);
  await settle(t);
  const byName = new Map(t.exporter.spans.map((s) => [s.name, s]));
  const rootEvents = byName.get('GET /a')!.events;
  assert.deepEqual(
    rootEvents.map((e) => e.name),
    ['start', 'failing'],
  );
  assert.deepEqual(rootEvents[0]!.attributes, {
    'log.severity': 'INFO',
    'log.severity_number': SeverityNumber.INFO,
    route: '/a',
  });
  assert.deepEqual(rootEvents[0]!.time, [Math.floor(T0 / 1000), (T0 % 1000) * 1e6]);
  assert.deepEqual(rootEvents[1]!.time, [Math.floor(T0 / 1000), ((T0 % 1000) + 10) * 1e6]);
  const dbEvents = byName.get('db')!.events;
  assert.deepEqual(
    dbEvents.map((e) => [e.name, e.attributes?.rows]),
    [['query', 3]],
  );
  assert.equal(t.recorder.stats().logsAsSpanEvents, 3);
  // The same three records go to OTLP logs too, once each.
  assert.deepEqual(t.logs.records.map((r) => r.body?.stringValue).sort(), [
    'failing',
    'query',
    'start',
  ]);
  await t.recorder.shutdown();

  const off = setup({ logsAsSpanEvents: false });
  const r2 = off.start('GET /b', T0);
  off.log('line', r2);
  fail(r2).end(T0 + 1);
  await settle(off);
  assert.equal(off.exporter.spans[0]!.events.length, 0);
  assert.equal(off.logs.records.length, 1);
  await off.recorder.shutdown();
});

test('a window flush writes events on the triggering span too, and a body that is not a string goes in log.body', async () => {
  const t = setup({ flushScope: 'window' });
  const root = t.start('GET /a', T0);
  t.logger.emit({
    severityNumber: SeverityNumber.WARN,
    severityText: 'WARN',
    body: { code: 7 } as never,
    context: trace.setSpan(context.active(), root),
  });
  fail(root).end(T0 + 1);
  await settle(t);
  const [span] = t.exporter.spans;
  assert.deepEqual(
    span!.events.map((e) => [e.name, e.attributes?.['log.body']]),
    [['log', { code: 7 }]],
  );
  await t.recorder.shutdown();
});

test('snapshots show the buffered log lines as events on their spans, without taking them; a crash dump puts them before the exception', async () => {
  const t = setup();
  const root = t.start('GET /a', T0);
  const child = t.start('db', T0, root);
  t.log('querying', child);
  child.end(T0 + 1);
  t.log('still working', root);
  const chunks: Buffer[] = [];
  const { Writable } = await import('node:stream');
  const out = new Writable({
    write(chunk, _encoding, done) {
      chunks.push(Buffer.from(chunk));
      done();
    },
  });
  await t.recorder.writeSnapshot(out);
  const body = JSON.parse(Buffer.concat(chunks).toString()) as {
    resourceSpans: { scopeSpans: { spans: { name: string; events?: { name: string }[] }[] }[] }[];
  };
  const spans = body.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
  assert.deepEqual(
    spans.map((s) => [s.name, (s.events ?? []).map((e) => e.name)]),
    [['db', ['querying']]],
  );
  assert.equal(t.recorder.stats().bufferedLogs, 2, 'a snapshot takes nothing');

  // The open root's lines, for a crash dump.
  const { crashDumpSpans } = await import('../src/snapshot/crash-dump.js');
  const dumped = crashDumpSpans(
    t.recorder._windowSpans(),
    [root as never],
    { error: new Error('boom'), time: T0 + 5, active: root as never },
    'crash-id',
    t.recorder._logEventsBySpan(),
  );
  const open = dumped.find((s) => s.name === 'GET /a')!;
  assert.deepEqual(
    open.events.map((e) => e.name),
    ['still working', 'exception'],
  );
  await t.recorder.shutdown();
});

test("flight-recorder view shows each span's log lines under it, with severity, in time order", async () => {
  const { parseSnapshot } = await import('../src/cli/read-snapshot.js');
  const { renderWaterfall } = await import('../src/cli/waterfall.js');
  const { makeStyle } = await import('../src/cli/style.js');
  const { Writable } = await import('node:stream');
  const t = setup({ flushOnErrorLog: false });
  const root = t.start('GET /pay', T0);
  const child = t.start('charge card', T0, root);
  mock.timers.tick(2);
  t.log('calling the bank', child, SeverityNumber.DEBUG);
  mock.timers.tick(3);
  t.log('bank said no', child, SeverityNumber.ERROR);
  child.end(T0 + 6);
  root.end(T0 + 8);
  const chunks: Buffer[] = [];
  await t.recorder.writeSnapshot(
    new Writable({
      write(chunk, _encoding, done) {
        chunks.push(Buffer.from(chunk));
        done();
      },
    }),
  );
  const out = renderWaterfall(parseSnapshot(Buffer.concat(chunks).toString(), 'snap.json'), {
    columns: 100,
    style: makeStyle(false),
  });
  const lines = out.split('\n');
  const at = lines.findIndex((l) => l.includes('charge card'));
  assert.ok(at >= 0, out);
  assert.match(lines[at + 1]!, /· \+2ms DEBUG calling the bank$/);
  assert.match(lines[at + 2]!, /· \+5ms ERROR bank said no$/);
  await t.recorder.shutdown();
});

test('exportLogs: false keeps records for span events and snapshots only; FlushInfo counts the records a flush took', async () => {
  const flushes: { logs: number; spans: number }[] = [];
  const exporter = new TestExporter();
  const recorder = new FlightRecorderSpanProcessor({
    exporter,
    flushScope: 'trace',
    onFlush: (f) => flushes.push({ logs: f.logs, spans: f.spans }),
  });
  const logs = new TestLogExporter();
  recorder._logExporter = logs;
  const processor = recorder.logRecordProcessor({ exportLogs: false });
  assert.throws(
    () => new FlightRecorderSpanProcessor().logRecordProcessor({ exportLogs: 'no' as never }),
    /Expected `exportLogs` to be a boolean, got "no"/,
  );
  const { LoggerProvider } = await import('@opentelemetry/sdk-logs');
  const logger = new LoggerProvider({ processors: [processor] }).getLogger('t');
  const tracing = makeTracing(recorder);
  const root = tracing.start('GET /a', T0);
  for (const severityNumber of [SeverityNumber.DEBUG, SeverityNumber.WARN]) {
    logger.emit({
      severityNumber,
      body: `line ${severityNumber}`,
      context: trace.setSpan(context.active(), root),
    });
  }
  fail(root).end(T0 + 1);
  mock.timers.tick(5);
  await recorder.forceFlush();
  await processor.forceFlush();
  assert.equal(logs.requests.length, 0, 'nothing over OTLP logs');
  assert.deepEqual(
    exporter.spans[0]!.events.map((e) => e.name),
    ['line 5', 'line 13'],
  );
  assert.deepEqual(flushes, [{ logs: 2, spans: 1 }]);
  await recorder.shutdown();
});
