import assert from 'node:assert/strict';
import { afterEach, beforeEach, mock, test } from 'node:test';
import type { Span } from '@opentelemetry/api';
import fc from 'fast-check';
import {
  type FlightRecorderOptions,
  FlightRecorderSpanProcessor,
  type FlushInfo,
  SNAPSHOT_ID_ATTRIBUTE,
} from '../src/index.js';
import { TestExporter } from './helpers/test-exporter.js';
import { captureDiag, fail, makeTracing, remoteParent, settle } from './helpers/tracing.js';

// A randomized fuzzer of late spans after window flushes and trace flushes:
// traces of 1-3 hops (local roots, the later ones under a remote parent in
// the trace), children ending before or after their root, errors, latency,
// custom triggers on children, manual snapshots in between, small buffers,
// short and long minAgeMs, storms (a small maxTracesPerSecond).
//
// Env: FUZZ_RUNS (default 150), FUZZ_SEED, FUZZ_STRICT=0 (skip the split /
// wrong-id checks), FUZZ_VERBOSE=1 (print a failing case's log and flushes),
// FUZZ_COVERAGE=1 (print what the runs exercised), FUZZ_MAX_BYTES,
// FUZZ_CASE='<counterexample JSON>' (replay one case), FUZZ_IGNORE=codes
// (comma list, or `all`) to let known violation classes pass.
//
// Violation codes: dup, counters, drop (spansDropped > 0), throw,
// unknown-id, late (a late span of a flush that took its trace is missing),
// late-openhop (same, its hop open with nothing ended when the flush took an
// earlier hop), late-trigger (same, the span itself a trigger the policy
// deferred), untaken (a late span under a flush that took nothing of its
// trace), split (a trace under more ids than its first window and its own
// flushes), wrongid (a late span not under the flush its trace follows),
// left (a span of an exported trace still buffered at the end), incomplete
// (a trace flush left a buffered span of its trace behind), again (a trace
// flushed again after its trace flush), stuck (spans buffered past minAgeMs
// with every root closed). `-aged` is appended when part of the trace aged
// out (minAgeMs) before a flush that took the rest.
//
// Each class it found (a trace's first record aged out, a hop open across a
// window that took a deferred hop, a deferred record aging out, a late span
// dropping its own flush from a tiny queue, a forgotten window, a swept
// deferred trace) has a test of its own in test/complete-traces.test.ts.

const T0 = 1_800_000_000_000;
const RUNS = Number(process.env.FUZZ_RUNS ?? 150);
const SEED = process.env.FUZZ_SEED === undefined ? undefined : Number(process.env.FUZZ_SEED);
const STRICT = process.env.FUZZ_STRICT !== '0';
const VERBOSE = process.env.FUZZ_VERBOSE === '1';
/** Violation codes to let pass (FUZZ_IGNORE=late-aged,split-aged): known findings, to look for others. */
const IGNORE = new Set((process.env.FUZZ_IGNORE ?? '').split(',').filter(Boolean));
const IGNORE_ALL = IGNORE.has('all');

interface ChildPlan {
  /** An earlier child of the hop, or -1 for the hop's root. */
  parent: number;
  startAfter: number;
  duration: number;
  /** Triggers through shouldTrigger ('child-trigger'). */
  trigger: boolean;
}

interface HopPlan {
  /** After the previous hop's start (the trace's first hop: absolute). */
  gap: number;
  duration: number;
  error: boolean;
  children: ChildPlan[];
}

interface TracePlan {
  /** The first hop under a remote parent too (else it has no parent). */
  remoteFirst: boolean;
  hops: HopPlan[];
}

interface Config {
  flushScope: 'trace' | 'window';
  maxBytes: number;
  minAgeMs: number;
  maxTracesPerSecond: number;
  minFlushIntervalMs: number;
  exportDelayMs: number;
  payload: number;
}

const child = (n: number): fc.Arbitrary<ChildPlan> =>
  fc.record({
    parent: fc.integer({ min: -1, max: n - 1 }),
    startAfter: fc.nat(30),
    duration: fc.oneof(fc.nat(80), fc.nat(800)),
    trigger: fc.constantFrom(false, false, false, true),
  });

