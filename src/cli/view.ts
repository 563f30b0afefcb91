import type { Io } from './io.js';
import { readSnapshot } from './read-snapshot.js';
import { makeStyle } from './style.js';
import { renderWaterfall } from './waterfall.js';

/** `flight-recorder view <file> [--trace <id>]`. */
export async function runView(file: string, traceId: string | undefined, io: Io): Promise<number> {
  const snapshot = await readSnapshot(file);
  io.out(renderWaterfall(snapshot, { columns: io.columns, style: makeStyle(io.color), traceId }));
  return 0;
}
