import { basename } from 'node:path';
import { parseSnapshotFileName } from '../snapshot/snapshot-files.js';
import { CliError } from './errors.js';
import type { Snapshot, SnapshotSpan } from './read-snapshot.js';
import { padEnd, type Style, truncate } from './style.js';

/** Triggers that are not a trace's doing: nothing to put first. */
const NO_TRIGGERING_TRACE = new Set(['snapshot', 'signal', 'manual']);
const DURATION_WIDTH = 8;
const MIN_BAR_WIDTH = 10;
const MIN_LABEL_WIDTH = 12;
const SPAN_ERROR = 2;
/** What the recorder puts on the spans it makes from GC pauses and stalls. */
const RUNTIME_ATTRIBUTE = 'flight_recorder.runtime';
const RUNTIME_TRACK_NAME = 'process runtime';
/** The trigger whose flush is the runtime track's doing. */
const STALL_TRIGGER = 'event-loop-stall';
/** The span a crash dump adds for the exception when no span was open (src/snapshot/crash-dump.ts). */
const CRASH_SPAN_NAME = 'uncaught exception';
/** How a GC pause and a stall are drawn over the bar of the span they hit. */
const GC_GLYPH = '▓';
const STALL_GLYPH = '░';

export interface WaterfallOptions {
  /** Terminal width in columns; every line fits in it. */
  columns: number;
  style: Style;
  /** Show only the trace whose id starts with this (case-insensitive). */
  traceId?: string | undefined;
}

interface Trace {
  id: string;
  spans: SnapshotSpan[];
  start: bigint;
  end: bigint;
}

interface Row {
  span: SnapshotSpan;
  /** Tree drawing before the name, e.g. `│  ├─ `. */
  branch: string;
  /** Tree drawing for lines under the span (its events). */
  under: string;
  orphan: boolean;
}

/** `1.50` → `1.5`, `12.0` → `12`. */
function trim(fixed: string): string {
  return fixed.replace(/\.?0+$/, '');
}

/** A duration in nanoseconds, in the shortest readable unit: `850µs`, `12.3ms`, `1.25s`. */
export function formatDuration(ns: bigint): string {
  const ms = Number(ns) / 1e6;
  if (ms < 1) return `${Math.round(ms * 1000)}µs`;
  if (ms < 10) return `${trim(ms.toFixed(2))}ms`;
  if (ms < 100) return `${trim(ms.toFixed(1))}ms`;
  if (ms < 1000) return `${Math.round(ms)}ms`;
  const s = ms / 1000;
  if (s < 60) return `${trim(s.toFixed(s < 10 ? 2 : 1))}s`;
  const m = Math.floor(s / 60);
  return `${m}m${String(Math.floor(s % 60)).padStart(2, '0')}s`;
}

/** A UTC time from epoch nanoseconds: `2026-11-22 04:15:00.123Z`. */
export function formatTime(ns: bigint): string {
  return new Date(Number(ns / 1_000_000n)).toISOString().replace('T', ' ');
}

function isError(span: SnapshotSpan): boolean {
  return span.statusCode === SPAN_ERROR;
}

function isRuntime(span: SnapshotSpan): boolean {
  return span.attributes[RUNTIME_ATTRIBUTE] === true;
}

/** A window flush's `process runtime` trace: every GC pause and stall of the window. */
function isRuntimeTrack(trace: Trace): boolean {
  return trace.spans.some(
    (s) => s.name === RUNTIME_TRACK_NAME && s.parentSpanId === undefined && isRuntime(s),
  );
}

function isStall(span: SnapshotSpan): boolean {
  return span.attributes['v8js.gc.type'] === undefined;
}

function groupTraces(spans: readonly SnapshotSpan[]): Trace[] {
  const byId = new Map<string, Trace>();
  for (const span of spans) {
    let trace = byId.get(span.traceId);
    if (trace === undefined) {
      trace = { id: span.traceId, spans: [], start: span.start, end: span.end };
      byId.set(span.traceId, trace);
    }
    trace.spans.push(span);
    if (span.start < trace.start) trace.start = span.start;
    if (span.end > trace.end) trace.end = span.end;
  }
  return [...byId.values()];
}

