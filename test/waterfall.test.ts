import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import type { Snapshot, SnapshotSpan } from '../src/cli/read-snapshot.js';
import { parseSnapshot } from '../src/cli/read-snapshot.js';
import { makeStyle, visibleWidth } from '../src/cli/style.js';
import { formatDuration, renderWaterfall } from '../src/cli/waterfall.js';

const MS = 1_000_000n;
const T0 = 1_800_000_000_000n * MS;
const plain = makeStyle(false);

let nextId = 0;
function span(
  trace: string,
  name: string,
  startMs: number,
  endMs: number,
  extra: Partial<SnapshotSpan> = {},
): SnapshotSpan {
  return {
    traceId: trace.padEnd(32, '0'),
    spanId: (++nextId).toString(16).padStart(16, '0'),
    parentSpanId: undefined,
    name,
    start: T0 + BigInt(startMs) * MS,
    end: T0 + BigInt(endMs) * MS,
    statusCode: 0,
    statusMessage: '',
    attributes: {},
    events: [],
    service: 'svc',
    unfinished: false,
    ...extra,
  };
}

function child(parent: SnapshotSpan, name: string, startMs: number, endMs: number, extra = {}) {
  return span(parent.traceId, name, startMs, endMs, { parentSpanId: parent.spanId, ...extra });
}

function snapshot(spans: SnapshotSpan[], trigger: string): Snapshot {
  return {
    path: 'x.json',
    bytes: 0,
    spans,
    snapshotIds: ['0123456789abcdef'],
    triggers: [trigger],
    traceCount: new Set(spans.map((s) => s.traceId)).size,
  };
}

function headings(out: string): string[] {
  return out.split('\n').filter((l) => /^(▶ )?trace /.test(l));
}

describe('renderWaterfall', () => {
  test('latency: the slowest root is the trigger, even when late spans of another trace ended after it', () => {
    const slow = span('aa', 'GET', 0, 400, { attributes: { 'url.path': '/slow' } });
    const other = span('bb', 'GET', 350, 600, { attributes: { 'http.route': '/users/:id' } });
    const out = renderWaterfall(
      snapshot([slow, other, child(other, 'audit.write', 600, 700)], 'latency'),
      { columns: 100, style: plain },
    );
    const [first, second] = headings(out);
    assert.match(first!, /^▶ trace aa0+ · GET \/slow · 400ms {2}◀ triggered latency$/);
    assert.match(second!, /^trace bb0+ · GET \/users\/:id · 350ms$/);
  });

  test('error: the trace whose root failed comes first, not the slower one', () => {
    const slow = span('aa', 'slow', 0, 400);
    const failed = span('bb', 'failed', 10, 50, { statusCode: 2, statusMessage: 'boom' });
    const out = renderWaterfall(snapshot([slow, failed], 'error'), { columns: 100, style: plain });
    assert.match(headings(out)[0]!, /^▶ trace bb0+ · failed/);
    assert.match(out, /\n✗ failed +40ms +█+\n {5}✗ boom\n/);
  });

  test('snapshots have no triggering trace: traces by start time', () => {
    const b = span('bb', 'later', 10, 20);
    const a = span('aa', 'earlier', 0, 5);
    const out = renderWaterfall(snapshot([b, a], 'snapshot'), { columns: 100, style: plain });
    assert.deepEqual(
      headings(out).map((h) => h.split(' · ')[1]),
      ['earlier', 'later'],
    );
    assert.doesNotMatch(out, /▶/);
  });

  test('every line fits the width, whatever the names and the width', () => {
    const root = span('aa', 'a'.repeat(300), 0, 1000, {
      statusCode: 2,
      statusMessage: 'x'.repeat(300),
    });
    let parent = root;
    const spans = [root];
    for (let depth = 0; depth < 40; depth++) {
      parent = child(parent, `level ${depth} ${'n'.repeat(depth * 5)}`, depth, 1000 - depth);
      spans.push(parent);
    }
    for (const columns of [40, 60, 80, 100, 132, 200]) {
      for (const style of [plain, makeStyle(true)]) {
        const out = renderWaterfall(snapshot(spans, 'error'), { columns, style });
        for (const line of out.split('\n')) {
          assert.ok(visibleWidth(line) <= columns, `${visibleWidth(line)} > ${columns}: ${line}`);
        }
      }
    }
  });

  test('orphans, parent cycles, zero durations and empty files still render', () => {
    const orphan = span('aa', 'orphan', 0, 0, { parentSpanId: 'ffffffffffffffff' });
    const x = span('bb', 'x', 0, 10);
    const y = span('bb', 'y', 0, 10);
    x.parentSpanId = y.spanId;
    y.parentSpanId = x.spanId;
    const out = renderWaterfall(snapshot([orphan, x, y], 'manual'), { columns: 80, style: plain });
    assert.match(out, /⋯ orphan/);
    assert.match(out, /\bx\b/);
    assert.match(out, /\by\b/);
    const empty = renderWaterfall(parseSnapshot('{"resourceSpans":[]}', 'e.json'), {
      columns: 80,
      style: plain,
    });
    assert.match(empty, /0 traces · 0 spans[\s\S]*\(no spans\)/);
  });

  test('durations read short', () => {
    assert.equal(formatDuration(350_000n), '350µs');
    assert.equal(formatDuration(3_000_000n), '3ms');
    assert.equal(formatDuration(1_250_000n), '1.25ms');
    assert.equal(formatDuration(12_340_000n), '12.3ms');
    assert.equal(formatDuration(712_000_000n), '712ms');
    assert.equal(formatDuration(1_500_000_000n), '1.5s');
    assert.equal(formatDuration(125_000_000_000n), '2m05s');
  });
});