const hop: fc.Arbitrary<HopPlan> = fc
  .record({
    gap: fc.oneof(fc.nat(100), fc.nat(1_500)),
    duration: fc.oneof(fc.nat(90), fc.integer({ min: 90, max: 600 })),
    error: fc.boolean(),
    n: fc.nat(3),
  })
  .chain(({ n, ...rest }) =>
    fc
      .tuple(...Array.from({ length: n }, (_, i) => child(i)))
      .map((children) => ({ ...rest, children })),
  );

const tracePlan: fc.Arbitrary<TracePlan> = fc.record({
  remoteFirst: fc.boolean(),
  hops: fc.array(hop, { minLength: 1, maxLength: 3 }),
});

const config: fc.Arbitrary<Config> = fc.record({
  flushScope: fc.constantFrom('trace' as const, 'window' as const),
  maxBytes:
    process.env.FUZZ_MAX_BYTES === undefined
      ? fc.constantFrom(3_000, 8_000, 10_000_000)
      : fc.constant(Number(process.env.FUZZ_MAX_BYTES)),
  /** A string attribute this long on every span: fewer spans fill the ring. */
  payload: fc.constantFrom(0, 0, 300),
  minAgeMs: fc.constantFrom(0, 40, 400, 3_600_000),
  maxTracesPerSecond: fc.constantFrom(1, 2, 100),
  minFlushIntervalMs: fc.constantFrom(0, 500, 60_000),
  exportDelayMs: fc.constantFrom(0, 50, 5_000),
});

/** Manual snapshots: times (ms after T0). */
const snapshots = fc.array(fc.nat(3_000), { maxLength: 6 });

/** Spans of the run, by key `t<trace>h<hop>c<child>` (c-1: the root). */
interface SpanInfo {
  name: string;
  trace: number;
  hop: number;
  index: number;
  /** When it is started and ended, ms after T0. */
  start: number;
  end: number;
  span?: Span;
  /** The actions at which it started and ended. */
  startedAt?: number;
  endedAt?: number;
  /** Whether its end triggers (an error or slow root, a child through shouldTrigger). */
  trigger: boolean;
}

type Event =
  { time: number; kind: 'start' | 'end'; key: string } | { time: number; kind: 'snapshot' };

function plan(traces: TracePlan[], snaps: number[]) {
  const spans = new Map<string, SpanInfo>();
  const events: Event[] = [];
  traces.forEach((tp, trace) => {
    let hopStart = 0;
    tp.hops.forEach((h, hopIndex) => {
      hopStart = hopIndex === 0 ? h.gap * 2 : hopStart + h.gap;
      const rootKey = `t${trace}h${hopIndex}r`;
      const starts: number[] = [];
      spans.set(rootKey, {
        name: rootKey,
        trace,
        hop: hopIndex,
        index: -1,
        start: hopStart,
        end: hopStart + h.duration,
        trigger: h.error || h.duration > 100,
      });
      h.children.forEach((c, i) => {
        const parentStart = c.parent < 0 ? hopStart : starts[c.parent]!;
        const start = parentStart + c.startAfter;
        starts.push(start);
        const name = `t${trace}h${hopIndex}c${i}${c.trigger ? '!' : ''}`;
        spans.set(`t${trace}h${hopIndex}c${i}`, {
          name,
          trace,
          hop: hopIndex,
          index: i,
          start,
          end: start + c.duration,
          trigger: c.trigger,
        });
      });
    });
  });
  for (const [key, s] of spans) {
    events.push({ time: s.start, kind: 'start', key });
    events.push({ time: s.end, kind: 'end', key });
  }
  for (const time of snaps) events.push({ time, kind: 'snapshot' });
  const order = { start: 0, end: 1, snapshot: 2 };
  const rank = (e: Event) => ('key' in e ? keyRank(e.key, e.kind) : 0);
  events.sort((a, b) => a.time - b.time || order[a.kind] - order[b.kind] || rank(a) - rank(b));
  return { spans, events };
}

/** At one time: parents start first, and children end before their parents. */
function keyRank(key: string, kind: string): number {
  const m = /^t(\d+)h(\d+)(r|c(\d+))$/.exec(key)!;
  const idx = m[3] === 'r' ? -1 : Number(m[4]);
  const base = Number(m[1]) * 1_000 + Number(m[2]) * 100;
  // Starts: root first. Ends: children before the root at the same time.
  return kind === 'start' ? base + idx : base - idx;
}

interface Flush {
  id: string;
  scope: 'trace' | 'window';
  traceId: string | undefined;
  action: number;
  trigger: string;
}