/** A trace's local roots: spans whose parent is not in the trace (none, remote or not recorded). */
function rootsOf(trace: Trace): SnapshotSpan[] {
  const ids = new Set(trace.spans.map((s) => s.spanId));
  return trace.spans.filter((s) => s.parentSpanId === undefined || !ids.has(s.parentSpanId));
}

function longestRoot(trace: Trace, onlyErrors: boolean): bigint {
  let longest = -1n;
  // The runtime track spans the window: it is never a request that triggered.
  if (isRuntimeTrack(trace)) return longest;
  for (const root of rootsOf(trace)) {
    if (onlyErrors && !isError(root)) continue;
    if (root.end - root.start > longest) longest = root.end - root.start;
  }
  return longest;
}

/**
 * The trace that caused the flush, as far as the file can tell. Within one
 * flush, the triggering local root is the only one that ended with status
 * ERROR (for `error`) or past the latency threshold (for `latency`): any
 * other would have triggered a flush of its own, under its own snapshot id.
 * So it is the trace with an ERROR root, or the slowest root; custom
 * triggers get the same guess. A crash dump's is the trace holding the
 * exception on an unfinished span, or on the span the dump added for it
 * when no span was open. Snapshots, signals and manual flushes
 * have none. (The span that ended last is no guide: late spans of the
 * window's traces follow the flush into the same export.)
 */
export function triggeringTrace(snapshot: Snapshot, traces: readonly Trace[]): Trace | undefined {
  const trigger = snapshot.triggers.length === 1 ? snapshot.triggers[0]! : undefined;
  if (trigger === undefined || NO_TRIGGERING_TRACE.has(trigger)) return undefined;
  if (trigger === STALL_TRIGGER) return traces.find(isRuntimeTrack);
  if (trigger === 'crash') {
    const holds = (t: Trace, carries: (s: SnapshotSpan) => boolean) =>
      t.spans.some((s) => carries(s) && s.events.some((e) => e.name === 'exception'));
    return (
      traces.find((t) => holds(t, (s) => s.unfinished)) ??
      traces.find((t) => holds(t, (s) => s.name === CRASH_SPAN_NAME))
    );
  }
  const errorsOnly =
    trigger === 'error' ||
    (trigger !== 'latency' && traces.some((t) => longestRoot(t, true) >= 0n));
  let best: Trace | undefined;
  let bestDuration = -1n;
  for (const trace of traces) {
    const d = longestRoot(trace, errorsOnly);
    if (d > bestDuration) {
      best = trace;
      bestDuration = d;
    }
  }
  return best;
}

const HTTP_METHOD = /^(GET|HEAD|POST|PUT|PATCH|DELETE|OPTIONS|CONNECT|TRACE)$/;

/** The span's name; a bare HTTP method gets its route or path, as Jaeger users would expect. */
function displayName(span: SnapshotSpan): string {
  if (!HTTP_METHOD.test(span.name)) return span.name;
  const a = span.attributes;
  const where = a['http.route'] ?? a['url.path'] ?? a['http.target'];
  return typeof where === 'string' && where !== '' ? `${span.name} ${where}` : span.name;
}

function byStart(a: SnapshotSpan, b: SnapshotSpan): number {
  return a.start < b.start ? -1 : a.start > b.start ? 1 : a.name.localeCompare(b.name);
}

