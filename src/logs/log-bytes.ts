import { type ProtobufWriter, WriterFull } from '../record/protobuf-writer.js';

/** Below this many bytes a loop copies faster than a `TypedArray.set` call. */
const NATIVE_COPY_BYTES = 16;

/** Copies all of `src` to `w.pos`. */
export function put(w: ProtobufWriter, src: Uint8Array): void {
  const n = src.length;
  let p = w.pos;
  if (p + n > w.end) throw WriterFull;
  const buf = w.buf;
  if (n >= NATIVE_COPY_BYTES) {
    buf.set(src, p);
    w.pos = p + n;
    return;
  }
  for (let i = 0; i < n; i++) buf[p++] = src[i]!;
  w.pos = p;
}
