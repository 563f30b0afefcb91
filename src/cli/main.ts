import { type ParseArgsConfig, parseArgs } from 'node:util';
import { fromEnv, MAX_DURATION_MS, OPTIONS } from '../config.js';
import { DEFAULT_SNAPSHOT_DIR } from '../snapshot/snapshot-files.js';
import { CliError, EXIT_FAILURE, EXIT_OK, EXIT_USAGE } from './errors.js';
import type { Io } from './io.js';
import { runLs } from './ls.js';
import { printable } from './style.js';
import { resolveEndpoint, resolveHeaders, resolveTimeout, uploadFile } from './upload.js';
import { runView } from './view.js';

const HELP = `Usage: flight-recorder <command> [options]

Look at and send on the snapshot files of otel-flight-recorder: OTLP/HTTP
JSON trace requests written by signal snapshots, crash dumps, the snapshot
handler or the FileSpanExporter.

Commands:
  view <file> [--trace <id>]        Print a waterfall of each trace in a file,
                                    the triggering trace first
  upload <file...> [--endpoint URL] POST files to an OTLP/HTTP collector;
                                    files are never deleted
  ls [dir]                          List the snapshot files in a directory
                                    (default: $FLIGHT_RECORDER_SNAPSHOT_DIR,
                                    else ./${DEFAULT_SNAPSHOT_DIR})

Options:
  -h, --help                        Show help (also after a command)
  -v, --version                     Print the version of otel-flight-recorder

Exit status: 0 on success, 1 when a file or an upload failed, 2 on a usage error.
`;

const HELP_VIEW = `Usage: flight-recorder view <file> [--trace <id>]

Prints a terminal waterfall of each trace in a snapshot file: a time axis,
spans nested under their parents with their durations, errors marked with ✗
(and red), spans still open at a crash drawn with ▒ and marked (unfinished),
the exceptions under the spans they hit, GC pauses (▓) and event-loop stalls
(░) on the row of the span they hit, and a window flush's runtime track on
one row. The trace that triggered the flush comes first. Lines fit the terminal width (100 columns when not a terminal);
colour only on a terminal, and never when NO_COLOR is set.

Options:
  -t, --trace <id>   Show only the trace whose id starts with <id>
  -h, --help         Show this help
`;

const HELP_UPLOAD = `Usage: flight-recorder upload <file...> [--endpoint URL]

POSTs each snapshot file, as it is, to an OTLP/HTTP traces endpoint with
Content-Type: application/json. Files are read and checked first; files that
fail (unreadable, malformed, refused or unreachable collector) stay where they
are, and so do the files that succeed: nothing is ever deleted.

The endpoint is --endpoint, else OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, else
OTEL_EXPORTER_OTLP_ENDPOINT + /v1/traces, else http://localhost:4318/v1/traces.
Headers come from OTEL_EXPORTER_OTLP_HEADERS and OTEL_EXPORTER_OTLP_TRACES_HEADERS
(key=value,key2=value2); the timeout from OTEL_EXPORTER_OTLP_TRACES_TIMEOUT or
OTEL_EXPORTER_OTLP_TIMEOUT (ms, read as the SDK reads it, from 1 to ${MAX_DURATION_MS};
a bad value is named on stderr and skipped, the default is 10000).

Options:
  -e, --endpoint <url>  The full URL to POST to, e.g. http://localhost:4318/v1/traces
  -h, --help            Show this help

Exit status: 0 when every file was uploaded, 1 when any failed, 2 on a usage
error (an empty --endpoint among them).
`;

const HELP_LS = `Usage: flight-recorder ls [dir]

Lists the snapshot files in dir, oldest first: time, trigger, traces, spans,
size and name. The default dir is $FLIGHT_RECORDER_SNAPSHOT_DIR, else
./${DEFAULT_SNAPSHOT_DIR}.

Options:
  -h, --help   Show this help
`;

type Options = NonNullable<ParseArgsConfig['options']>;

interface Parsed {
  values: Record<string, string | boolean | (string | boolean)[] | undefined>;
  positionals: string[];
}

/**
 * Parses a command's arguments. A flag given an empty or blank value
 * (`--endpoint "$UNSET"`), or an empty argument, is a usage error, never taken
 * as left out.
 */
