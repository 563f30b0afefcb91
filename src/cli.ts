#!/usr/bin/env node
import { readFileSync } from 'node:fs';
import { main } from './cli/main.js';
import { wantsColor } from './cli/style.js';

const DEFAULT_COLUMNS = 100;

/** The terminal's width; off a terminal, `COLUMNS` when set, else 100. */
function columns(): number {
  if (process.stdout.isTTY && process.stdout.columns > 0) return process.stdout.columns;
  const fromEnv = Number(process.env.COLUMNS);
  return Number.isInteger(fromEnv) && fromEnv > 0 ? fromEnv : DEFAULT_COLUMNS;
}

// A reader that goes away (`| head`) ends the output, not with a stack trace;
// any other write error (a full disk: `> /dev/full`) is one line on stderr
// and exit code 1. When stderr itself fails, there is nowhere left to say so.
for (const stream of [process.stdout, process.stderr]) {
  stream.on('error', (error: NodeJS.ErrnoException) => {
    if (error.code === 'EPIPE') process.exit(process.exitCode ?? 0);
    if (stream === process.stdout) {
      try {
        process.stderr.write(
          `flight-recorder: cannot write output: ${error.code ?? error.message}\n`,
        );
      } catch {}
    }
    process.exit(1);
  });
}

/** This package's version: package.json is one level up from src/cli.ts and from dist/cli.js alike. */
function version(): string {
  try {
    const pkg = JSON.parse(readFileSync(new URL('../package.json', import.meta.url), 'utf8'));
    return String(pkg.version);
  } catch {
    return 'unknown';
  }
}

main(process.argv.slice(2), {
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  env: process.env,
  columns: columns(),
  color: wantsColor(process.stdout, process.env),
  version: version(),
}).then(
  (code) => {
    process.exitCode = code;
  },
  (error: unknown) => {
    process.stderr.write(`flight-recorder: unexpected error: ${String(error)}\n`);
    process.exitCode = 1;
  },
);
