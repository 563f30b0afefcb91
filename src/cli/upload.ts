import { MAX_DURATION_MS } from '../config.js';
import { CliError, EXIT_USAGE } from './errors.js';
import { parseSnapshot, readSnapshotBytes } from './read-snapshot.js';

const DEFAULT_ENDPOINT = 'http://localhost:4318/v1/traces';
const DEFAULT_TIMEOUT_MS = 10_000;

type Env = Record<string, string | undefined>;

function nonEmpty(v: string | undefined): string | undefined {
  const t = v?.trim();
  return t === undefined || t === '' ? undefined : t;
}

/**
 * Where traces go, as the OTLP exporters decide it: `--endpoint` as given
 * (an empty one is an invalid endpoint),
 * else `OTEL_EXPORTER_OTLP_TRACES_ENDPOINT` as given, else
 * `OTEL_EXPORTER_OTLP_ENDPOINT` with `/v1/traces` appended, else
 * `http://localhost:4318/v1/traces`.
 */
export function resolveEndpoint(flag: string | undefined, env: Env): URL {
  // An explicit flag is never passed over, even empty: `--endpoint "$UNSET"`
  // fails as an invalid endpoint instead of sending elsewhere.
  let raw = flag?.trim();
  let source = '--endpoint';
  if (raw === undefined) {
    raw = nonEmpty(env.OTEL_EXPORTER_OTLP_TRACES_ENDPOINT);
    source = 'OTEL_EXPORTER_OTLP_TRACES_ENDPOINT';
  }
  if (raw === undefined) {
    const base = nonEmpty(env.OTEL_EXPORTER_OTLP_ENDPOINT);
    source = 'OTEL_EXPORTER_OTLP_ENDPOINT';
    raw = base === undefined ? DEFAULT_ENDPOINT : `${base.replace(/\/+$/, '')}/v1/traces`;
  }
  let url: URL;
  try {
    url = new URL(raw);
  } catch {
    throw new CliError(`invalid endpoint ${JSON.stringify(raw)} (from ${source})`, EXIT_USAGE);
  }
  if (url.protocol !== 'http:' && url.protocol !== 'https:') {
    throw new CliError(
      `invalid endpoint ${JSON.stringify(raw)} (from ${source}): expected http or https`,
      EXIT_USAGE,
    );
  }
  return url;
}

/**
 * Headers from `OTEL_EXPORTER_OTLP_HEADERS`, then `OTEL_EXPORTER_OTLP_TRACES_HEADERS`
 * over them: `key=value` pairs separated by commas, values URL-encoded.
 */
export function resolveHeaders(env: Env): Record<string, string> {
  const headers: Record<string, string> = {};
  for (const name of ['OTEL_EXPORTER_OTLP_HEADERS', 'OTEL_EXPORTER_OTLP_TRACES_HEADERS']) {
    const raw = env[name];
    if (raw === undefined) continue;
    for (const pair of raw.split(',')) {
      if (pair.trim() === '') continue;
      const eq = pair.indexOf('=');
      if (eq <= 0)
        throw new CliError(`invalid ${name}: ${JSON.stringify(pair)} is not key=value`, EXIT_USAGE);
      let key: string;
      let value: string;
      try {
        key = decodeURIComponent(pair.slice(0, eq).trim());
        value = decodeURIComponent(pair.slice(eq + 1).trim());
      } catch {
        throw new CliError(
          `invalid ${name}: ${JSON.stringify(pair)} is not URL-encoded`,
          EXIT_USAGE,
        );
      }
      headers[key.toLowerCase()] = value;
    }
  }
  return headers;
}

const TIMEOUT_VARIABLES = ['OTEL_EXPORTER_OTLP_TRACES_TIMEOUT', 'OTEL_EXPORTER_OTLP_TIMEOUT'];
const TIMEOUT_EXPECTED = `a number of ms above 0 and at most ${MAX_DURATION_MS}`;

/**
 * The request timeout in ms, as the OTLP exporters decide it:
 * `OTEL_EXPORTER_OTLP_TRACES_TIMEOUT`, else `OTEL_EXPORTER_OTLP_TIMEOUT`, else
 * 10000. A value is read as the SDK reads it, with `Number()` once trimmed
 * (so `1.5`, `0x10` and `1e3` are numbers, as they are to the app's
 * exporter), and must be above 0 and at most {@link MAX_DURATION_MS} (what a
 * Node timer holds; the SDK would time out at once past it). An empty one is
 * unset; any other is named to `warn`, one line each, and skipped, as the SDK
 * skips it: a bad traces timeout falls back to the general one.
 */