/** The trace's spans in tree order (depth first, children by start time). */
function treeRows(trace: Trace): Row[] {
  const ids = new Set(trace.spans.map((s) => s.spanId));
  const children = new Map<string, SnapshotSpan[]>();
  const roots: SnapshotSpan[] = [];
  for (const span of trace.spans) {
    const parent = span.parentSpanId;
    if (parent === undefined || !ids.has(parent) || parent === span.spanId) {
      roots.push(span);
      continue;
    }
    const list = children.get(parent);
    if (list === undefined) children.set(parent, [span]);
    else list.push(span);
  }
  roots.sort(byStart);
  const rows: Row[] = [];
  const seen = new Set<SnapshotSpan>();
  const walk = (span: SnapshotSpan, branch: string, under: string, indent: string): void => {
    if (seen.has(span)) return;
    seen.add(span);
    rows.push({ span, branch, under, orphan: false });
    const kids = (children.get(span.spanId) ?? []).sort(byStart);
    kids.forEach((kid, i) => {
      const last = i === kids.length - 1;
      const next = indent + (last ? '   ' : '│  ');
      walk(kid, `${indent}${last ? '└─ ' : '├─ '}`, `${next}${kidsOf(kid) ? '│  ' : '   '}`, next);
    });
  };
  const kidsOf = (span: SnapshotSpan): boolean => (children.get(span.spanId)?.length ?? 0) > 0;
  for (const root of roots) {
    const start = rows.length;
    walk(root, '', kidsOf(root) ? '│  ' : '   ', '');
    if (root.parentSpanId !== undefined && rows[start] !== undefined) rows[start]!.orphan = true;
  }
  // Spans caught in a parent cycle: still shown, at the top level.
  for (const span of trace.spans) if (!seen.has(span)) walk(span, '', '   ', '');
  return rows;
}

/** A "nice" step (1, 2 or 5 times a power of ten) of at least `raw`. */
function niceStep(raw: number): number {
  const power = 10 ** Math.floor(Math.log10(raw));
  for (const m of [1, 2, 5, 10]) if (m * power >= raw) return m * power;
  return 10 * power;
}

/** Tick labels over the bar area: `0      200ms      400ms`. */
function axis(total: bigint, width: number): string {
  const cells = new Array<string>(width).fill(' ');
  const totalNs = Number(total);
  // A trace that took no time has a one-point axis (and a zero step would never end).
  if (!(totalNs > 0)) return padEnd('0', width);
  const step = niceStep(totalNs / Math.max(1, Math.floor(width / 12)));
  let free = 0;
  for (let t = 0; t <= totalNs; t += step) {
    const label =
      t === 0 ? '0' : formatDuration(BigInt(Math.round(t))).replace(/\.0+(?=[a-zµ])/, '');
    const pos = Math.round((t / totalNs) * width);
    if (pos < free || pos + label.length > width) continue;
    for (let k = 0; k < label.length; k++) cells[pos + k] = label[k]!;
    free = pos + label.length + 2;
  }
  return cells.join('');
}

/** The bar of one span: where it starts and ends on the trace's time axis. */
function bar(span: SnapshotSpan, trace: Trace, width: number): { pad: number; fill: number } {
  const total = Number(trace.end - trace.start) || 1;
  const from = Number(span.start - trace.start) / total;
  const to = Number(span.end - trace.start) / total;
  const pad = Math.min(width - 1, Math.floor(from * width));
  const fill = Math.max(1, Math.min(width - pad, Math.round(to * width) - pad));
  return { pad, fill };
}

/**
 * The cells of a bar `width` wide, with the GC pauses and stalls of `marks`
 * drawn over the span's own bar where they were (they may reach past it: a
 * pause is timed as it happened).
 */
function markedBar(
  span: SnapshotSpan,
  marks: readonly SnapshotSpan[],
  trace: Trace,
  width: number,
  glyph: string,
): string[] {
  const { pad, fill } = bar(span, trace, width);
  const cells = new Array<string>(width).fill(' ');
  for (let k = pad; k < pad + fill && k < width; k++) cells[k] = glyph;
  for (const mark of marks) {
    const m = bar(mark, trace, width);
    const g = isStall(mark) ? STALL_GLYPH : GC_GLYPH;
    for (let k = m.pad; k < m.pad + m.fill && k < width; k++) cells[k] = g;
  }
  return cells;
}