function parse(args: string[], options: Options): Parsed {
  let parsed: Parsed;
  try {
    parsed = parseArgs({
      args,
      options: { help: { type: 'boolean', short: 'h' }, ...options },
      allowPositionals: true,
      strict: true,
    });
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    throw new CliError(`${message.split('\n')[0]} (see --help)`, EXIT_USAGE);
  }
  if (parsed.values.help) return parsed;
  for (const [name, value] of Object.entries(parsed.values)) {
    if (typeof value === 'string' && value.trim() === '') {
      usage(`--${name} needs a value, got ${JSON.stringify(value)}`);
    }
  }
  // No path is empty; a blank one may be a real (if odd) name.
  if (parsed.positionals.includes('')) usage('an argument is empty ("")');
  return parsed;
}

function usage(message: string): never {
  throw new CliError(`${message} (see --help)`, EXIT_USAGE);
}

async function view(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { trace: { type: 'string', short: 't' } });
  if (values.help) return help(io, HELP_VIEW);
  if (positionals.length !== 1) usage('view takes exactly one file');
  const trace = values.trace as string | undefined;
  if (trace !== undefined && !/^[0-9a-fA-F]+$/.test(trace)) {
    usage(`--trace expects a hex trace id (or its start), got ${JSON.stringify(trace)}`);
  }
  return runView(positionals[0]!, trace, io);
}

async function upload(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, { endpoint: { type: 'string', short: 'e' } });
  if (values.help) return help(io, HELP_UPLOAD);
  if (positionals.length === 0) usage('upload takes one or more files');
  const endpoint = resolveEndpoint(values.endpoint as string | undefined, io.env);
  const headers = resolveHeaders(io.env);
  const timeout = resolveTimeout(io.env, (m) => io.err(`flight-recorder: ${m}\n`));
  const done: string[] = [];
  const failed: string[] = [];
  for (const path of positionals) {
    const outcome = await uploadFile(path, endpoint, headers, timeout);
    if (outcome.ok) {
      done.push(path);
      io.out(`uploaded ${printable(path)} (${printable(outcome.detail)})\n`);
    } else {
      failed.push(path);
      io.err(
        `flight-recorder: failed ${printable(path)}: ${printable(outcome.detail)}; the file was kept\n`,
      );
    }
  }
  const total = positionals.length;
  if (failed.length === 0) {
    io.out(`uploaded ${total} file${total === 1 ? '' : 's'} to ${endpoint.href}\n`);
    return EXIT_OK;
  }
  const succeeded =
    done.length === 0 ? 'none succeeded' : `succeeded: ${printable(done.join(', '))}`;
  const kept = failed.length === 1 ? 'it was kept' : 'they were kept';
  io.err(
    `flight-recorder: ${failed.length} of ${total} file${total === 1 ? '' : 's'} failed to upload to ${endpoint.href}; ${kept} (${succeeded})\n`,
  );
  return EXIT_FAILURE;
}

async function ls(args: string[], io: Io): Promise<number> {
  const { values, positionals } = parse(args, {});
  if (values.help) return help(io, HELP_LS);
  if (positionals.length > 1) usage('ls takes at most one directory');
  const dir =
    positionals[0] ??
    fromEnv(OPTIONS.snapshotDir, io.env, (m) => io.err(`${m}\n`)) ??
    OPTIONS.snapshotDir.default;
  return runLs(dir, io);
}

function help(io: Io, text: string): number {
  io.out(text);
  return EXIT_OK;
}

const COMMANDS: Record<string, (args: string[], io: Io) => Promise<number>> = {
  view,
  upload,
  ls,
};

/**
 * Runs the CLI and resolves to its exit code. Every failure is reported as
 * one line on stderr, never as a stack trace.
 */
export async function main(argv: readonly string[], io: Io): Promise<number> {
  const [command, ...rest] = argv;
  try {
    if (command === undefined) {
      io.err(HELP);
      return EXIT_USAGE;
    }
    if (command === '-h' || command === '--help' || command === 'help') return help(io, HELP);
    if (command === '-v' || command === '--version' || command === 'version') {
      return help(io, `${io.version}\n`);
    }
    const run = Object.hasOwn(COMMANDS, command) ? COMMANDS[command] : undefined;
    if (run === undefined) usage(`unknown command ${JSON.stringify(command)}`);
    return await run(rest, io);
  } catch (error) {
    // Messages quote files and collectors: nothing in them reaches the terminal as an escape.
    if (error instanceof CliError) {
      io.err(`flight-recorder: ${printable(error.message)}\n`);
      return error.exitCode;
    }
    const message = error instanceof Error ? error.message : String(error);
    io.err(`flight-recorder: unexpected error: ${printable(message.split('\n')[0]!)}\n`);
    return EXIT_FAILURE;
  }
}
