import assert from 'node:assert/strict';
import { fileURLToPath } from 'node:url';
import { test } from 'node:test';
import { startOtlpProtoReceiver } from './helpers/otlp-proto-receiver.js';
import { runNode } from './helpers/process.js';

const APP = fileURLToPath(new URL('./fixtures/runtime-app.ts', import.meta.url));

interface Span {
  traceId: string;
  spanId: string;
  parentSpanId?: string;
  name: string;
  startTimeUnixNano: string;
  endTimeUnixNano: string;
  attributes?: { key: string; value: { stringValue?: string; boolValue?: boolean } }[];
}

function spansOf(requests: { decoded: { resourceSpans?: unknown[] } }[]): Span[] {
  return requests.flatMap((r) =>
    ((r.decoded.resourceSpans ?? []) as { scopeSpans: { spans: Span[] }[] }[]).flatMap((rs) =>
      rs.scopeSpans.flatMap((ss) => ss.spans),
    ),
  );
}

const attr = (span: Span, key: string) => {
  const v = span.attributes?.find((a) => a.key === key)?.value;
  return v?.stringValue ?? v?.boolValue;
};
const ms = (nanos: string) => Number(BigInt(nanos) / 1_000_000n);
const route = (span: Span) => attr(span, 'http.target') ?? attr(span, 'url.path');

// A real process: real GC observer, real stall detector, real HTTP
// instrumentation, the real OTLP/HTTP transport to a decoding receiver.
test('in a real service, a forced major GC and a 200 ms blocking loop are attached to the slow requests they hit', async () => {
  const receiver = await startOtlpProtoReceiver();
  try {
    const ran = await runNode(['--expose-gc', '--import', 'tsx', APP], {
      env: {
        ...process.env,
        OTEL_EXPORTER_OTLP_ENDPOINT: receiver.endpoint,
        FLIGHT_RECORDER_RUNTIME_EVENTS: 'true',
        FLIGHT_RECORDER_LATENCY_THRESHOLD_MS: '300',
        FLIGHT_RECORDER_FLUSH_SCOPE: 'trace',
      },
      timeoutMs: 60_000,
    });
    assert.equal(ran.code, 0, ran.stderr);
    const stats = JSON.parse(ran.stdout.trim().split('\n').at(-1)!) as Record<string, number>;
    const spans = spansOf(receiver.requests);
    const servers = spans.filter((s) => s.parentSpanId === undefined && route(s) !== undefined);
    const byRoute = (path: string) => servers.find((s) => route(s) === path);
    const gcRequest = byRoute('/gc');
    const slow = byRoute('/slow');
    assert.ok(gcRequest !== undefined && slow !== undefined, JSON.stringify(servers.map(route)));
    assert.equal(byRoute('/busy'), undefined, 'the busy request itself was fast: not flushed');

    const children = (parent: Span, name: RegExp) =>
      spans.filter(
        (s) =>
          s.traceId === parent.traceId && s.parentSpanId === parent.spanId && name.test(s.name),
      );
    // The forced one, 50 ms into the request: another major GC (the heap
    // growing while the app starts or exports) may overlap the request too.
    const majors = children(gcRequest, /^gc \(major\)$/);
    const major = majors.find(
      (m) =>
        ms(m.startTimeUnixNano) >= ms(gcRequest.startTimeUnixNano) + 40 &&
        ms(m.endTimeUnixNano) <= ms(gcRequest.endTimeUnixNano),
    );
    assert.ok(
      major !== undefined,
      `major GCs at ${JSON.stringify(majors.map((m) => ms(m.startTimeUnixNano) - ms(gcRequest.startTimeUnixNano)))} ms into /gc; spans ${JSON.stringify(spans.map((s) => s.name))}`,
    );
    assert.equal(attr(major, 'v8js.gc.type'), 'major');
    assert.equal(attr(major, 'flight_recorder.runtime'), true);

    const [stall] = children(slow, /^event loop blocked$/);
    assert.ok(stall !== undefined, JSON.stringify(children(slow, /./).map((s) => s.name)));
    const stallMs = ms(stall.endTimeUnixNano) - ms(stall.startTimeUnixNano);
    // The loop ran 200 ms; the active time measured around it may add a little.
    assert.ok(stallMs >= 190 && stallMs < 1_000, `stall of ${stallMs} ms`);
    // The stall starts from the loop's active time measured at the late tick,
    // which can take in work just before the loop (the requests' own
    // handling): /busy starts 50 ms after /slow, so a start up to 50 ms
    // before /slow's is still the busy loop, not some earlier pause.
    assert.ok(
      ms(stall.startTimeUnixNano) >= ms(slow.startTimeUnixNano) - 50,
      `stall starts ${ms(slow.startTimeUnixNano) - ms(stall.startTimeUnixNano)} ms before /slow`,
    );
    assert.match(String(attr(stall, 'flight_recorder.runtime.relation')), /^affected by/);

    assert.ok(stats.gcPausesRecorded! >= 1, ran.stdout);
    assert.ok(stats.stallsRecorded! >= 1, ran.stdout);
    assert.ok(stats.runtimeEventsAttached! >= 2, ran.stdout);
  } finally {
    await receiver.close();
  }
});