/** `gc (major) 12ms · event loop blocked 210ms`, the pauses a span was affected by. */
function markLine(marks: readonly SnapshotSpan[]): string {
  const shown = marks.slice(0, 6).map((m) => `${m.name} ${formatDuration(m.end - m.start)}`);
  if (marks.length > shown.length) shown.push(`${marks.length - shown.length} more`);
  return `affected by ${shown.join(' · ')}`;
}

function mib(bytes: unknown): string | undefined {
  return typeof bytes === 'number' ? `${(bytes / 2 ** 20).toFixed(1)} MiB` : undefined;
}

/**
 * The runtime track: one row over the window, the GC pauses and stalls
 * drawn where they were, and what the flush sampled.
 */
function renderRuntimeTrack(trace: Trace, options: WaterfallOptions, out: string[]): void {
  const { style, columns } = options;
  const root = trace.spans.find((s) => s.name === RUNTIME_TRACK_NAME && isRuntime(s))!;
  const events = trace.spans.filter((s) => s !== root);
  const gcs = events.filter((s) => !isStall(s));
  const stalls = events.filter(isStall);
  const total = (spans: readonly SnapshotSpan[]) =>
    formatDuration(spans.reduce((sum, s) => sum + (s.end - s.start), 0n));
  out.push(
    style.bold(
      truncate(`${RUNTIME_TRACK_NAME} · ${formatDuration(trace.end - trace.start)}`, columns),
    ),
  );
  const utilization = root.attributes['nodejs.eventloop.utilization'];
  const facts = [
    `${gcs.length} GC pause${gcs.length === 1 ? '' : 's'} (${total(gcs)})`,
    `${stalls.length} stall${stalls.length === 1 ? '' : 's'} (${total(stalls)})`,
  ];
  const heap = mib(root.attributes['v8js.memory.heap.used']);
  if (heap !== undefined) facts.push(`heap ${heap}`);
  if (typeof utilization === 'number') {
    facts.push(`loop utilization ${Math.round(utilization * 100)}%`);
  }
  out.push(style.dim(truncate(facts.join(' · '), columns)));
  const labelWidth = Math.min(MIN_LABEL_WIDTH, columns);
  const barWidth = Math.max(MIN_BAR_WIDTH, columns - labelWidth - DURATION_WIDTH - 2);
  const gutter = ' '.repeat(labelWidth + DURATION_WIDTH + 2);
  out.push(style.dim(`${gutter}${axis(trace.end - trace.start, barWidth)}`.trimEnd()));
  const cells = markedBar(root, events, trace, barWidth, '─');
  const label = padEnd('runtime', labelWidth);
  const duration = formatDuration(root.end - root.start).padStart(DURATION_WIDTH);
  out.push(`${label} ${duration} ${style.yellow(cells.join('').trimEnd())}`);
  const longest = [...stalls]
    .sort((a, b) => (b.end - b.start > a.end - a.start ? 1 : -1))
    .slice(0, 3);
  for (const stall of longest) {
    const at = formatDuration(stall.start - trace.start);
    out.push(
      style.dim(
        truncate(
          `${gutter}${STALL_GLYPH} ${stall.name} ${formatDuration(stall.end - stall.start)} at +${at}`,
          columns,
        ),
      ),
    );
  }
}

function exceptionLines(span: SnapshotSpan): string[] {
  const lines: string[] = [];
  for (const event of span.events) {
    if (event.name !== 'exception') continue;
    const type = event.attributes['exception.type'];
    const message = event.attributes['exception.message'];
    const text = [type, message].filter((v) => typeof v === 'string' && v !== '').join(': ');
    lines.push(text === '' ? 'exception' : text);
  }
  if (lines.length === 0 && isError(span) && span.statusMessage !== '') {
    lines.push(span.statusMessage);
  }
  return lines.map((l) => l.replace(/\s+/g, ' '));
}

