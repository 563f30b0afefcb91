import assert from 'node:assert/strict';
import { readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { context, INVALID_SPAN_CONTEXT, trace } from '@opentelemetry/api';
import type { ReadableSpan } from '@opentelemetry/sdk-trace';
import { JsonTraceSerializer } from '@opentelemetry/otlp-transformer';
import {
  crashDumpSpans,
  innermostOpenSpan,
  MAX_DUMP_BYTES,
  writeCrashDump,
} from '../src/snapshot/crash-dump.js';
import { FlightRecorderSpanProcessor } from '../src/index.js';
import { main } from '../src/cli/main.js';
import { parseSnapshot } from '../src/cli/read-snapshot.js';
import { startChild, waitForFiles, within } from './fixtures/child.js';
import { attributesOf, type OtlpSpan, spansOf } from './fixtures/otlp.js';
import { makeRecorder, recordTraces, shuttingDownWhileExporting } from './fixtures/recorder.js';
import { tempDir } from './helpers/temp-dir.js';
import { TestExporter } from './helpers/test-exporter.js';
import { captureStderr } from './helpers/stderr.js';
import { captureDiag, makeTracing } from './helpers/tracing.js';

async function readDump(dir: string): Promise<{ name: string; spans: OtlpSpan[] }> {
  const [name] = await waitForFiles(dir, 1, 1_000);
  const body: unknown = JSON.parse(await readFile(join(dir, name!), 'utf8'));
  return { name: name!, spans: spansOf(body) };
}

/** Runs the child app in `mode` with crash dumps on; its exit and its one dump. */
async function crashedChild(mode: string) {
  const dir = tempDir();
  const exited = await within(
    startChild(mode, { FLIGHT_RECORDER_CRASH_DUMP: 'true', FLIGHT_RECORDER_SNAPSHOT_DIR: dir })
      .exited,
    45_000,
    'child',
  );
  return { exited, ...(await readDump(dir)) };
}

function byName(spans: OtlpSpan[], name: string): OtlpSpan {
  const span = spans.find((s) => s.name === name);
  assert.ok(span, `no span named ${name}`);
  return span;
}

// The child processes take most of the time: let them run side by side.
describe('crash dump', { concurrency: true }, () => {
  test('a child dying of an uncaught exception exits as before and leaves the window and its open spans', async () => {
    const dir = tempDir();
    const [without, withDump] = await Promise.all([
      within(startChild('throw', { FLIGHT_RECORDER_SNAPSHOT_DIR: dir }).exited, 45_000, 'child'),
      within(
        startChild('throw', {
          FLIGHT_RECORDER_CRASH_DUMP: 'true',
          FLIGHT_RECORDER_SNAPSHOT_DIR: dir,
        }).exited,
        45_000,
        'child',
      ),
    ]);
    assert.equal(without.code, 1);
    assert.equal(withDump.code, without.code, 'the exit code is unchanged');
    assert.equal(withDump.signal, null);
    assert.match(
      withDump.stderr,
      /TypeError: card declined: kaboom/,
      'Node still reports the error',
    );
    assert.match(withDump.stderr, /crash dump written to /);

    const { name, spans } = await readDump(dir);
    assert.match(name, /^flight-recorder-.*-crash-[0-9a-f]{16}\.json$/);
    const snapshotId = /-crash-([0-9a-f]{16})\.json$/.exec(name)![1];
    assert.equal(spans.length, 9, '2 traces of 3, load cart, and the 2 open spans');
    for (const span of spans) {
      const attributes = attributesOf(span);
      assert.equal(attributes['flight_recorder.trigger'], 'crash');
      assert.equal(attributes['flight_recorder.snapshot.id'], snapshotId);
    }

    const charge = byName(spans, 'charge card');
    const checkout = byName(spans, 'GET /checkout');
    for (const open of [charge, checkout]) {
      assert.equal(attributesOf(open)['flight_recorder.unfinished'], true);
      assert.ok(BigInt(open.endTimeUnixNano) >= BigInt(open.startTimeUnixNano));
    }
    assert.equal(charge.endTimeUnixNano, checkout.endTimeUnixNano, 'both ended at the crash');
    assert.equal(attributesOf(byName(spans, 'load cart'))['flight_recorder.unfinished'], undefined);

    // The exception lands on the innermost open span: where it was thrown.
    assert.equal(checkout.events.length, 0);
    assert.equal(charge.events.length, 1);
    const event = charge.events[0]!;
    assert.equal(event.name, 'exception');
    const exception = attributesOf(event);
    assert.equal(exception['exception.type'], 'TypeError');
    assert.equal(exception['exception.message'], 'card declined: kaboom');
    assert.match(String(exception['exception.stacktrace']), /child-app\.ts/);
    assert.deepEqual(charge.status, { code: 2, message: 'card declined: kaboom' });
  });

  test('an unhandled rejection that ends the process is dumped too, and the exit code is unchanged', async () => {
    const { exited, spans } = await crashedChild('reject');
    assert.equal(exited.code, 1);
    assert.match(exited.stderr, /RangeError: amount out of range/);
    const exception = attributesOf(byName(spans, 'charge card').events[0]!);
    assert.equal(exception['exception.type'], 'RangeError');
  });

  test("the app's own uncaughtException handler still decides how the process ends", async () => {
    const dir = tempDir();
    const exited = await within(
      startChild('handled', {
        FLIGHT_RECORDER_CRASH_DUMP: 'true',
        FLIGHT_RECORDER_SNAPSHOT_DIR: dir,
      }).exited,
      45_000,
      'child',
    );
    assert.equal(exited.code, 7);
    assert.match(exited.stderr, /app handler: card declined: kaboom/);
    await readDump(dir);
  });

  test('an unwritable directory is reported and the process still dies as it would have', async () => {
    const dir = tempDir();
    const file = join(dir, 'not-a-directory');
    await writeFile(file, 'x');
    const exited = await within(
      startChild('throw', {
        FLIGHT_RECORDER_CRASH_DUMP: 'true',
        FLIGHT_RECORDER_SNAPSHOT_DIR: join(file, 'dumps'),
      }).exited,
      45_000,
      'child',
    );
    assert.equal(exited.code, 1);
    assert.match(exited.stderr, /crash dump not written: .*cannot write snapshot files/);
    assert.match(exited.stderr, /TypeError: card declined: kaboom/);
  });

  test('the monitor listener is installed only when asked, and removed on shutdown', async () => {
    const before = process.listenerCount('uncaughtExceptionMonitor');
    const off = new FlightRecorderSpanProcessor({ exporter: new TestExporter() });
    assert.equal(process.listenerCount('uncaughtExceptionMonitor'), before);
    const on = new FlightRecorderSpanProcessor({
      exporter: new TestExporter(),
      crashDump: true,
      snapshotDir: tempDir(),
    });
    assert.equal(process.listenerCount('uncaughtExceptionMonitor'), before + 1);
    await on.shutdown();
    await off.shutdown();
    assert.equal(process.listenerCount('uncaughtExceptionMonitor'), before);
  });

  test('a failed dump logs once through diag and never throws from the listener', async () => {
    const dir = tempDir();
    const file = join(dir, 'file');
    await writeFile(file, 'x');
    const diagnostics = captureDiag();
    try {
      const recorder = new FlightRecorderSpanProcessor({
        exporter: new TestExporter(),
        crashDump: true,
        snapshotDir: join(file, 'sub'),
      });
      const emit = process.emit as (event: string, ...args: unknown[]) => boolean;
      emit.call(process, 'uncaughtExceptionMonitor', new Error('pretend'), 'uncaughtException');
      const errors = diagnostics.messages.filter((m) => m.level === 'error');
      assert.equal(errors.length, 1);
      assert.match(errors[0]!.message, /crash dump not written/);
      await recorder.shutdown();
    } finally {
      diagnostics.restore();
    }
  });

  test('a crash with no span open still records the exception, on a span of its own under the active one', async () => {
    const { exited, spans } = await crashedChild('late-throw');
    assert.equal(exited.code, 1);
    assert.match(exited.stderr, /TypeError: receipt mailer failed: kaboom/);
    assert.equal(spans.length, 10, '2 traces of 3, the 3 ended spans of GET /checkout, the crash');
    assert.ok(spans.every((s) => attributesOf(s)['flight_recorder.unfinished'] === undefined));
    const crash = byName(spans, 'uncaught exception');
    const charge = byName(spans, 'charge card');
    assert.equal(
      crash.traceId,
      charge.traceId,
      'in the trace of the span active where it was thrown',
    );
    assert.equal(crash.parentSpanId, charge.spanId);
    assert.equal(crash.startTimeUnixNano, crash.endTimeUnixNano);
    assert.ok(BigInt(crash.startTimeUnixNano) >= BigInt(charge.endTimeUnixNano));
    assert.deepEqual(crash.status, { code: 2, message: 'receipt mailer failed: kaboom' });
    assert.equal(crash.events.length, 1);
    assert.equal(crash.events[0]!.name, 'exception');
    assert.equal(attributesOf(crash.events[0]!)['exception.type'], 'TypeError');
    assert.equal(attributesOf(crash)['flight_recorder.trigger'], 'crash');
    assert.equal(charge.events.length, 0, 'the ended span is left as it was');
  });

  test('a bad crashDump option throws a TypeError naming it', () => {
    assert.throws(
      () => new FlightRecorderSpanProcessor({ crashDump: 'yes' as never }),
      /Expected `crashDump` to be a boolean, got "yes"/,
    );
  });
});

// One at a time: these find the recorder's listener among the process's, and capture diag or stderr.
describe('crash dump, one at a time', () => {
  test('a crash while shutdown waits for an export still dumps what is being exported', async () => {
    const before = process.listenerCount('uncaughtExceptionMonitor');
    const dir = tempDir();
    const { shutdown } = await shuttingDownWhileExporting({ crashDump: true, snapshotDir: dir });
    assert.equal(process.listenerCount('uncaughtExceptionMonitor'), before + 1);
    const ours = process.listeners('uncaughtExceptionMonitor').at(-1)!;
    const diagnostics = captureDiag();
    try {
      ours(new Error('crashed during shutdown'), 'uncaughtException');
    } finally {
      diagnostics.restore();
    }
    const { spans } = await readDump(dir);
    assert.deepEqual(
      spans.map((s) => s.name).sort(),
      ['GET /item/0', 'GET /item/1', 'task 1', 'task 1', 'task 2', 'task 2', 'uncaught exception'],
      'the spans in flight, and the crash',
    );
    await shutdown;
    assert.equal(process.listenerCount('uncaughtExceptionMonitor'), before);
  });

  test('with no diag logger, the dump is named on stderr', async () => {
    const dir = tempDir();
    const { recorder, tracer } = makeRecorder({ crashDump: true, snapshotDir: dir });
    recordTraces(tracer, 1);
    const ours = process.listeners('uncaughtExceptionMonitor').at(-1)!;
    const stderr = captureStderr();
    try {
      ours(new Error('pretend'), 'uncaughtException');
    } finally {
      stderr.restore();
    }
    const { name } = await readDump(dir);
    assert.equal(stderr.text(), `otel-flight-recorder: crash dump written to ${join(dir, name)}\n`);
    await recorder.shutdown();
  });

  test('an exception that cannot be read still leaves a dump, which says so', async () => {
    const unreadable = Object.defineProperty(new Error('hidden'), 'message', {
      get() {
        throw new Error('no message for you');
      },
    });
    const { proxy, revoke } = Proxy.revocable({}, {});
    revoke();
    for (const error of [unreadable, proxy]) {
      const dir = tempDir();
      const { recorder, tracer } = makeRecorder();
      recordTraces(tracer, 1);
      const { path } = writeCrashDump(recorder, room(dir), { error, time: Date.now() });
      const spans = spansOf(JSON.parse(await readFile(path, 'utf8')));
      assert.equal(spans.length, 4, 'the window and the crash');
      const crash = byName(spans, 'uncaught exception');
      assert.deepEqual(attributesOf(crash.events[0]!), {
        'exception.type': 'unknown',
        'exception.message': 'the exception could not be read',
      });
      await recorder.shutdown();
    }
  });
});

describe('innermostOpenSpan', () => {
  test('is the active span when open, else its nearest open ancestor, else the latest started', async () => {
    const { recorder, tracer } = makeRecorder({ crashDump: true, snapshotDir: tempDir() });
    recordTraces(tracer, 1);
    // Epoch times: the SDK reads a number below performance.now() as an offset
    // from the time origin, so small numbers would flip with process uptime.
    const t0 = Date.now();
    const root = tracer.startSpan('root', { startTime: t0 });
    const a = tracer.startSpan('a', { startTime: t0 + 1 }, trace.setSpan(context.active(), root));
    const b = tracer.startSpan('b', { startTime: t0 + 2 }, trace.setSpan(context.active(), a));
    b.end(t0 + 3);
    const other = tracer.startSpan('other', { startTime: t0 + 1000 });
    const open = [...recorder._trackOpenSpans()];
    const window = recorder._windowSpans();
    const name = (s: unknown) => (s as { name: string } | undefined)?.name;

    assert.equal(name(innermostOpenSpan(open, window, a as never)), 'a');
    assert.equal(
      name(innermostOpenSpan(open, window, root as never)),
      'a',
      'the open span below the active one that started last (startActiveSpan unwound)',
    );
    assert.equal(name(innermostOpenSpan(open, window, b as never)), 'a', 'b ended: its parent');
    assert.equal(name(innermostOpenSpan(open, window, undefined)), 'other', 'latest started');
    assert.equal(innermostOpenSpan([], window, a as never), undefined);

    const spans = crashDumpSpans(window, open, { error: 'plain string', time: t0 + 2000 }, 'id');
    const dumped = spans.find((s) => s.name === 'other')!;
    assert.deepEqual(dumped.events[0]!.attributes, {
      'exception.type': 'string',
      'exception.message': 'plain string',
    });
    assert.equal(dumped.attributes['flight_recorder.unfinished'], true);
    assert.equal(
      (other as unknown as { ended: boolean }).ended,
      false,
      'the real span is not ended',
    );
    assert.deepEqual((other as unknown as { events: unknown[] }).events, []);
    await recorder.shutdown();
  });

  test('with no span open, the exception gets a span of its own: under the active span, else alone', async () => {
    const { recorder, tracer } = makeRecorder({ crashDump: true, snapshotDir: tempDir() });
    recordTraces(tracer, 1);
    const t0 = Date.now();
    const done = tracer.startSpan('done', { startTime: t0 });
    done.end(t0 + 5);
    const window = recorder._windowSpans();
    const crash = { error: new RangeError('late'), time: t0 + 10 };
    const under = crashDumpSpans(window, [], { ...crash, active: done as never }, 'id');
    assert.equal(under.length, window.length + 1);
    const span = under.find((s) => s.name === 'uncaught exception')!;
    assert.equal(span.spanContext().traceId, done.spanContext().traceId);
    assert.equal(span.parentSpanContext?.spanId, done.spanContext().spanId);
    assert.equal(span.resource, (done as unknown as { resource: unknown }).resource);
    assert.deepEqual(span.status, { code: 2, message: 'late' });
    assert.equal(span.events[0]!.attributes!['exception.type'], 'RangeError');
    assert.equal(span.attributes['flight_recorder.trigger'], 'crash');

    // Its ids are made once: every reader sees the same.
    assert.equal(span.spanContext().spanId, span.spanContext().spanId);
    // It never starts before the span it belongs to ended, though the crash time is whole ms.
    const late = crashDumpSpans([], [], { ...crash, time: t0 + 4, active: done as never }, 'id');
    assert.deepEqual(late[0]!.startTime, (done as unknown as { endTime: unknown }).endTime);

    // A remote parent (only an extracted context was active) keeps its trace; an invalid one
    // starts a new trace. Either way the resource is the one the recorder saw last.
    const remote = trace.wrapSpanContext({
      traceId: '0af7651916cd43dd8448eb211c80319c',
      spanId: 'b7ad6b7169203331',
      traceFlags: 1,
      isRemote: true,
    });
    const seen = (done as unknown as { resource: ReadableSpan['resource'] }).resource;
    const [fromRemote] = crashDumpSpans(
      [],
      [],
      { ...crash, active: remote as never },
      'id',
      undefined,
      seen,
    );
    assert.equal(fromRemote!.spanContext().traceId, '0af7651916cd43dd8448eb211c80319c');
    assert.equal(fromRemote!.parentSpanContext?.isRemote, true);
    assert.equal(fromRemote!.resource, seen);
    const invalid = trace.wrapSpanContext(INVALID_SPAN_CONTEXT);
    const [fromInvalid] = crashDumpSpans(
      [],
      [],
      { ...crash, active: invalid as never },
      'id',
      undefined,
      seen,
    );
    assert.equal(fromInvalid!.parentSpanContext, undefined);
    assert.notEqual(fromInvalid!.spanContext().traceId, INVALID_SPAN_CONTEXT.traceId);
    assert.equal(fromInvalid!.resource, seen);
    assert.equal(
      recorder._lastResource(),
      seen,
      'the recorder hands over the resource it saw last',
    );

    const alone = crashDumpSpans([], [], crash, 'id');
    assert.equal(alone.length, 1);
    assert.equal(alone[0]!.parentSpanContext, undefined);
    assert.match(alone[0]!.spanContext().traceId, /^[0-9a-f]{32}$/);
    assert.equal(alone[0]!.resource.attributes['service.name'], `unknown_service:${process.argv0}`);
    // Both serialize as OTLP, so a dump holding only the crash is still a valid file.
    assert.ok(JsonTraceSerializer.serializeRequest(alone)!.length > 0);
    await recorder.shutdown();
  });
});

describe('a crash dump of a large window', () => {
  test('holds the newest 16 MiB of spans at most, whatever maxBytes is, and says how many it left out', async () => {
    const dir = tempDir();
    const recorder = new FlightRecorderSpanProcessor({
      exporter: new TestExporter(),
      maxBytes: 64 << 20,
      minAgeMs: 3_600_000,
      triggers: [],
      runtimeEvents: false,
    });
    const { provider } = makeTracing(recorder);
    const tracer = provider.getTracer('big');
    const payload = 'x'.repeat(2_000);
    // About 24 MiB of spans, more than a dump holds.
    const now = Date.now();
    for (let i = 0; i < 12_000; i++) {
      const s = tracer.startSpan(`span ${i}`, { startTime: now, attributes: { payload } });
      s.end(now + 1);
    }
    const { path, left } = writeCrashDump(
      recorder,
      { directory: dir, maxFiles: 10, maxTotalBytes: 256 << 20 },
      { error: new Error('boom'), time: Date.now(), active: undefined },
    );
    const spans = spansOf(JSON.parse(await readFile(path, 'utf8')));
    const held = spans.filter((s) => s.name.startsWith('span '));
    assert.ok(left > 0, 'some spans were left out');
    assert.equal(held.length + left, 12_000);
    // The newest are kept, up to the bound (each span is a little over 2 KB).
    assert.ok(held.some((s) => s.name === 'span 11999'));
    assert.ok(!held.some((s) => s.name === 'span 0'));
    assert.ok(held.length * 2_000 <= MAX_DUMP_BYTES && held.length * 2_100 > MAX_DUMP_BYTES * 0.9);
    await recorder.shutdown();
  });
});

/** A dump's directory options for a test: room for anything. */
const room = (directory: string) => ({ directory, maxFiles: 10, maxTotalBytes: 256 << 20 });

describe('a crash dump with bad open spans', () => {
  test('is written and readable whatever the app put in an open span, with the good spans intact', async () => {
    const dir = tempDir();
    const { recorder, tracer } = makeRecorder({ crashDump: true, snapshotDir: dir });
    const traces = recordTraces(tracer, 2);
    const t0 = Date.now();
    const good = tracer.startSpan('open, good', { startTime: t0, attributes: { route: '/x' } });
    good.addEvent('before', { a: 1 }, t0 + 1);
    // What a bad computation or a careless caller hands the SDK, which keeps it.
    tracer.startSpan('open, NaN start', { startTime: NaN });
    tracer.startSpan('open, bad event time', { startTime: t0 }).addEvent('tick', {}, new Date('x'));
    tracer.startSpan('open, bad link', {
      startTime: t0,
      links: [{ context: { traceId: 'not-hex', spanId: 'xyz', traceFlags: 1 } }],
    });
    // Past any repair: a status message that throws when the serializer reads it.
    const hostile = tracer.startSpan('open, hostile status', { startTime: t0 });
    Object.defineProperty(hostile, 'status', {
      value: Object.defineProperty({ code: 0 }, 'message', {
        enumerable: true,
        get: () => {
          throw new Error('no message for you');
        },
      }),
    });
    // Set after it started: the dump reads the span as it stands at the crash.
    good.setAttribute('late', true);
    const carrier = tracer.startSpan('open, carries it', { startTime: t0 + 2 });
    const { path, skipped } = writeCrashDump(recorder, room(dir), {
      error: new TypeError('boom'),
      time: t0 + 10,
      active: carrier as never,
    });
    assert.equal(skipped, 1, 'only the span that cannot be written is left out');

    const snapshot = parseSnapshot(await readFile(path, 'utf8'), path);
    const names = snapshot.spans.map((s) => s.name);
    for (const id of traces) {
      assert.equal(snapshot.spans.filter((s) => s.traceId === id).length, 3, 'the window is whole');
    }
    assert.ok(!names.includes('open, hostile status'));
    const find = (n: string) => snapshot.spans.find((s) => s.name === n)!;
    const crashNs = BigInt(t0 + 10) * 1_000_000n;
    for (const n of ['open, good', 'open, NaN start', 'open, bad event time', 'open, bad link']) {
      const span = find(n);
      assert.ok(span, `${n} is in the dump`);
      assert.equal(span.unfinished, true);
      assert.equal(span.end, crashNs, `${n} ends at the crash`);
      assert.ok(span.start <= span.end);
    }
    const kept = find('open, good');
    assert.equal(kept.start, BigInt(t0) * 1_000_000n);
    assert.deepEqual(kept.attributes.route, '/x');
    assert.equal(kept.attributes.late, true);
    assert.deepEqual(
      kept.events.map((e) => e.name),
      ['before'],
    );
    assert.equal(find('open, NaN start').start, crashNs, 'a lost start becomes the end');
    assert.equal(find('open, bad event time').events[0]!.name, 'tick');
    const carried = find('open, carries it');
    assert.equal(carried.statusCode, 2);
    assert.deepEqual(
      carried.events.map((e) => e.name),
      ['exception'],
    );

    // The raw file, as a collector gets it: every id hex, the bad link repaired.
    const raw = spansOf(JSON.parse(await readFile(path, 'utf8')));
    const link = (
      raw.find((s) => s.name === 'open, bad link') as unknown as {
        links: { traceId: string; spanId: string }[];
      }
    ).links[0]!;
    assert.match(link.traceId, /^[0-9a-f]{32}$/);
    assert.match(link.spanId, /^[0-9a-f]{16}$/);

    // And the CLI shows it.
    let out = '';
    const code = await main(['view', path], {
      out: (text) => (out += text),
      err: (text) => (out += text),
      env: {},
      columns: 100,
      color: false,
      version: '0.0.0-test',
    });
    assert.equal(code, 0, out);
    assert.match(out, /open, NaN start/);
    assert.match(out, /TypeError: boom/);
    await recorder.shutdown();
  });

  test("when the span that would carry the exception cannot be written, the dump's own span carries it", async () => {
    const dir = tempDir();
    const { recorder, tracer } = makeRecorder({ crashDump: true, snapshotDir: dir });
    recordTraces(tracer, 1);
    const t0 = Date.now();
    const hostile = tracer.startSpan('open, hostile', { startTime: t0 });
    // Set (so the dump keeps it), with a message that throws when the serializer reads it.
    Object.defineProperty(hostile, 'status', {
      value: Object.defineProperty({ code: 1 }, 'message', {
        enumerable: true,
        get: () => {
          throw new Error('no message for you');
        },
      }),
    });
    const { path, skipped } = writeCrashDump(recorder, room(dir), {
      error: new RangeError('late'),
      time: t0 + 10,
      active: hostile as never,
    });
    assert.equal(skipped, 1);
    const snapshot = parseSnapshot(await readFile(path, 'utf8'), path);
    assert.equal(snapshot.spans.length, 4, 'the trace of 3 and the exception');
    const own = snapshot.spans.find((s) => s.name === 'uncaught exception')!;
    assert.equal(own.parentSpanId, hostile.spanContext().spanId);
    assert.equal(own.events[0]!.attributes['exception.message'], 'late');
    await recorder.shutdown();
  });
});

describe('where the exception goes', () => {
  test('on the span that threw inside startActiveSpan, not on the span active once the throw unwound', async () => {
    const dir = tempDir();
    const { recorder, tracer } = makeRecorder({ crashDump: true, snapshotDir: dir });
    const server = tracer.startSpan('GET /orders');
    const serverContext = trace.setSpan(context.active(), server);
    tracer.startSpan('orders.load', {}, serverContext).end();
    // Another request, in a trace of its own, whose span started later: not a candidate.
    const other = tracer.startSpan('GET /other');
    context.with(serverContext, () => {
      try {
        tracer.startActiveSpan('orders.validate', () => {
          throw new TypeError('bad order');
        });
      } catch (error) {
        later(other);
        // Where Node's monitor runs for an uncaught throw: the stack unwound,
        // so the active span is GET /orders again.
        assert.equal(trace.getSpan(context.active()), server);
        const emit = process.emit as (event: string, ...args: unknown[]) => boolean;
        emit.call(process, 'uncaughtExceptionMonitor', error, 'uncaughtException');
      }
    });
    const { spans } = await readDump(dir);
    const validate = byName(spans, 'orders.validate');
    assert.equal(validate.parentSpanId, server.spanContext().spanId);
    assert.deepEqual(
      validate.events.map((e) => e.name),
      ['exception'],
    );
    assert.equal(attributesOf(validate.events[0]!)['exception.type'], 'TypeError');
    assert.deepEqual(validate.status, { code: 2, message: 'bad order' });
    const serverSpan = byName(spans, 'GET /orders');
    assert.equal(serverSpan.events.length, 0);
    assert.notEqual(serverSpan.status.code, 2);
    assert.equal(byName(spans, 'GET /other').events.length, 0);
    await recorder.shutdown();
  });
});

/** Makes `span` start after everything else open (the clock moves on). */
function later(span: unknown): void {
  const s = span as { startTime: [number, number] };
  s.startTime = [s.startTime[0] + 1, s.startTime[1]];
}
