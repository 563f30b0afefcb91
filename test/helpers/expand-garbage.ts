// Run as a child process by test/expand.property.test.ts, so that a walk
// that never ends fails the test by its time limit instead of hanging the
// suite: expandRecord over arbitrary bytes, with an intern table, must end.
// Prints 'ok', or exits 1 with the property's failure.
import fc from 'fast-check';
import { expandRecord, releaseExpandViews } from '../../src/record/expand.js';
import { InternTable } from '../../src/record/intern-table.js';

const dict = new InternTable();
for (let i = 0; i < 200; i++) dict.key(`key.${i}.${'x'.repeat(i % 30)}`);

// Tokens the walk reacts to (its tags: ids, KeyValues, events, links), small
// numbers as varints of one byte and of two (as lengths and ids are
// written), and any byte.
const varint = (n: number): number[] => (n < 0x80 ? [n] : [(n & 0x7f) | 0x80, n >>> 7]);
const token = fc.oneof(
  fc.constantFrom(0x4a, 0x48, 0x28, 0x18, 0x5a, 0x6a, 0x10, 0x20, 0x22, 0x1a).map((t) => [t]),
  fc.integer({ min: 0, max: 300 }).map(varint),
  fc.integer({ min: 0, max: 40 }).map((n) => [(n & 0x7f) | 0x80, 0]),
  fc.integer({ min: 0, max: 255 }).map((b) => [b]),
);
const record = fc.array(token, { maxLength: 40 }).map((tokens) => tokens.flat());

try {
  fc.assert(
    fc.property(record, fc.nat(3), (bytes, copies) => {
      // The record after copies of itself, as records follow one another in
      // the ring: a walk that stepped back before the record's start would
      // find the same bytes there again.
      const src = new Uint8Array(bytes.length * (copies + 1));
      for (let c = 0; c <= copies; c++) src.set(bytes, c * bytes.length);
      const from = copies * bytes.length;
      try {
        const end = expandRecord(src, from, src.length, dict, new Uint8Array(1 << 16), 0);
        if (!(end >= 0)) throw new Error(`returned ${end}`);
      } catch (error) {
        // Room for the expansion is the caller's to give (the index holds
        // the length); past it a write may throw, which callers catch.
        if (!(error instanceof RangeError)) throw error;
      } finally {
        releaseExpandViews();
      }
    }),
    {
      numRuns: 50_000,
      // KeyValues of length 0 whose key is an id, their end before their
      // key: with a one-byte length, a two-byte one, and in an event.
      examples: [
        [[0x4a, 0x00, 0x18, 0x00], 0],
        [[0x4a, 0x80, 0x00, 0x18, 0x00], 3],
        [[0x5a, 0x05, 0x1a, 0x00, 0x18, 0x00], 3],
      ],
    },
  );
  console.log('ok');
} catch (error) {
  console.error(error);
  process.exitCode = 1;
}