/** The severity text of a log line written as a span event (`logsAsSpanEvents`), or undefined. */
function logSeverity(attributes: Record<string, unknown>): string | undefined {
  const text = attributes['log.severity'];
  if (typeof text === 'string' && text !== '') return text.toUpperCase();
  const n = attributes['log.severity_number'];
  return n === undefined ? undefined : `SEVERITY ${String(n)}`;
}

/** A span's log lines (events with a log severity), in time order: `+1.2ms DEBUG charging card`. */
function logLines(span: SnapshotSpan): { text: string; severe: boolean }[] {
  const lines: { time: bigint; text: string; severe: boolean }[] = [];
  for (const event of span.events) {
    const severity = logSeverity(event.attributes);
    if (severity === undefined) continue;
    const offset = event.time >= span.start ? formatDuration(event.time - span.start) : '0µs';
    const n = Number(event.attributes['log.severity_number'] ?? 0);
    lines.push({
      time: event.time,
      text: `+${offset} ${severity} ${event.name}`.replace(/\s+/g, ' '),
      severe: n >= 17 || severity === 'ERROR' || severity === 'FATAL',
    });
  }
  return lines.sort((a, b) => (a.time < b.time ? -1 : a.time > b.time ? 1 : 0));
}

function renderTrace(
  trace: Trace,
  triggered: string | undefined,
  options: WaterfallOptions,
  out: string[],
): void {
  const { style, columns } = options;
  // GC pauses and stalls are drawn on the row of the span they hit, not as rows.
  const marksOf = new Map<string, SnapshotSpan[]>();
  const ids = new Set(trace.spans.map((s) => s.spanId));
  const own: SnapshotSpan[] = [];
  for (const s of trace.spans) {
    if (isRuntime(s) && s.parentSpanId !== undefined && ids.has(s.parentSpanId)) {
      const list = marksOf.get(s.parentSpanId);
      if (list === undefined) marksOf.set(s.parentSpanId, [s]);
      else list.push(s);
    } else {
      own.push(s);
    }
  }
  const rows = treeRows(marksOf.size === 0 ? trace : { ...trace, spans: own });
  const errors = trace.spans.filter(isError).length;
  const unfinished = trace.spans.filter((s) => s.unfinished).length;
  const root = rows[0]?.span;
  const title = [
    `trace ${trace.id}`,
    root === undefined ? '' : displayName(root),
    formatDuration(trace.end - trace.start),
  ];
  const heading = truncate(
    `${triggered === undefined ? '' : '▶ '}${title.join(' · ')}${triggered === undefined ? '' : `  ◀ ${triggered}`}`,
    columns,
  );
  out.push(triggered === undefined ? style.bold(heading) : style.bold(style.yellow(heading)));
  const facts = [`${own.length} span${own.length === 1 ? '' : 's'}`];
  if (errors > 0) facts.push(`${errors} error${errors === 1 ? '' : 's'}`);
  if (unfinished > 0) facts.push(`${unfinished} unfinished`);
  if (root?.service !== undefined) facts.push(`service ${root.service}`);
  out.push(style.dim(truncate(facts.join(' · '), columns)));
  if (marksOf.size > 0) {
    const legend = `${GC_GLYPH} GC pause · ${STALL_GLYPH} event loop blocked · affected, not necessarily caused`;
    out.push(style.dim(truncate(legend, columns)));
  }

  const labels = rows.map((r) => {
    const flags = `${isError(r.span) ? '✗ ' : ''}${r.orphan ? '⋯ ' : ''}`;
    return `${r.branch}${flags}${displayName(r.span)}${r.span.unfinished ? ' (unfinished)' : ''}`;
  });
  const widest = Math.max(0, ...labels.map((l) => [...l].length));
  const room = columns - DURATION_WIDTH - 2;
  const labelWidth = Math.min(widest, Math.max(MIN_LABEL_WIDTH, Math.floor(room * 0.45)));
  const barWidth = Math.max(MIN_BAR_WIDTH, room - labelWidth);
  const gutter = ' '.repeat(labelWidth + DURATION_WIDTH + 2);
  out.push(style.dim(`${gutter}${axis(trace.end - trace.start, barWidth)}`.trimEnd()));

  rows.forEach((row, i) => {
    const span = row.span;
    const label = padEnd(truncate(labels[i]!, labelWidth), labelWidth);
    const duration = formatDuration(span.end - span.start).padStart(DURATION_WIDTH);
    const { pad, fill } = bar(span, trace, barWidth);
    const glyph = span.unfinished ? '▒' : '█';
    const marks = marksOf.get(span.spanId);
    let line = `${label} ${duration} ${' '.repeat(pad)}`;
    if (marks !== undefined) {
      const cells = markedBar(span, marks, trace, barWidth, glyph).join('').trimEnd();
      line = `${isError(span) ? style.red(label) : label} ${duration} ${style.yellow(cells)}`;
    } else if (isError(span)) {
      line = `${style.red(label)} ${duration} ${' '.repeat(pad)}${style.red(glyph.repeat(fill))}`;
    } else {
      line += style.cyan(glyph.repeat(fill));
    }
    out.push(line);
    if (marks !== undefined)
      out.push(style.yellow(truncate(`${row.under}  ${markLine(marks)}`, columns)));
    for (const log of logLines(span)) {
      const text = truncate(`${row.under}  · ${log.text}`, columns);
      out.push(log.severe ? style.red(text) : style.dim(text));
    }
    for (const text of exceptionLines(span)) {
      const lead = `${row.under}  `;
      out.push(style.red(truncate(`${lead}✗ ${text}`, columns)));
    }
  });
}

