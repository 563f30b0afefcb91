import type { ReadableSpan } from '@opentelemetry/sdk-trace';

const INITIAL_CAPACITY = 1024;

/**
 * A growable circular FIFO of spans stored as parallel arrays, so that
 * pushing a span allocates nothing once the deque has grown to its working
 * size (mnemonist's circular buffer, with head/size indexes).
 *
 * Each slot holds the span, a tag (the trace id in the ring, the flush mark in
 * the export queue), the span's estimated size in bytes and the time in ms at
 * which it was recorded.
 *
 * Invariants: `length <= capacity`, `bytes` is the sum of the sizes of the
 * `length` live slots, and slots outside the live range are cleared so their
 * spans can be garbage-collected.
 */
export class SpanDeque<Tag> {
  private _spans: (ReadableSpan | undefined)[];
  private _tags: (Tag | undefined)[];
  private _sizes: Float64Array;
  private _times: Float64Array;
  private _mask: number;
  private _head = 0;
  private _length = 0;
  private _bytes = 0;

  constructor(initialCapacity = INITIAL_CAPACITY) {
    let capacity = 1;
    while (capacity < initialCapacity) capacity *= 2;
    this._spans = new Array(capacity).fill(undefined);
    this._tags = new Array(capacity).fill(undefined);
    this._sizes = new Float64Array(capacity);
    this._times = new Float64Array(capacity);
    this._mask = capacity - 1;
  }

  get length(): number {
    return this._length;
  }

  /** Sum of the estimated sizes of the spans held, in bytes. */
  get bytes(): number {
    return this._bytes;
  }

  push(span: ReadableSpan, tag: Tag, size: number, time: number): void {
    if (this._length > this._mask) this._grow();
    const i = (this._head + this._length) & this._mask;
    this._spans[i] = span;
    this._tags[i] = tag;
    this._sizes[i] = size;
    this._times[i] = time;
    this._length++;
    this._bytes += size;
  }

  /** The oldest span's time; `Infinity` when empty. */
  headTime(): number {
    return this._length === 0 ? Number.POSITIVE_INFINITY : this._times[this._head]!;
  }

  /** The oldest span's size; 0 when empty. */
  headSize(): number {
    return this._length === 0 ? 0 : this._sizes[this._head]!;
  }

  /** How many spans fit before the deque grows: a size hint for a replacement. */
  get capacity(): number {
    return this._mask + 1;
  }

  headTag(): Tag | undefined {
    return this._length === 0 ? undefined : this._tags[this._head];
  }

  /**
   * Removes the oldest span. Moves it into `into` when given, so spans can
   * change queues without being looked at twice.
   */
  shift(into?: SpanDeque<Tag>): ReadableSpan | undefined {
    if (this._length === 0) return undefined;
    const i = this._head;
    const span = this._spans[i]!;
    const size = this._sizes[i]!;
    into?.push(span, this._tags[i]!, size, this._times[i]!);
    // Removed slots are cleared so their spans can be collected.
    this._spans[i] = undefined;
    this._tags[i] = undefined;
    this._head = (i + 1) & this._mask;
    this._length--;
    this._bytes -= size;
    if (this._length === 0) this._bytes = 0;
    return span;
  }

  /** Calls `fn` for each span, oldest first. */
  forEach(fn: (span: ReadableSpan, tag: Tag, size: number, time: number) => void): void {
    for (let k = 0; k < this._length; k++) {
      const i = (this._head + k) & this._mask;
      fn(this._spans[i]!, this._tags[i]!, this._sizes[i]!, this._times[i]!);
    }
  }

  /**
   * Removes every span whose tag satisfies `remove`, keeping the order of
   * the rest, in one pass. Removed spans are pushed onto `into`, oldest
   * first, with `intoTag` as their tag. Returns how many were removed.
   */
  removeWhere<IntoTag>(
    remove: (tag: Tag) => boolean,
    into?: SpanDeque<IntoTag>,
    intoTag?: IntoTag,
  ): number {
    const n = this._length;
    let kept = 0;
    let removedBytes = 0;
    for (let k = 0; k < n; k++) {
      const i = (this._head + k) & this._mask;
      const tag = this._tags[i]!;
      if (remove(tag)) {
        const size = this._sizes[i]!;
        removedBytes += size;
        into?.push(this._spans[i]!, intoTag as IntoTag, size, this._times[i]!);
        continue;
      }
      if (kept !== k) {
        const j = (this._head + kept) & this._mask;
        this._spans[j] = this._spans[i];
        this._tags[j] = tag;
        this._sizes[j] = this._sizes[i]!;
        this._times[j] = this._times[i]!;
      }
      kept++;
    }
    for (let k = kept; k < n; k++) {
      const i = (this._head + k) & this._mask;
      this._spans[i] = undefined;
      this._tags[i] = undefined;
    }
    this._length = kept;
    this._bytes = kept === 0 ? 0 : this._bytes - removedBytes;
    return n - kept;
  }

  clear(): void {
    this._spans.fill(undefined);
    this._tags.fill(undefined);
    this._head = 0;
    this._length = 0;
    this._bytes = 0;
  }

  private _grow(): void {
    const capacity = this._spans.length;
    const spans = new Array<ReadableSpan | undefined>(capacity * 2).fill(undefined);
    const tags = new Array<Tag | undefined>(capacity * 2).fill(undefined);
    const sizes = new Float64Array(capacity * 2);
    const times = new Float64Array(capacity * 2);
    for (let k = 0; k < this._length; k++) {
      const i = (this._head + k) & this._mask;
      spans[k] = this._spans[i];
      tags[k] = this._tags[i];
      sizes[k] = this._sizes[i]!;
      times[k] = this._times[i]!;
    }
    this._spans = spans;
    this._tags = tags;
    this._sizes = sizes;
    this._times = times;
    this._mask = capacity * 2 - 1;
    this._head = 0;
  }
}
