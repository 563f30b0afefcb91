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
const record = fc.array(token, { maxLength: 60, size: 'medium' }).map((tokens) => tokens.flat());
// What lies before the record in the ring: copies of it (a walk that stepped
// back would find the same bytes again, and could loop), or any bytes.
const before = fc.oneof(
  fc.nat(3).map((copies) => ({ copies })),
  fc.uint8Array({ maxLength: 40 }).map((bytes) => ({ bytes })),
);

/** The expansion of `src[from, src.length)`, and where it ended. */
function expand(src: Uint8Array, from: number): [number, string] {
  const out = new Uint8Array(1 << 16);
  try {
    const end = expandRecord(src, from, src.length, dict, out, 0);
    return [end, Buffer.from(out.subarray(0, end)).toString('hex')];
  } finally {
    releaseExpandViews();
  }
}

try {
  fc.assert(
    fc.property(record, before, (bytes, prefix) => {
      const head =
        'bytes' in prefix
          ? prefix.bytes
          : new Uint8Array(bytes.length * prefix.copies).map((_, i) => bytes[i % bytes.length]!);
      const src = new Uint8Array(head.length + bytes.length);
      src.set(head);
      src.set(bytes, head.length);
      // The walk ends (or the test's time limit fails it), and never reads
      // before the record: the same bytes out whatever lies before it.
      const alone = expand(Uint8Array.from(bytes), 0);
      const placed = expand(src, head.length);
      if (alone[0] !== placed[0] || alone[1] !== placed[1]) {
        throw new Error(`expanded ${alone[1]} alone, ${placed[1]} after ${head.length} bytes`);
      }
    }),
    {
      numRuns: 50_000,
      // KeyValues of length 0 whose key is an id, their end before their
      // key: with a one-byte length, a two-byte one, and in an event.
      examples: [
        [[0x4a, 0x00, 0x18, 0x00], { copies: 0 }],
        [[0x4a, 0x80, 0x00, 0x18, 0x00], { copies: 3 }],
        [[0x5a, 0x05, 0x1a, 0x00, 0x18, 0x00], { copies: 3 }],
      ],
    },
  );
  console.log('ok');
} catch (error) {
  console.error(error);
  process.exitCode = 1;
}