/** Renders a snapshot file as a waterfall of each trace, the triggering trace first. */
export function renderWaterfall(snapshot: Snapshot, options: WaterfallOptions): string {
  const { style, columns } = options;
  let traces = groupTraces(snapshot.spans);
  const first = triggeringTrace(snapshot, traces);
  if (options.traceId !== undefined) {
    const prefix = options.traceId.toLowerCase();
    traces = traces.filter((t) => t.id.startsWith(prefix));
    if (traces.length === 0) {
      throw new CliError(`${snapshot.path}: no trace ${options.traceId} in this file`);
    }
  }
  traces.sort((a, b) => {
    if (a === first) return -1;
    if (b === first) return 1;
    return a.start < b.start ? -1 : a.start > b.start ? 1 : 0;
  });

  const out: string[] = [];
  // A file with no spans carries no marks: its name still says what it was.
  const named = parseSnapshotFileName(basename(snapshot.path));
  const trigger = snapshot.triggers.join(', ') || named?.trigger || 'unknown';
  const facts = [
    `snapshot ${snapshot.snapshotIds.join(', ') || named?.snapshotId || 'unknown'}`,
    `trigger ${trigger}`,
    `${snapshot.traceCount} trace${snapshot.traceCount === 1 ? '' : 's'}`,
    `${snapshot.spans.length} span${snapshot.spans.length === 1 ? '' : 's'}`,
  ];
  out.push(style.bold(truncate(facts.join(' · '), columns)));
  if (snapshot.spans.length > 0) {
    let start = snapshot.spans[0]!.start;
    let end = snapshot.spans[0]!.end;
    for (const s of snapshot.spans) {
      if (s.start < start) start = s.start;
      if (s.end > end) end = s.end;
    }
    out.push(style.dim(truncate(`window ${formatTime(start)} – ${formatTime(end)}`, columns)));
  }
  if (traces.length === 0) out.push('', '(no spans)');
  for (const trace of traces) {
    out.push('');
    if (isRuntimeTrack(trace)) {
      renderRuntimeTrack(trace, options, out);
      continue;
    }
    const why =
      trace === first ? (trigger === 'crash' ? 'crashed here' : `triggered ${trigger}`) : undefined;
    renderTrace(trace, why, options, out);
  }
  return `${out.join('\n')}\n`;
}