/** What the runs exercised (printed with FUZZ_VERBOSE=1 or FUZZ_COVERAGE=1). */
const coverage = {
  runs: 0,
  windowFlushes: 0,
  traceFlushes: 0,
  spansLate: 0,
  runsWithLate: 0,
  suppressed: 0,
  evictedByAge: 0,
  evictedByBytes: 0,
  violations: {} as Record<string, number>,
};

let unhandled: unknown[] = [];
const onUnhandled = (reason: unknown) => unhandled.push(reason);

beforeEach(() => {
  mock.timers.enable({ apis: ['Date', 'setTimeout'], now: T0 });
  unhandled = [];
  process.on('unhandledRejection', onUnhandled);
});
afterEach(() => {
  mock.timers.reset();
  process.off('unhandledRejection', onUnhandled);
});

async function runCase(traces: TracePlan[], snaps: number[], cfg: Config): Promise<string[]> {
  // A clock of its own for each run: no timer of an earlier run fires in it.
  mock.timers.reset();
  mock.timers.enable({ apis: ['Date', 'setTimeout'], now: T0 });
  const log: string[] = [];
  const violations: string[] = [];
  const diagLog = captureDiag();
  const exporter = new TestExporter();
  const flushes: Flush[] = [];
  let action = 0;
  const options: FlightRecorderOptions = {
    exporter,
    runtimeEvents: false,
    latencyThresholdMs: 100,
    triggers: ['latency', 'error'],
    shouldTrigger: (s) => (s.name.endsWith('!') ? 'child-trigger' : undefined),
    flushScope: cfg.flushScope,
    maxBytes: cfg.maxBytes,
    minAgeMs: cfg.minAgeMs,
    maxTracesPerSecond: cfg.maxTracesPerSecond,
    minFlushIntervalMs: cfg.minFlushIntervalMs,
    exportDelayMs: cfg.exportDelayMs,
    onFlush: (info: FlushInfo) => {
      flushes.push({
        id: info.snapshotId,
        scope: info.scope,
        traceId: info.traceId,
        action,
        trigger: info.trigger,
      });
      log.push(
        `  -> flush ${info.snapshotId.slice(0, 6)} ${info.scope} ${info.trigger} trace=${info.traceId === undefined ? '-' : (traceNo.get(info.traceId) ?? '?')} spans=${info.spans}`,
      );
    },
  };
  const recorder = new FlightRecorderSpanProcessor(options);
  const t = makeTracing(recorder);
  const { spans, events } = plan(traces, snaps);
  const traceIds: (string | undefined)[] = traces.map((tp, i) =>
    tp.remoteFirst ? (i + 1).toString(16).padStart(32, '4bf9') : undefined,
  );
  const traceNo = new Map<string, number>();
  const byId = new Map<string, SpanInfo>();
  /** Span ids buffered just before each action. */
  const bufferedBefore: Set<string>[] = [];
  const exportedBefore: Set<string>[] = [];
  let now = 0;
  const observe = (a: number) => {
    bufferedBefore[a] = new Set(recorder._windowSpans().map((s) => s.spanContext().spanId));
    exportedBefore[a] = new Set(exporter.spans.map((s) => s.spanContext().spanId));
  };
  try {
    for (const e of events) {
      if (e.time > now) {
        observe(++action);
        mock.timers.tick(e.time - now);
        now = e.time;
        await settle(2);
      }
      observe(++action);
      if (e.kind === 'snapshot') {
        log.push(`@${now} snapshot`);
        await recorder.snapshot('manual');
        continue;
      }
      const info = spans.get(e.key)!;
      const tp = traces[info.trace]!;
      const h = tp.hops[info.hop]!;
      if (e.kind === 'start') {
        let parent: Span | ReturnType<typeof remoteParent> | undefined;
        if (info.index === -1) {
          const id = traceIds[info.trace];
          parent = id === undefined ? undefined : remoteParent(id);
        } else {
          const c = h.children[info.index]!;
          parent = spans.get(
            c.parent < 0 ? `t${info.trace}h${info.hop}r` : `t${info.trace}h${info.hop}c${c.parent}`,
          )!.span;
        }
        const span = t.start(info.name, T0 + now, parent);
        if (cfg.payload > 0) span.setAttribute('payload', 'x'.repeat(cfg.payload));
        info.span = span;
        info.startedAt = action;
        const id = span.spanContext().traceId;
        traceIds[info.trace] ??= id;
        traceNo.set(id, info.trace);
        byId.set(span.spanContext().spanId, info);
        log.push(`@${now} start ${info.name}${parent === undefined ? '' : ''}`);
      } else {
        const span = info.span!;
        if (info.index === -1 && h.error) fail(span);
        info.endedAt = action;
        log.push(`@${now} end ${info.name}${info.index === -1 && h.error ? ' (error)' : ''}`);
        span.end(T0 + now);
      }
      await settle(1);
    }
    // Deferred triggers are decided, and everything exported.
    observe(++action);
    mock.timers.tick(1_000);
    now += 1_000;
    await settle(2);
    observe(++action);
    await recorder.forceFlush();
    await settle(2);
  } catch (error) {
    violations.push(`[throw] threw: ${(error as Error).stack}`);
  }

  const stats = recorder.stats();
  const exported = exporter.spans;
  coverage.runs++;
  coverage.windowFlushes += flushes.filter((f) => f.scope === 'window').length;
  coverage.traceFlushes += flushes.filter((f) => f.scope === 'trace').length;
  coverage.spansLate += stats.spansLate;
  if (stats.spansLate > 0) coverage.runsWithLate++;
  coverage.suppressed += Object.values(stats.triggersSuppressed).reduce((a, b) => a + b, 0);
  coverage.evictedByAge += stats.spansEvictedByAge;
  coverage.evictedByBytes += stats.spansEvictedByBytes;
  const exportedIds = exported.map((s) => s.spanContext().spanId);
  const where = new Map<string, string>();
  for (const s of exported)
    where.set(s.spanContext().spanId, String(s.attributes[SNAPSHOT_ID_ATTRIBUTE]));
  const buffered = new Set(recorder._windowSpans().map((s) => s.spanContext().spanId));
  const flushById = new Map(flushes.map((f) => [f.id, f]));
  const nameOf = (id: string) => byId.get(id)?.name ?? id;
  const short = (id: string | undefined) => (id === undefined ? 'none' : id.slice(0, 6));

  // 1. No span is exported twice.
  if (new Set(exportedIds).size !== exportedIds.length) {
    const seen = new Set<string>();
    for (const id of exportedIds) {
      if (seen.has(id)) violations.push(`[dup] ${nameOf(id)} exported twice`);
      seen.add(id);
    }
  }
  // 2. Counters balance.
  // (A maxBytes of 3000 holds about one export run's fixed overhead, 1536
  // bytes, and a late batch: FUZZ_IGNORE=drop lets those drops pass.)
  if (stats.spansDropped !== 0) {
    violations.push(`[drop] spansDropped=${stats.spansDropped}`);
  }
  const sum =
    stats.bufferedSpans +
    stats.spansExported +
    stats.spansEvictedByAge +
    stats.spansEvictedByBytes +
    stats.spansDropped;
  if (stats.spansRecorded !== sum) {
    violations.push(
      `[counters] recorded ${stats.spansRecorded} != buffered ${stats.bufferedSpans} + exported ${stats.spansExported} + age ${stats.spansEvictedByAge} + bytes ${stats.spansEvictedByBytes}`,
    );
  }
  if (stats.spansExported !== exported.length) {
    violations.push(
      `[counters] spansExported ${stats.spansExported} != exporter saw ${exported.length}`,
    );
  }
  // 3. Nothing threw, nothing unhandled.
  for (const m of diagLog.messages) {
    if (m.level === 'error') violations.push(`[throw] diag error: ${m.message}`);
  }
  for (const r of unhandled) violations.push(`[throw] unhandled rejection: ${String(r)}`);
  diagLog.restore();

  // Every exported span's snapshot id is a flush's.
  for (const s of exported) {
    const id = String(s.attributes[SNAPSHOT_ID_ATTRIBUTE]);
    if (!flushById.has(id))
      violations.push(`[unknown-id] ${s.name} exported under unknown id ${short(id)}`);
  }

  const noBytes = stats.spansEvictedByBytes === 0 && stats.spansDropped === 0;
  // Which traces each flush took records of (spans ended before it, or its trigger).
  const took = new Map<string, Set<number>>();
  for (const s of exported) {
    const info = byId.get(s.spanContext().spanId);
    const f = flushById.get(where.get(s.spanContext().spanId)!);
    if (info === undefined || f === undefined) continue;
    if (info.endedAt! <= f.action) {
      let set = took.get(f.id);
      if (set === undefined) took.set(f.id, (set = new Set()));
      set.add(info.trace);
    }
  }
  const traceIdOfPlan = (n: number) => traceIds[n]!;
  for (const [n] of traces.entries()) {
    const id = traceIdOfPlan(n);
    const mine = [...spans.values()].filter((s) => s.trace === n);
    const tookMe = flushes.filter((f) => took.get(f.id)?.has(n) === true);
    // Windows that took one of its triggers while the policy held it (deferred
    // in a storm): the trigger may go with such a window (what ends later
    // keeps following the flush that took the trace before).
    const carried = new Set<string>();
    for (const s of mine) {
      const x = where.get(s.span!.spanContext().spanId);
      const f = x === undefined ? undefined : flushById.get(x);
      if (s.trigger && f !== undefined && f.scope === 'window' && s.endedAt! <= f.action) {
        carried.add(f.id);
      }
    }
    const ownFlushes = flushes.filter((f) => f.traceId === id);
    const traceFlush = flushes.find((f) => f.traceId === id && f.scope === 'trace');
    // Part of the trace aged out (minAgeMs) before a flush that took the rest of it.
    const agedBefore = (f: Flush) =>
      mine.filter((o) => {
        const oid = o.span!.spanContext().spanId;
        return (
          o.endedAt! < f.action &&
          !bufferedBefore[f.action]!.has(oid) &&
          !exportedBefore[f.action]!.has(oid)
        );
      });
    const aged = tookMe.some((f) => agedBefore(f).length > 0);
    const tag = (code: string) => (aged ? `${code}-aged` : code);
    // 4. Late spans of a flush that took the trace are exported.
    for (const f of tookMe) {
      for (const s of mine) {
        const sid = s.span!.spanContext().spanId;
        if (s.endedAt! <= f.action || where.has(sid)) continue;
        if (!noBytes) continue;
        const part = agedBefore(f);
        // Its hop was open, with nothing of it taken, when the flush took an earlier hop.
        const root = mine.find((o) => o.hop === s.hop && o.index === -1)!;
        const openHop =
          root.startedAt! < f.action &&
          !mine.some((o) => o.hop === s.hop && o.endedAt! <= f.action);
        const code =
          s.trigger && !buffered.has(sid)
            ? 'late-trigger'
            : openHop
              ? tag('late-openhop')
              : tag('late');
        violations.push(
          `[${code}] late span missing: ${s.name} ended after flush ${short(f.id)} (${f.scope}) took trace ${n}; ${buffered.has(sid) ? 'still buffered' : 'gone'}${part.length > 0 ? `; aged before it: ${part.map((o) => o.name).join(',')}` : ''}`,
        );
      }
    }
    // 5. Trace flush completeness: what the trace had buffered leaves with it.
    for (const f of ownFlushes) {
      if (f.scope !== 'trace' || !noBytes) continue;
      for (const s of mine) {
        const sid = s.span!.spanContext().spanId;
        if (bufferedBefore[f.action]?.has(sid) === true && !where.has(sid)) {
          violations.push(
            `[incomplete] trace flush ${short(f.id)} of trace ${n} left ${s.name} behind`,
          );
        }
      }
    }
    // 5. One trace flush per trace, and no flush of a trace after its trace flush.
    if (traceFlush !== undefined) {
      for (const f of flushes.filter((g) => g.traceId === id)) {
        if (f.action > traceFlush.action) {
          violations.push(
            `[again] trace ${n} flushed again (${f.scope} ${f.trigger}) after its trace flush`,
          );
        }
      }
    }
    if (!STRICT || !noBytes) continue;
    // 5. Split across ids: allowed are the first window that took it and the trace's own flushes.
    const firstWindow = tookMe.find((f) => f.scope === 'window' && f.traceId !== id);
    const allowed = new Set<string>([...ownFlushes.map((f) => f.id)]);
    if (firstWindow !== undefined) allowed.add(firstWindow.id);
    for (const c of carried) allowed.add(c);
    for (const s of mine) {
      const sid = s.span!.spanContext().spanId;
      const x = where.get(sid);
      if (x === undefined) continue;
      const f = flushById.get(x)!;
      if (f === undefined) continue;
      const late = s.endedAt! > f.action;
      // A late span of a flush that took nothing of its trace.
      if (late && noBytes && f.traceId !== id && took.get(f.id)?.has(n) !== true) {
        violations.push(
          `[untaken${agedBefore(f).length > 0 ? '-aged' : ''}] late ${s.name} of trace ${n} under ${short(x)} (${f.scope} ${f.trigger}), which took nothing of its trace`,
        );
        continue;
      }
      if (!allowed.has(x)) {
        violations.push(
          `[${tag('split')}] ${s.name} of trace ${n} under ${short(x)} (${f.scope} ${f.trigger}); trace first taken by ${short(tookMe[0]?.id)}${firstWindow === undefined ? '' : ` (window ${short(firstWindow.id)})`}`,
        );
      }
      // A late span follows the latest flush of its own trace before it ended, or the first window.
      if (late && !(s.trigger && carried.has(x))) {
        const before = flushes.filter(
          (g) =>
            g.action < s.endedAt! && (ownFlushes.includes(g) || took.get(g.id)?.has(n) === true),
        );
        const own = before.filter((g) => ownFlushes.includes(g)).at(-1);
        const expected = own ?? before.find((g) => took.get(g.id)?.has(n) === true);
        if (expected !== undefined && expected.id !== x) {
          violations.push(
            `[${[...carried].some((c) => flushById.get(c)!.traceId !== id) ? 'swept' : tag('wrongid')}] late ${s.name} of trace ${n} under ${short(x)} (${f.scope}), expected ${short(expected.id)} (${expected.scope})`,
          );
        }
      }
    }
    // 5. Left behind: a span of a trace that went out, still buffered at the end.
    if (noBytes && tookMe.length > 0) {
      for (const s of mine) {
        const sid = s.span!.spanContext().spanId;
        if (buffered.has(sid))
          violations.push(`[${tag('left')}] ${s.name} left behind of exported trace ${n}`);
      }
    }
  }
  // 5. Nothing stays buffered once its roots closed and minAgeMs passed.
  if (violations.length === 0) {
    mock.timers.tick(cfg.minAgeMs + 1_000);
    const after = recorder.stats().bufferedSpans;
    if (after !== 0)
      violations.push(`[stuck] ${after} spans still buffered after minAgeMs with all roots closed`);
  }
  await recorder.shutdown();
  for (const v of violations) {
    const code = /^\[([^\]]+)\]/.exec(v)?.[1] ?? '?';
    coverage.violations[code] = (coverage.violations[code] ?? 0) + 1;
  }
  const kept = violations.filter(
    (v) => !IGNORE_ALL && !IGNORE.has(/^\[([^\]]+)\]/.exec(v)?.[1] ?? ''),
  );
  violations.length = 0;
  violations.push(...kept);
  if (violations.length > 0 && VERBOSE) {
    const contents = flushes.map(
      (f) =>
        `flush ${short(f.id)}: ${exported
          .filter((s) => where.get(s.spanContext().spanId) === f.id)
          .map((s) => s.name)
          .join(' ')}`,
    );
    console.log(
      `config ${JSON.stringify(cfg)}\n${log.join('\n')}\n${contents.join('\n')}\nstats ${JSON.stringify({ ...stats, triggers: undefined, latencyThresholdsMs: undefined })}\n${violations.join('\n')}`,
    );
  }
  return violations;
}

