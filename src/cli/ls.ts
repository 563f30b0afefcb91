import { stat } from 'node:fs/promises';
import { listSnapshotFiles, parseSnapshotFileName } from '../snapshot/snapshot-files.js';
import { CliError, describeFsError, EXIT_FAILURE, EXIT_OK } from './errors.js';
import type { Io } from './io.js';
import { readSnapshot } from './read-snapshot.js';
import { makeStyle, padEnd, printable } from './style.js';

/** A size in bytes, in the shortest readable unit: `812 B`, `14.2 KiB`, `3.1 MiB`. */
export function formatBytes(n: number): string {
  if (n < 1024) return `${n} B`;
  const units = ['KiB', 'MiB', 'GiB'];
  let v = n / 1024;
  let unit = 0;
  while (v >= 1024 && unit < units.length - 1) {
    v /= 1024;
    unit++;
  }
  return `${v.toFixed(v < 10 ? 1 : 0)} ${units[unit]}`;
}

/** `flight-recorder ls [dir]`: one row per snapshot file, oldest first. */
export async function runLs(directory: string, io: Io): Promise<number> {
  try {
    const st = await stat(directory);
    if (!st.isDirectory()) throw Object.assign(new Error('not a directory'), { code: 'ENOTDIR' });
  } catch (error) {
    throw new CliError(`${directory}: cannot list: ${describeFsError(error)}`);
  }
  let entries: Awaited<ReturnType<typeof listSnapshotFiles>>;
  try {
    entries = await listSnapshotFiles(directory);
  } catch (error) {
    throw new CliError(`${directory}: cannot list: ${describeFsError(error)}`);
  }
  if (entries.length === 0) {
    // A note, not a listing: stdout stays empty, as `ls` of an empty directory's is.
    io.err(`flight-recorder: no snapshot files in ${directory}\n`);
    return EXIT_OK;
  }
  const style = makeStyle(io.color);
  const rows: string[][] = [['TIME (UTC)', 'TRIGGER', 'TRACES', 'SPANS', 'SIZE', 'FILE']];
  let failed = 0;
  for (const entry of entries) {
    const named = parseSnapshotFileName(entry.name);
    const time = new Date(named?.time ?? entry.mtimeMs).toISOString().replace('T', ' ');
    try {
      const snapshot = await readSnapshot(entry.path);
      const trigger = snapshot.triggers.join(',') || named?.trigger || '?';
      rows.push([
        time,
        trigger,
        String(snapshot.traceCount),
        String(snapshot.spans.length),
        formatBytes(entry.size),
        entry.name,
      ]);
    } catch (error) {
      failed++;
      const message = error instanceof Error ? error.message : String(error);
      io.err(`flight-recorder: ${printable(message)}\n`);
      rows.push([time, named?.trigger ?? '?', '?', '?', formatBytes(entry.size), entry.name]);
    }
  }
  const widths = rows[0]!.map((_, c) => Math.max(...rows.map((r) => [...r[c]!].length)));
  const numeric = new Set([2, 3, 4]);
  rows.forEach((row, i) => {
    const cells = row.map((cell, c) =>
      c === row.length - 1
        ? cell
        : numeric.has(c)
          ? cell.padStart(widths[c]!)
          : padEnd(cell, widths[c]!),
    );
    const line = cells.join('  ');
    io.out(`${i === 0 ? style.bold(line) : line}\n`);
  });
  return failed > 0 ? EXIT_FAILURE : EXIT_OK;
}
