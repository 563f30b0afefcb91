// Timeouts at or past what Node's timers can hold (2^31 - 1 ms) must mean
// "wait long", never "time out at once": no timer of the recorder may be
// armed with 2^31 ms or more, whatever came from code or the environment.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { type FaultyCollector, startCollector } from './fixtures/collector.js';
import { app, counters, otlp, watch, within } from './fixtures/harness.js';

let collector: FaultyCollector;
before(async () => {
  collector = await startCollector();
  collector.delayMs = 50;
});
after(() => collector.down());

/** Collects the TimeoutOverflowWarnings Node emits while `run` runs. */
async function overflowWarnings(run: () => Promise<void>): Promise<string[]> {
  const warnings: string[] = [];
  const onWarning = (warning: Error) => {
    if (warning.name === 'TimeoutOverflowWarning') warnings.push(warning.message);
  };
  process.on('warning', onWarning);
  try {
    await run();
    // Warnings are emitted on the next tick.
    await new Promise((resolve) => setImmediate(resolve));
  } finally {
    process.removeListener('warning', onWarning);
  }
  return warnings;
}

const HUGE: [string, () => ReturnType<typeof app>][] = [
  // The longest a timer can wait: accepted in code; longer is a TypeError.
  [
    'exportTimeoutMs: 2 ** 31 - 1',
    () => app({ exporter: otlp(collector.url), exportTimeoutMs: 2 ** 31 - 1 }),
  ],
  [
    'FLIGHT_RECORDER_EXPORT_TIMEOUT_MS=9999999999',
    () => {
      const saved = process.env.FLIGHT_RECORDER_EXPORT_TIMEOUT_MS;
      process.env.FLIGHT_RECORDER_EXPORT_TIMEOUT_MS = '9999999999';
      try {
        return app({ exporter: otlp(collector.url) });
      } finally {
        if (saved === undefined) delete process.env.FLIGHT_RECORDER_EXPORT_TIMEOUT_MS;
        else process.env.FLIGHT_RECORDER_EXPORT_TIMEOUT_MS = saved;
      }
    },
  ],
];

describe('a timeout too long for a timer', () => {
  for (const [name, make] of HUGE) {
    test(`${name}: a slow export is not cut short, and shutdown waits for the queue`, async () => {
      const w = watch();
      const warnings = await overflowWarnings(async () => {
        const a = make();
        a.trace();
        await within(a.recorder.forceFlush(), 2_000, 'forceFlush');
        assert.deepEqual(counters(a.recorder.stats()), {
          spansRecorded: 3,
          spansExported: 3,
          spansDropped: 0,
          exportFailures: 0,
          queuedSpans: 0,
        });
        // A flush still queued when shutdown starts is delivered before it ends.
        a.trace();
        await within(a.recorder.shutdown(), 2_000, 'shutdown');
        assert.equal(a.recorder.stats().spansExported, 6);
        assert.equal(a.recorder.stats().spansDropped, 0);
        assert.equal(await a.reachable(), 0);
      });
      assert.deepEqual(warnings, [], 'no timer was armed with 2^31 ms or more');
      w.check();
    });
  }
});
