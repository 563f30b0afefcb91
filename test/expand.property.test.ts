import assert from 'node:assert/strict';
import { test } from 'node:test';
import { fileURLToPath } from 'node:url';
import fc from 'fast-check';
import { expandRecord, releaseExpandViews } from '../src/record/expand.js';
import { runNode } from './helpers/process.js';

// expandRecord's copies go eight and four bytes a turn and finish with the
// run's last four bytes again: any length, from any offset to any offset,
// must come out byte for byte, and nothing around it may change. (With no
// intern table a record is copied as it is.)
test('a record copies byte for byte at any length and offsets, writing nothing around it', () => {
  fc.assert(
    fc.property(
      fc.uint8Array({ maxLength: 600 }),
      fc.nat(),
      fc.nat(),
      fc.nat(64),
      (bytes, a, b, at) => {
        const from = bytes.length === 0 ? 0 : a % (bytes.length + 1);
        const to = from + (bytes.length === 0 ? 0 : b % (bytes.length - from + 1));
        const out = new Uint8Array(at + (to - from) + 8).fill(0xee);
        try {
          const end = expandRecord(bytes, from, to, undefined, out, at);
          assert.equal(end, at + (to - from));
        } finally {
          releaseExpandViews();
        }
        assert.deepEqual(out.subarray(at, at + (to - from)), bytes.subarray(from, to));
        assert.ok(
          out.subarray(0, at).every((x) => x === 0xee),
          'nothing before',
        );
        assert.ok(
          out.subarray(at + (to - from)).every((x) => x === 0xee),
          'nothing after',
        );
      },
    ),
    { numRuns: 2_000 },
  );
});

// Only the encoder writes records, but a walk that never ended would stall
// the host's event loop for good, whatever wrote the bytes: over any bytes
// and an intern table, expandRecord ends, and never reads before the record
// (the same output whatever lies before it). Run in a child process, so a
// walk that loops fails this test by its time limit (the child killed by its
// pid) instead of hanging the suite.
test('over arbitrary bytes with an intern table, a record expansion always ends and reads nothing before the record', async () => {
  const file = fileURLToPath(new URL('./helpers/expand-garbage.ts', import.meta.url));
  const ran = await runNode(['--import', 'tsx', file], { timeoutMs: 60_000 });
  assert.equal(ran.code, 0, ran.stderr);
  assert.equal(ran.stdout.trim(), 'ok');
});
