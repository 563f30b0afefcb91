// What copying an ASCII attribute value into a byte buffer costs from
// JavaScript, three ways: one store a char (the encoder's way), one 32-bit
// store per four chars, and Buffer's native `utf8Write` (a call, then
// memcpy). Each on flat strings and on cons strings, which template literals
// of 13 chars or more make and whose first read flattens them. A
// micro-benchmark for docs/overhead.md (below 13 chars a template literal
// makes a flat string, so the two kinds match there); not part of `npm run bench`.
//   npx tsx bench/experiments/string-copy.ts
const buffer = Buffer.alloc(1 << 20);
const bytes = new Uint8Array(buffer.buffer, buffer.byteOffset, buffer.length);
const view = new DataView(buffer.buffer, buffer.byteOffset, buffer.length);

type Copy = (s: string, at: number) => number;

const byChar: Copy = (s, at) => {
  const n = s.length;
  for (let i = 0; i < n; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) return -1;
    bytes[at + i] = c;
  }
  return n;
};

const byFour: Copy = (s, at) => {
  const n = s.length;
  let seen = 0;
  let i = 0;
  for (; i + 4 <= n; i += 4) {
    const a = s.charCodeAt(i);
    const b = s.charCodeAt(i + 1);
    const c = s.charCodeAt(i + 2);
    const d = s.charCodeAt(i + 3);
    seen |= a | b | c | d;
    view.setUint32(at + i, a | (b << 8) | (c << 16) | (d << 24), true);
  }
  for (; i < n; i++) {
    const c = s.charCodeAt(i);
    seen |= c;
    bytes[at + i] = c;
  }
  return seen > 0x7f ? -1 : n;
};

// `Buffer#write`'s own native step, without its argument parsing; untyped.
const utf8Write = (buffer as unknown as { utf8Write(s: string, at: number): number }).utf8Write;
// Written bytes equal to the length only when every char is ASCII.
const native: Copy = (s, at) => {
  const written = utf8Write.call(buffer, s, at);
  return written === s.length ? written : -1;
};

const none: Copy = () => 0;

const COUNT = 5000;
const ROUNDS = 200;

/** ns a string, strings made by `make` (the making included; `none` measures it). */
function time(copy: Copy, make: (i: number) => string): number {
  let sink = 0;
  const t0 = process.hrtime.bigint();
  for (let r = 0; r < ROUNDS; r++)
    for (let i = 0; i < COUNT; i++) sink += copy(make(i), (i & 1023) * 256);
  const ns = Number(process.hrtime.bigint() - t0) / (ROUNDS * COUNT);
  if (sink === Number.MIN_SAFE_INTEGER) console.log(sink);
  return ns;
}

const ways: [string, Copy][] = [
  ['by char', byChar],
  ['by four', byFour],
  ['utf8Write', native],
];
console.log('chars  kind   ' + ways.map(([name]) => name.padStart(10)).join(''));
for (const pad of [3, 10, 15, 20, 40]) {
  const prefix = 'x'.repeat(pad);
  // Cons: a fresh template literal each time, as a span built per request.
  const cons = (i: number): string => `${prefix}${i % 10_000}`;
  // Flat: the same strings made once, copied out of a Buffer.
  const pool = Array.from({ length: COUNT }, (_, i) => Buffer.from(cons(i)).toString('latin1'));
  const flat = (i: number): string => pool[i]!;
  for (const [kind, make] of [
    ['flat', flat],
    ['cons', cons],
  ] as const) {
    // Twice: the first pass warms the functions up.
    let row: number[] = [];
    for (let pass = 0; pass < 2; pass++) {
      const base = time(none, make);
      row = ways.map(([, copy]) => time(copy, make) - base);
    }
    console.log(
      `${String(cons(4321).length).padStart(5)}  ${kind}   ` +
        row.map((ns) => `${ns.toFixed(1)} ns`.padStart(10)).join(''),
    );
  }
}