const property = fc.asyncProperty(
  fc.array(tracePlan, { minLength: 1, maxLength: 5 }),
  snapshots,
  config,
  async (traces, snaps, cfg) => {
    const violations = await runCase(traces, snaps, cfg);
    if (violations.length > 0) assert.fail(violations.join('\n'));
  },
);

test(
  'late spans follow the flush that took their trace, over random schedules',
  { skip: process.env.FUZZ_CASE !== undefined },
  async () => {
    if (process.env.FUZZ_COVERAGE === '1')
      process.on('exit', () => console.log(JSON.stringify(coverage)));
    await fc.assert(property, {
      numRuns: RUNS,
      includeErrorInReport: true,
      ...(SEED === undefined ? {} : { seed: SEED }),
    });
  },
);

// FUZZ_CASE='<the counterexample array, as printed>' replays one case (with FUZZ_VERBOSE=1, its log).
if (process.env.FUZZ_CASE !== undefined) {
  test('replay FUZZ_CASE', async () => {
    const [traces, snaps, cfg] = JSON.parse(process.env.FUZZ_CASE!) as [
      TracePlan[],
      number[],
      Config,
    ];
    const violations = await runCase(traces, snaps, cfg);
    if (violations.length > 0) assert.fail(violations.join('\n'));
  });
}