export function resolveTimeout(env: Env, warn: (message: string) => void): number {
  const ignored: string[] = [];
  let found: { name: string; ms: number } | undefined;
  for (const name of TIMEOUT_VARIABLES) {
    const raw = env[name];
    if (raw === undefined || raw.trim() === '') continue;
    const ms = Number(raw.trim());
    if (Number.isFinite(ms) && ms > 0 && ms <= MAX_DURATION_MS) {
      found = { name, ms };
      break;
    }
    ignored.push(`ignoring ${name}=${JSON.stringify(raw)}`);
  }
  const using = found === undefined ? String(DEFAULT_TIMEOUT_MS) : `${found.ms} from ${found.name}`;
  for (const what of ignored) warn(`${what}: expected ${TIMEOUT_EXPECTED}; using ${using}`);
  return found?.ms ?? DEFAULT_TIMEOUT_MS;
}

export interface UploadOutcome {
  path: string;
  ok: boolean;
  /** Spans sent, or why it failed. */
  detail: string;
}

function describeFetchError(error: unknown): string {
  if (error instanceof Error && error.name === 'TimeoutError') return 'timed out';
  const cause = (error as { cause?: unknown } | undefined)?.cause;
  if (cause instanceof Error) {
    const code = (cause as NodeJS.ErrnoException).code;
    return code !== undefined && !cause.message.includes(code)
      ? `${code}: ${cause.message}`
      : cause.message;
  }
  return error instanceof Error ? error.message : String(error);
}

/** The most of a collector's answer read: its start says what went wrong, the rest is let go. */
const MAX_ANSWER_BYTES = 64 * 1024;

/** The start of `response`'s body as text, at most `max` bytes of it; '' when it cannot be read. */
async function readAtMost(response: Response, max: number): Promise<string> {
  const reader = response.body?.getReader();
  if (reader === undefined) return '';
  const chunks: Uint8Array[] = [];
  let size = 0;
  try {
    while (size < max) {
      const { done, value } = await reader.read();
      if (done) break;
      chunks.push(value);
      size += value.byteLength;
    }
  } catch {
    // A body cut short: what came says enough.
  } finally {
    reader.cancel().catch(() => {});
  }
  return Buffer.concat(chunks).subarray(0, max).toString('utf8');
}

/** POSTs one snapshot file; never throws, never touches the file. */
export async function uploadFile(
  path: string,
  endpoint: URL,
  headers: Record<string, string>,
  timeoutMs: number,
): Promise<UploadOutcome> {
  let body: Buffer;
  let spans: number;
  try {
    body = await readSnapshotBytes(path);
    // Refuse what a collector would refuse, before sending it.
    spans = parseSnapshot(body.toString('utf8'), path).spans.length;
  } catch (error) {
    const message = error instanceof Error ? error.message : String(error);
    return {
      path,
      ok: false,
      detail: message.startsWith(`${path}: `) ? message.slice(path.length + 2) : message,
    };
  }
  let response: Response;
  try {
    response = await fetch(endpoint, {
      method: 'POST',
      headers: { ...headers, 'content-type': 'application/json' },
      body,
      // Never followed: a 301/302 turns the POST into a GET (and the file is
      // reported uploaded though nothing was sent), and a redirect may carry
      // the headers (credentials) to another host. Reported as a failure.
      redirect: 'manual',
      // A fraction of a ms, as the SDK takes it, waits to the next whole one.
      signal: AbortSignal.timeout(Math.ceil(timeoutMs)),
    });
  } catch (error) {
    return { path, ok: false, detail: `${endpoint.href}: ${describeFetchError(error)}` };
  }
  const text = await readAtMost(response, MAX_ANSWER_BYTES);
  if (response.status >= 300 && response.status < 400) {
    const location = response.headers.get('location') ?? '';
    const to = location === '' ? '' : ` to ${new URL(location, endpoint).href}`;
    return {
      path,
      ok: false,
      detail: `${endpoint.href} answered ${response.status} ${response.statusText}, a redirect${to}: not followed (it would not send the file as it is, or not there); use that endpoint`,
    };
  }
  if (!response.ok) {
    const reason = text.trim().replace(/\s+/g, ' ').slice(0, 200);
    return {
      path,
      ok: false,
      detail: `${endpoint.href} answered ${response.status} ${response.statusText}${reason ? `: ${reason}` : ''}`,
    };
  }
  let detail = `${spans} span${spans === 1 ? '' : 's'}`;
  try {
    const partial = (
      JSON.parse(text) as { partialSuccess?: { rejectedSpans?: unknown; errorMessage?: unknown } }
    ).partialSuccess;
    const rejected = Number(partial?.rejectedSpans ?? 0);
    if (rejected > 0) {
      detail += `, ${rejected} rejected by the collector${partial?.errorMessage ? `: ${String(partial.errorMessage)}` : ''}`;
    }
  } catch {}
  return { path, ok: true, detail };
}