describe('renderWaterfall with runtime events', () => {
  const runtime = (extra: Record<string, unknown>) => ({
    attributes: { 'flight_recorder.runtime': true, ...extra } as SnapshotSpan['attributes'],
  });

  test('GC pauses and stalls are marked on the row of the span they hit, not drawn as rows', () => {
    const root = span('aa', 'GET', 0, 1000, { attributes: { 'url.path': '/slow' } });
    const db = child(root, 'db.query', 100, 900);
    const gc = child(db, 'gc (major)', 200, 300, runtime({ 'v8js.gc.type': 'major' }));
    const stall = child(root, 'event loop blocked', 500, 800, runtime({}));
    const out = renderWaterfall(snapshot([root, db, gc, stall], 'latency'), {
      columns: 80,
      style: plain,
    });
    const lines = out.split('\n');
    assert.ok(!lines.some((l) => /^\s*[├└]─ (gc|event loop)/.test(l)), out);
    const rootRow = lines.find((l) => l.startsWith('GET /slow'))!;
    const dbRow = lines.find((l) => l.includes('db.query'))!;
    assert.match(dbRow, /█▓+█/, out);
    assert.match(rootRow, /█░+█/, out);
    assert.ok(
      lines.some((l) => /affected by gc \(major\) 100ms/.test(l)),
      out,
    );
    assert.ok(
      lines.some((l) => /affected by event loop blocked 300ms/.test(l)),
      out,
    );
    assert.match(out, /2 spans/);
    assert.match(out, /affected, not necessarily caused/);
    assert.ok(
      lines.every((l) => visibleWidth(l) <= 80),
      out,
    );
  });

  test('the runtime track of a window flush is one row over the window, and never the triggering trace', () => {
    const slow = span('aa', 'GET', 100, 500, { attributes: { 'url.path': '/slow' } });
    const track = span('bb', 'process runtime', 0, 1000, {
      ...runtime({ 'v8js.memory.heap.used': 50 * 2 ** 20, 'nodejs.eventloop.utilization': 0.31 }),
    });
    const gc = child(track, 'gc (minor)', 100, 110, runtime({ 'v8js.gc.type': 'minor' }));
    const stall = child(track, 'event loop blocked', 600, 900, runtime({}));
    for (const [trigger, first] of [
      ['latency', 'trace aa'],
      ['event-loop-stall', 'process runtime'],
    ] as const) {
      const out = renderWaterfall(snapshot([slow, track, gc, stall], trigger), {
        columns: 80,
        style: plain,
      });
      const lines = out.split('\n');
      const firstBlock = lines.findIndex((l) => l.includes(first));
      const other = lines.findIndex((l) =>
        l.includes(first === 'trace aa' ? 'process runtime' : 'trace aa'),
      );
      assert.ok(firstBlock >= 0 && firstBlock < other, `${trigger}\n${out}`);
      assert.match(
        out,
        /1 GC pause \(10ms\) · 1 stall \(300ms\) · heap 50\.0 MiB · loop utilization 31%/,
      );
      const row = lines.find((l) => l.startsWith('runtime'))!;
      assert.match(row, /─▓─+░+─/, out);
      assert.match(out, /░ event loop blocked 300ms at \+600ms/);
      assert.ok(
        lines.every((l) => visibleWidth(l) <= 80),
        out,
      );
    }
  });
});

describe('parseSnapshot', () => {
  test('reads hex or base64 ids and string, number or long-bits times', () => {
    const body = {
      resourceSpans: [
        {
          resource: { attributes: [{ key: 'service.name', value: { stringValue: 'api' } }] },
          scopeSpans: [
            {
              spans: [
                {
                  traceId: Buffer.alloc(16, 1).toString('base64'),
                  spanId: '0102030405060708',
                  name: 'a',
                  startTimeUnixNano: 1000,
                  endTimeUnixNano: { low: 2000, high: 0 },
                  attributes: [{ key: 'n', value: { intValue: '7' } }],
                },
              ],
            },
          ],
        },
      ],
    };
    const [s] = parseSnapshot(JSON.stringify(body), 'b.json').spans;
    assert.equal(s!.traceId, '01'.repeat(16));
    assert.equal(s!.end - s!.start, 1000n);
    assert.equal(s!.attributes.n, 7);
    assert.equal(s!.service, 'api');
  });
});
