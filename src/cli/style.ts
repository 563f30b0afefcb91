/** ANSI styling that turns into plain text when colour is off. */
export interface Style {
  readonly color: boolean;
  bold(s: string): string;
  dim(s: string): string;
  red(s: string): string;
  yellow(s: string): string;
  cyan(s: string): string;
}

function sgr(open: number, close: number): (s: string) => string {
  return (s) => (s === '' ? s : `\u001b[${open}m${s}\u001b[${close}m`);
}

const plain = (s: string): string => s;

export function makeStyle(color: boolean): Style {
  if (!color) return { color, bold: plain, dim: plain, red: plain, yellow: plain, cyan: plain };
  return {
    color,
    bold: sgr(1, 22),
    dim: sgr(2, 22),
    red: sgr(31, 39),
    yellow: sgr(33, 39),
    cyan: sgr(36, 39),
  };
}

/**
 * Colour only for a terminal, and never when `NO_COLOR` is set to anything
 * but the empty string (https://no-color.org).
 */
export function wantsColor(
  stream: { isTTY?: boolean },
  env: Record<string, string | undefined>,
): boolean {
  if (env.NO_COLOR !== undefined && env.NO_COLOR !== '') return false;
  return stream.isTTY === true;
}

// eslint-disable-next-line no-control-regex -- matching control characters is the point
const UNPRINTABLE = /[\u0000-\u001f\u007f-\u009f\u202a-\u202e\u2066-\u2069]/g;

/**
 * Text from a snapshot (span names, attribute values, trigger names, file
 * names: app data, partly from users), made safe to print: line breaks and
 * tabs become spaces, and the other control characters (C0, DEL, C1, so
 * every terminal escape) and the bidirectional overrides become U+FFFD.
 * Printed as they are, they could clear the screen, move the cursor over
 * other lines, set the window title, plant a hyperlink or reorder a line.
 */
export function printable(s: string): string {
  return s.replace(UNPRINTABLE, (c) => (c === '\t' || c === '\n' || c === '\r' ? ' ' : '\ufffd'));
}

/** The width of the text as a terminal shows it, escapes left out (one column a code point). */
export function visibleWidth(s: string): number {
  // eslint-disable-next-line no-control-regex -- matching ANSI escapes is the point
  return [...s.replace(/\u001b\[[0-9;]*m/g, '')].length;
}

/** Cuts plain text to `width` columns, marking the cut with an ellipsis. */
export function truncate(s: string, width: number): string {
  const chars = [...s];
  if (chars.length <= width) return s;
  if (width <= 0) return '';
  return `${chars.slice(0, width - 1).join('')}…`;
}

/** Pads plain text with spaces to `width` columns. */
export function padEnd(s: string, width: number): string {
  const w = [...s].length;
  return w >= width ? s : s + ' '.repeat(width - w);
}
