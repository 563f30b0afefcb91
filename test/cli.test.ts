// The CLI runs in process through main(argv, io), with its output captured;
// only "the bin" tests spawn it, for what a real process adds: the shebang,
// the version read from package.json, COLUMNS, exit codes. They run a bundle
// built into a temp directory as `npm run build` makes it, so they never test
// a stale dist/.
import { bundle } from '../scripts/build.mjs';
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { closeSync, existsSync, openSync } from 'node:fs';
import { copyFile, mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { before, describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { main } from '../src/cli/main.js';
import { serializeRequest } from '../src/export/otlp-json.js';
import { crashDumpSpans } from '../src/snapshot/crash-dump.js';
import { snapshotFileName } from '../src/snapshot/snapshot-files.js';
import { visibleWidth, wantsColor } from '../src/cli/style.js';
import { resolveTimeout } from '../src/cli/upload.js';
import { makeRecorder, recordTraces } from './fixtures/recorder.js';
import { closedPort, startOtlpReceiver } from './helpers/otlp-receiver.js';
import { runNode } from './helpers/process.js';
import { tempDir } from './helpers/temp-dir.js';

const ROOT = fileURLToPath(new URL('..', import.meta.url));
const SNAPSHOTS = join(ROOT, 'test', 'fixtures', 'snapshot-files');
const LATENCY = join(
  SNAPSHOTS,
  'flight-recorder-2026-11-22T04-15-00.812Z-latency-9f2c4e1a7b3d5f60.json',
);
const CRASH = join(
  SNAPSHOTS,
  'flight-recorder-2026-11-22T04-15-00.702Z-crash-7d1c0a9e3b5f2468.json',
);
const CHECKOUT_TRACE = '0ed471addb2ec7cb46ff8db8276cbab4';
// eslint-disable-next-line no-control-regex -- looking for ANSI escapes
const ESCAPE = /\u001b\[/;

interface Run {
  code: number | null;
  stdout: string;
  stderr: string;
}

/** Runs the CLI in process with `env` as its whole environment, off a terminal. */
async function cli(
  args: string[],
  env: Record<string, string> = {},
  { columns = 100, color = false } = {},
): Promise<Run> {
  let stdout = '';
  let stderr = '';
  const code = await main(args, {
    out: (text) => (stdout += text),
    err: (text) => (stderr += text),
    env,
    columns,
    color,
    version: '9.9.9-test',
  });
  return { code, stdout, stderr };
}

/** A failure is one line on stderr, prefixed with the command's name, and no stack trace. */
function assertOneLineError(run: Run, pattern: RegExp): void {
  assert.notEqual(run.code, 0);
  const lines = run.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, run.stderr);
  assert.match(lines[0]!, /^flight-recorder: /);
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(run.stderr, /\n\s+at /);
}

describe('flight-recorder CLI', { concurrency: true }, () => {
  test('--version prints the version', async () => {
    for (const flag of ['--version', '-v']) {
      assert.deepEqual(await cli([flag]), { code: 0, stdout: '9.9.9-test\n', stderr: '' });
    }
  });

  test('--help, and no arguments, print the usage', async () => {
    const help = await cli(['--help']);
    assert.equal(help.code, 0);
    assert.match(help.stdout, /^Usage: flight-recorder <command>/);
    for (const command of ['view', 'upload', 'ls'])
      assert.match(help.stdout, new RegExp(`  ${command} `));
    const none = await cli([]);
    assert.equal(none.code, 2);
    assert.match(none.stderr, /^Usage/);
    const viewHelp = await cli(['view', '--help']);
    assert.equal(viewHelp.code, 0);
    assert.match(viewHelp.stdout, /--trace <id>/);
  });

  test('a bad command line is a one-line usage error with exit code 2', async () => {
    for (const args of [['explode'], ['view'], ['view', LATENCY, '--colour'], ['upload']]) {
      const run = await cli(args);
      assertOneLineError(run, /see --help/);
      assert.equal(run.code, 2, args.join(' '));
    }
  });

  test('an empty flag value or an empty argument is a usage error, never taken as left out', async () => {
    // What `"$UNSET"` expands to; `upload --endpoint ""` has its own test below.
    const cases: [string[], RegExp][] = [
      [['view', LATENCY, '--trace', ''], /--trace needs a value, got ""/],
      [['view', LATENCY, '-t', ' '], /--trace needs a value, got " "/],
      [['view', ''], /an argument is empty \(""\)/],
      [['ls', ''], /an argument is empty \(""\)/],
      [['upload', LATENCY, ''], /an argument is empty \(""\)/],
    ];
    for (const [args, pattern] of cases) {
      const run = await cli(args, { FLIGHT_RECORDER_SNAPSHOT_DIR: SNAPSHOTS });
      assertOneLineError(run, pattern);
      assert.match(run.stderr, /\(see --help\)\n$/);
      assert.equal(run.code, 2, JSON.stringify(args));
    }
  });

  describe('view', () => {
    test('draws each trace as a waterfall, the triggering trace first, without colour off a terminal', async () => {
      const run = await cli(['view', LATENCY]);
      assert.equal(run.code, 0, run.stderr);
      assert.doesNotMatch(run.stdout, ESCAPE);
      const lines = run.stdout.split('\n');
      assert.match(
        lines[0]!,
        /^snapshot 9f2c4e1a7b3d5f60 · trigger latency · 3 traces · 14 spans$/,
      );
      const headings = lines.filter((l) => /^(▶ )?trace [0-9a-f]{32}/.test(l));
      assert.equal(headings.length, 3);
      assert.match(
        headings[0]!,
        new RegExp(`^▶ trace ${CHECKOUT_TRACE} · GET /checkout · 712ms  ◀ triggered latency$`),
      );
      assert.match(headings[1]!, /GET \/health/, 'then by start time');
      assert.match(headings[2]!, /POST \/orders/);
      // Nesting, durations and bars.
      assert.ok(
        lines.some((l) => /^│ {2}└─ SELECT cart_items +41ms {2}████$/.test(l)),
        run.stdout,
      );
      assert.ok(lines.some((l) => /^├─ price items +452ms +█+$/.test(l)));
      // The time axis.
      assert.ok(lines.some((l) => /^ +0 +200ms +400ms +600ms/.test(l)));
      // Errors are marked even without colour, with their exception.
      assert.ok(lines.some((l) => /^└─ ✗ reserve stock +102ms/.test(l)));
      assert.ok(lines.some((l) => /^ +✗ Error: out of stock: sku 8812$/.test(l)));
      for (const line of lines) assert.ok([...line].length <= 100, `wider than 100: ${line}`);
    });

    test('fits the width it is given', async () => {
      for (const columns of [60, 160]) {
        const run = await cli(['view', CRASH], {}, { columns });
        assert.equal(run.code, 0);
        const widest = Math.max(...run.stdout.split('\n').map((l) => [...l].length));
        assert.ok(widest <= columns, `${widest} > ${columns}`);
        assert.ok(widest >= columns - 2, `${widest} does not use ${columns}`);
      }
    });

    test('a crash dump puts the crashed trace first, with its unfinished spans and the exception', async () => {
      const run = await cli(['view', CRASH]);
      assert.equal(run.code, 0, run.stderr);
      const lines = run.stdout.split('\n');
      assert.match(lines[0]!, /trigger crash/);
      const first = lines.find((l) => l.includes('trace '));
      assert.match(first!, /^▶ trace .* GET \/checkout .*◀ crashed here$/);
      assert.match(run.stdout, /9 spans · 1 error · 2 unfinished · service checkout/);
      assert.match(
        run.stdout,
        /\n└─ ✗ charge card \(unfinished\) +87ms +▒+\n +✗ TypeError: card declined: issuer unavailable\n/,
      );
    });

    test('a crash dump with no span open marks the trace its exception joined', async () => {
      const { recorder, tracer } = makeRecorder();
      recordTraces(tracer, 2);
      const t0 = Date.now();
      const done = tracer.startSpan('send receipt', { startTime: t0 });
      done.end(t0 + 5);
      const crash = { error: new RangeError('mailer down'), time: t0 + 10, active: done as never };
      const spans = crashDumpSpans(recorder._windowSpans(), [], crash, 'c0ffee00c0ffee00');
      await recorder.shutdown();
      const file = join(
        tempDir(),
        snapshotFileName({ time: crash.time, trigger: 'crash', snapshotId: 'c0ffee00c0ffee00' }),
      );
      await writeFile(file, serializeRequest(spans));
      const run = await cli(['view', file]);
      assert.equal(run.code, 0, run.stderr);
      const first = run.stdout.split('\n').find((l) => l.includes('trace '));
      assert.match(first!, new RegExp(`^▶ trace ${done.spanContext().traceId} .*◀ crashed here$`));
      assert.match(run.stdout, /✗ uncaught exception .*\n +✗ RangeError: mailer down\n/);
    });

    test('an empty snapshot is named by its file, as ls names it', async () => {
      // A signal snapshot taken after every span was flushed holds no spans,
      // so no marks: the file name still carries its trigger and id.
      const dir = tempDir();
      const name = snapshotFileName({
        time: Date.UTC(2026, 11, 4),
        trigger: 'signal',
        snapshotId: 'feed0123feed0123',
      });
      await writeFile(join(dir, name), '{"resourceSpans":[]}');
      const run = await cli(['view', join(dir, name)]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(
        run.stdout,
        /^snapshot feed0123feed0123 · trigger signal · 0 traces · 0 spans\n/,
      );
      const listed = await cli(['ls', dir]);
      assert.match(listed.stdout, /signal +0 +0 /);
      // A file not named by the recorder still says it does not know.
      await writeFile(join(dir, 'mine.json'), '{"resourceSpans":[]}');
      const other = await cli(['view', join(dir, 'mine.json')]);
      assert.match(other.stdout, /^snapshot unknown · trigger unknown · 0 traces/);
    });

    test('--trace shows just that trace, by id or its start', async () => {
      const run = await cli(['view', LATENCY, '--trace', CHECKOUT_TRACE.slice(0, 6)]);
      assert.equal(run.code, 0, run.stderr);
      assert.match(run.stdout, /GET \/checkout/);
      assert.doesNotMatch(run.stdout, /GET \/health|POST \/orders/);
      const missing = await cli(['view', LATENCY, '--trace', 'abcdef']);
      assertOneLineError(missing, /no trace abcdef in this file/);
    });

    test('colour only on a terminal, and never with NO_COLOR', async () => {
      assert.doesNotMatch((await cli(['view', CRASH])).stdout, ESCAPE);
      assert.equal(wantsColor({ isTTY: true }, {}), true);
      assert.equal(wantsColor({ isTTY: true }, { NO_COLOR: '1' }), false);
      assert.equal(wantsColor({ isTTY: true }, { NO_COLOR: '' }), true, 'empty means unset');
      assert.equal(wantsColor({ isTTY: false }, {}), false);
      assert.equal(wantsColor({}, {}), false);
      // In colour, errors are red.
      const { code, stdout } = await cli(['view', CRASH], {}, { color: true });
      assert.equal(code, 0);
      assert.ok(stdout.includes('\u001b[31m└─ ✗ charge card (unfinished)'), stdout);
      assert.equal(visibleWidth('\u001b[31mab\u001b[39m'), 2);
    });

    test('missing, unreadable, corrupt and truncated files: one line, non-zero, no stack', async () => {
      const dir = tempDir();
      const text = await readFile(LATENCY, 'utf8');
      const cases: [string, string, RegExp][] = [
        [
          'truncated.json',
          text.slice(0, Math.floor(text.length / 2)),
          /truncated\.json: truncated JSON/,
        ],
        [
          'corrupt.json',
          text.replace('"resourceSpans":[', '"resourceSpans":[}'),
          /corrupt\.json: malformed JSON/,
        ],
        ['empty.json', '', /empty\.json: truncated JSON/],
        [
          'not-otlp.json',
          '{"hello":"world"}',
          /not-otlp\.json: not an OTLP JSON trace file: resourceSpans is missing/,
        ],
        [
          'bad-span.json',
          text.replace(/"startTimeUnixNano":"\d+"/, '"startTimeUnixNano":"soon"'),
          /bad-span\.json: not an OTLP JSON trace file: resourceSpans\[0\]\.scopeSpans\[0\]\.spans\[0\]\.startTimeUnixNano is not a time/,
        ],
      ];
      for (const [name, content] of cases) await writeFile(join(dir, name), content);
      const runs = await Promise.all([
        ...cases.map(([name]) => cli(['view', join(dir, name)])),
        cli(['view', join(dir, 'nope.json')]),
        cli(['view', dir]),
      ]);
      for (const [i, [, , pattern]] of cases.entries()) assertOneLineError(runs[i]!, pattern);
      assertOneLineError(runs[cases.length]!, /nope\.json: cannot read: no such file or directory/);
      assertOneLineError(runs[cases.length + 1]!, /cannot read: is a directory/);
    });

    test('a time past what a date holds is a bad file naming the field, in view and in ls', async () => {
      const dir = tempDir();
      const request = (end: string, event = '1') =>
        JSON.stringify({
          resourceSpans: [
            {
              scopeSpans: [
                {
                  spans: [
                    {
                      traceId: CHECKOUT_TRACE,
                      spanId: '0123456789abcdef',
                      name: 'x',
                      startTimeUnixNano: '1',
                      endTimeUnixNano: end,
                      events: [{ name: 'e', timeUnixNano: event }],
                    },
                  ],
                },
              ],
            },
          ],
        });
      const name = snapshotFileName({
        time: Date.UTC(2026, 10, 22),
        trigger: 'crash',
        snapshotId: '7d1c0a9e3b5f2468',
      });
      await writeFile(join(dir, name), request('99999999999999999999999'));
      const span = 'resourceSpans\\[0\\]\\.scopeSpans\\[0\\]\\.spans\\[0\\]';
      const outOfRange = new RegExp(
        `crash-7d1c0a9e3b5f2468\\.json: not an OTLP JSON trace file: ${span}\\.endTimeUnixNano is out of range: 99999999999999999999999 ns`,
      );
      const viewed = await cli(['view', join(dir, name)]);
      assertOneLineError(viewed, outOfRange);
      assert.equal(viewed.code, 1);
      const listed = await cli(['ls', dir]);
      assert.equal(listed.code, 1);
      assert.match(listed.stdout, /crash +\? +\? /);
      assertOneLineError(listed, outOfRange);

      const event = join(dir, 'event.json');
      await writeFile(event, request('2', '8640000000000000000001'));
      assertOneLineError(
        await cli(['view', event]),
        new RegExp(`event\\.json: .*${span}\\.events\\[0\\]\\.timeUnixNano is out of range`),
      );
      // The latest time a date holds is still a time.
      const latest = join(dir, 'latest.json');
      await writeFile(latest, request('8640000000000000000000', '8640000000000000000000'));
      const drawn = await cli(['view', latest]);
      assert.equal(drawn.code, 0, drawn.stderr);
      assert.match(drawn.stdout, /\+275760-09-13 00:00:00\.000Z/);
    });
  });

  test('text from a snapshot reaches the terminal without its escapes, in view and ls', async () => {
    // App data, partly from users: span names, service names, status and
    // exception messages and trigger names.
    interface KeyValue {
      key: string;
      value: { stringValue?: string };
    }
    interface Request {
      resourceSpans: {
        resource: { attributes: KeyValue[] };
        scopeSpans: {
          spans: {
            name: string;
            attributes: KeyValue[];
            status: { code: number; message?: string };
          }[];
        }[];
      }[];
    }
    const request = JSON.parse(await readFile(LATENCY, 'utf8')) as Request;
    request.resourceSpans[0]!.resource.attributes[0]!.value.stringValue =
      'svc\u001b]0;pwned-title\u0007';
    const spans = request.resourceSpans.flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans));
    for (const span of spans) {
      span.name = `GET /x\u001b[2J\u001b[31mFAKE\u001b[0m\u202eevil`;
      for (const a of span.attributes) {
        if (a.key === 'flight_recorder.trigger') {
          a.value.stringValue = 'latency\u001b]8;;http://evil/\u0007click\u001b]8;;\u0007';
        }
      }
      span.status = { code: 2, message: 'bad\u001b[1Ahidden\u009b2J' };
    }
    const dir = tempDir();
    const file = join(
      dir,
      'flight-recorder-2026-11-22T04-15-00.812Z-latency-9f2c4e1a7b3d5f60.json',
    );
    await writeFile(file, JSON.stringify(request));
    // Any control character but a line break, or a bidirectional override.
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;
    for (const args of [
      ['view', file],
      ['ls', dir],
    ]) {
      const run = await cli(args);
      assert.equal(run.code, 0, run.stderr);
      assert.doesNotMatch(run.stdout, CONTROL, args[0]);
      assert.match(run.stdout, /\ufffd/, args[0]);
    }
    // With colour, the only escapes are the CLI's own colours.
    const colored = await cli(['view', file], {}, { color: true });
    // eslint-disable-next-line no-control-regex -- matching the CLI's colour escapes
    assert.doesNotMatch(colored.stdout.replace(/\u001b\[[0-9;]*m/g, ''), CONTROL);
    assert.match(colored.stdout, /GET \/x\ufffd\[2J\ufffd\[31mFAKE/);
  });

  test('error lines quote files and collectors without their escapes, in view and upload', async () => {
    const dir = tempDir();
    // JSON.parse quotes the text around where it fails; an id is quoted as given.
    const broken = join(dir, 'broken.json');
    await writeFile(broken, `{"resourceSpans":[${' '.repeat(200)}\u001b[2J\u001b]0;PWNED\u0007]}`);
    const badId = join(dir, 'bad-id.json');
    const request = JSON.parse(await readFile(LATENCY, 'utf8')) as {
      resourceSpans: { scopeSpans: { spans: { traceId: string }[] }[] }[];
    };
    request.resourceSpans[0]!.scopeSpans[0]!.spans[0]!.traceId = '\u009b2J\u202eabc';
    await writeFile(badId, JSON.stringify(request));
    // Any control character but a line break, or a bidirectional override.
    // eslint-disable-next-line no-control-regex -- matching control characters is the point
    const CONTROL = /[\u0000-\u0009\u000b-\u001f\u007f-\u009f\u202a-\u202e]/;
    // A file's own name, as a glob matches it.
    const named = join(dir, 'named\u001b]0;PWNED\u0007.json');
    await copyFile(LATENCY, named);
    for (const file of [broken, badId, named]) {
      for (const args of [
        ['view', file],
        ['upload', file, '--endpoint', 'http://127.0.0.1:1/v1/traces'],
      ]) {
        if (file === named && args[0] === 'view') continue;
        const run = await cli(args);
        assert.notEqual(run.code, 0);
        assert.match(run.stderr, /^flight-recorder: /);
        assert.doesNotMatch(run.stderr, CONTROL, `${args[0]} ${file}`);
      }
    }
  });

  describe('ls', () => {
    test('lists time, trigger, traces, spans and size; a bad file is reported and fails the run', async () => {
      const dir = tempDir();
      await copyFile(
        LATENCY,
        join(dir, 'flight-recorder-2026-11-22T04-15-00.812Z-latency-9f2c4e1a7b3d5f60.json'),
      );
      await copyFile(
        CRASH,
        join(dir, 'flight-recorder-2026-11-22T04-15-00.702Z-crash-7d1c0a9e3b5f2468.json'),
      );
      await writeFile(join(dir, 'notes.txt'), 'not a snapshot');

      const good = await cli(['ls', dir]);
      assert.equal(good.code, 0, good.stderr);
      const lines = good.stdout.trimEnd().split('\n');
      assert.match(lines[0]!, /^TIME \(UTC\) +TRIGGER +TRACES +SPANS +SIZE +FILE$/);
      assert.match(
        lines[1]!,
        /^2026-11-22 04:15:00\.702Z +crash +3 +13 +[\d.]+ KiB +flight-recorder-.*-crash-7d1c0a9e3b5f2468\.json$/,
      );
      assert.match(
        lines[2]!,
        /^2026-11-22 04:15:00\.812Z +latency +3 +14 +[\d.]+ KiB +flight-recorder-.*-latency-/,
      );
      assert.equal(lines.length, 3, 'other files are left out');

      await writeFile(
        join(dir, 'flight-recorder-2026-11-22T04-16-00.000Z-signal-0000000000000001.json'),
        '{"resourceSpans":[',
      );
      const bad = await cli(['ls', dir]);
      assert.equal(bad.code, 1);
      assert.match(bad.stdout, /signal +\? +\? /);
      assertOneLineError(bad, /signal-0000000000000001\.json: truncated JSON/);
    });

    test('uses FLIGHT_RECORDER_SNAPSHOT_DIR; a missing directory is a one-line error', async () => {
      const fromEnv = await cli(['ls'], { FLIGHT_RECORDER_SNAPSHOT_DIR: SNAPSHOTS });
      assert.equal(fromEnv.code, 0);
      assert.match(fromEnv.stdout, /latency/);
      const missing = await cli(['ls', join(SNAPSHOTS, 'nope')]);
      assertOneLineError(missing, /nope: cannot list: no such file or directory/);
      // Like ls of an empty directory: nothing listed, exit 0; the note goes to stderr.
      const emptyDir = tempDir();
      assert.deepEqual(await cli(['ls', emptyDir]), {
        code: 0,
        stdout: '',
        stderr: `flight-recorder: no snapshot files in ${emptyDir}\n`,
      });
    });
  });

  describe('upload', () => {
    test('POSTs each file as is to the OTLP/HTTP endpoint, with the configured headers', async () => {
      const sink = await startOtlpReceiver();
      try {
        const run = await cli(['upload', LATENCY, CRASH], {
          OTEL_EXPORTER_OTLP_ENDPOINT: `${sink.base}/`,
          OTEL_EXPORTER_OTLP_HEADERS: 'authorization=Bearer%20s3cret,x-team=core',
          OTEL_EXPORTER_OTLP_TRACES_HEADERS: 'x-team=tracing',
        });
        assert.equal(run.code, 0, run.stderr);
        assert.match(run.stdout, /uploaded .*latency-9f2c4e1a7b3d5f60\.json \(14 spans\)/);
        assert.match(run.stdout, /uploaded 2 files to http:\/\/127\.0\.0\.1:\d+\/v1\/traces/);
        assert.equal(sink.requests.length, 2);
        const [first] = sink.requests;
        assert.equal(first!.method, 'POST');
        assert.equal(first!.url, '/v1/traces');
        assert.equal(first!.headers['content-type'], 'application/json');
        assert.equal(first!.headers.authorization, 'Bearer s3cret');
        assert.equal(first!.headers['x-team'], 'tracing', 'the traces headers win');
        assert.deepEqual(first!.body, await readFile(LATENCY));
        assert.ok(existsSync(LATENCY) && existsSync(CRASH), 'uploaded files are kept too');
      } finally {
        await sink.close();
      }
    });

    test('--endpoint wins over OTEL_EXPORTER_OTLP_TRACES_ENDPOINT, which is used as is', async () => {
      const sink = await startOtlpReceiver();
      try {
        const traces = await cli(['upload', LATENCY], {
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: `${sink.base}/custom/path`,
          OTEL_EXPORTER_OTLP_ENDPOINT: 'http://127.0.0.1:1',
        });
        assert.equal(traces.code, 0, traces.stderr);
        const flag = await cli(['upload', LATENCY, '--endpoint', `${sink.base}/flag`], {
          OTEL_EXPORTER_OTLP_TRACES_ENDPOINT: 'http://127.0.0.1:1/v1/traces',
        });
        assert.equal(flag.code, 0, flag.stderr);
        assert.deepEqual(
          sink.requests.map((r) => r.url),
          ['/custom/path', '/flag'],
        );
      } finally {
        await sink.close();
      }
    });

    test('a timeout with a fraction of a ms, as the SDK takes it, uploads', async () => {
      const sink = await startOtlpReceiver();
      try {
        const run = await cli(['upload', LATENCY, '--endpoint', `${sink.base}/v1/traces`], {
          OTEL_EXPORTER_OTLP_TIMEOUT: '2000.5',
        });
        assert.equal(run.code, 0, run.stderr);
        assert.equal(run.stderr, '');
        assert.equal(sink.requests.length, 1);
      } finally {
        await sink.close();
      }
    });

    test('an endpoint that is down: every file is kept, the exit code says so', async () => {
      const dir = tempDir();
      const a = join(dir, 'a.json');
      const b = join(dir, 'b.json');
      await copyFile(LATENCY, a);
      await copyFile(CRASH, b);
      const port = await closedPort();
      const run = await cli(['upload', a, b, '--endpoint', `http://127.0.0.1:${port}/v1/traces`]);
      assert.equal(run.code, 1);
      assert.match(run.stderr, /failed .*a\.json: .*ECONNREFUSED.*; the file was kept/);
      assert.match(
        run.stderr,
        /2 of 2 files failed to upload to .*; they were kept \(none succeeded\)/,
      );
      assert.doesNotMatch(run.stderr, /\n\s+at /);
      assert.deepEqual((await readdir(dir)).sort(), ['a.json', 'b.json']);
    });

    test('a redirect is not followed: the upload fails, naming where it points, and nothing else is sent', async () => {
      const sink = await startOtlpReceiver();
      try {
        for (const status of [301, 302, 307, 308]) {
          const endpoint = `${sink.base}/moved/${status}`;
          const run = await cli(['upload', LATENCY, '--endpoint', endpoint]);
          assert.equal(run.code, 1, `${status}: ${run.stdout}${run.stderr}`);
          assert.match(
            run.stderr,
            new RegExp(
              `answered ${status} [^,]*, a redirect to ${sink.base}/v1/traces: not followed .*; the file was kept`,
            ),
          );
        }
        // Only the four POSTs: no GET after a 301 or 302, no second POST after a 307 or 308.
        assert.deepEqual(
          sink.requests.map((r) => `${r.method} ${r.url}`),
          [301, 302, 307, 308].map((status) => `POST /moved/${status}`),
        );
      } finally {
        await sink.close();
      }
    });

    test('a mix: bad files and refusals fail, the rest go, and the summary says which succeeded', async () => {
      const dir = tempDir();
      const good = join(dir, 'good.json');
      const corrupt = join(dir, 'corrupt.json');
      await copyFile(LATENCY, good);
      await writeFile(corrupt, '{"resourceSpans":[{');
      const sink = await startOtlpReceiver();
      try {
        const run = await cli([
          'upload',
          good,
          corrupt,
          join(dir, 'missing.json'),
          '--endpoint',
          sink.url,
        ]);
        assert.equal(run.code, 1);
        assert.match(run.stdout, /uploaded .*good\.json \(14 spans\)/);
        assert.match(run.stderr, /failed .*corrupt\.json: truncated JSON/);
        assert.match(run.stderr, /failed .*missing\.json: cannot read: no such file/);
        assert.match(run.stderr, /2 of 3 files failed .*\(succeeded: .*good\.json\)/);
        assert.equal(sink.requests.length, 1, 'a malformed file is never sent');

        sink.status = 400;
        const refused = await cli(['upload', good, '--endpoint', sink.url]);
        assert.equal(refused.code, 1);
        assert.match(refused.stderr, /answered 400 Bad Request: .*collector says no/);
        assert.match(
          refused.stderr,
          /1 of 1 file failed to upload to .*; it was kept \(none succeeded\)/,
        );
        assert.deepEqual((await readdir(dir)).sort(), ['corrupt.json', 'good.json']);
      } finally {
        await sink.close();
      }
    });

    test('an empty or blank --endpoint is a usage error, never passed over for the environment', async () => {
      const sink = await startOtlpReceiver();
      try {
        const env = { OTEL_EXPORTER_OTLP_ENDPOINT: sink.base };
        for (const flag of [
          ['--endpoint', ''],
          ['--endpoint', ' \t'],
          ['--endpoint='],
          ['-e', ''],
        ]) {
          const run = await cli(['upload', LATENCY, ...flag], env);
          assertOneLineError(run, /--endpoint needs a value, got "( \\t)?" \(see --help\)$/);
          assert.equal(run.code, 2, flag.join(' '));
        }
        assert.equal(sink.requests.length, 0);
      } finally {
        await sink.close();
      }
    });

    test('the timeout is a number of ms as the SDK reads it; a bad one is named on stderr and skipped, as the SDK skips it', async () => {
      const expected = 'expected a number of ms above 0 and at most 2147483647';
      const resolve = (env: Record<string, string>) => {
        const warnings: string[] = [];
        return { ms: resolveTimeout(env, (m) => warnings.push(m)), warnings };
      };
      const TRACES = 'OTEL_EXPORTER_OTLP_TRACES_TIMEOUT';
      const GENERAL = 'OTEL_EXPORTER_OTLP_TIMEOUT';
      assert.deepEqual(resolve({}), { ms: 10_000, warnings: [] });
      assert.deepEqual(resolve({ [GENERAL]: '' }), { ms: 10_000, warnings: [] }, 'empty is unset');
      assert.deepEqual(
        resolve({ [GENERAL]: '  ' }),
        { ms: 10_000, warnings: [] },
        'blank is unset',
      );
      assert.deepEqual(resolve({ [GENERAL]: '2500' }), { ms: 2500, warnings: [] });
      assert.deepEqual(resolve({ [TRACES]: '300', [GENERAL]: '2500' }), { ms: 300, warnings: [] });
      assert.deepEqual(resolve({ [TRACES]: '2147483647' }), { ms: 2147483647, warnings: [] });
      // What the app's OTLP exporter reads from the same variable (Number() of it).
      for (const [raw, ms] of [
        ['1.5', 1.5],
        ['0x10', 16],
        ['1e3', 1000],
        [' 5', 5],
      ] as const) {
        assert.deepEqual(resolve({ [GENERAL]: raw }), { ms, warnings: [] }, raw);
      }
      for (const bad of ['2147483648', '4294967296', 'abc', '-5', '0', 'Infinity', '5ms']) {
        assert.deepEqual(resolve({ [GENERAL]: bad }), {
          ms: 10_000,
          warnings: [`ignoring ${GENERAL}=${JSON.stringify(bad)}: ${expected}; using 10000`],
        });
      }
      // A bad traces timeout falls back to the general one, then to the default.
      assert.deepEqual(resolve({ [TRACES]: 'abc', [GENERAL]: '2500' }), {
        ms: 2500,
        warnings: [`ignoring ${TRACES}="abc": ${expected}; using 2500 from ${GENERAL}`],
      });
      assert.deepEqual(resolve({ [TRACES]: '1e10', [GENERAL]: '-1' }), {
        ms: 10_000,
        warnings: [
          `ignoring ${TRACES}="1e10": ${expected}; using 10000`,
          `ignoring ${GENERAL}="-1": ${expected}; using 10000`,
        ],
      });

      // Against a collector that never answers, the general timeout is what applies.
      const silent = createServer(() => {});
      await new Promise<void>((done) => silent.listen(0, '127.0.0.1', done));
      try {
        const { port } = silent.address() as AddressInfo;
        const started = Date.now();
        const run = await cli(
          ['upload', LATENCY, '--endpoint', `http://127.0.0.1:${port}/v1/traces`],
          {
            [TRACES]: '1e10',
            [GENERAL]: '200',
          },
        );
        const took = Date.now() - started;
        assert.equal(run.code, 1);
        const lines = run.stderr.trimEnd().split('\n');
        assert.equal(
          lines[0],
          `flight-recorder: ignoring ${TRACES}="1e10": ${expected}; using 200 from ${GENERAL}`,
        );
        assert.match(lines[1]!, /failed .*: timed out; the file was kept$/);
        assert.equal(lines.length, 3, run.stderr);
        assert.ok(took >= 150 && took < 900, `timed out after ${took} ms`);
      } finally {
        silent.closeAllConnections();
        await new Promise((done) => silent.close(done));
      }
    });

    test("a collector's answer that never ends is read only as far as it says why", async () => {
      // A 500 whose body keeps coming: the upload reports its start, without waiting for the rest.
      const endless = createServer((req, res) => {
        req.resume();
        res.writeHead(500, { 'content-type': 'text/plain' });
        res.write('collector says no: ');
        const more = setInterval(() => res.write('x'.repeat(16 * 1024)), 5);
        res.on('close', () => clearInterval(more));
      });
      await new Promise<void>((done) => endless.listen(0, '127.0.0.1', done));
      try {
        const { port } = endless.address() as AddressInfo;
        const run = await cli(
          ['upload', LATENCY, '--endpoint', `http://127.0.0.1:${port}/v1/traces`],
          { OTEL_EXPORTER_OTLP_TIMEOUT: '20000' },
        );
        assert.equal(run.code, 1);
        assert.match(run.stderr, /answered 500 Internal Server Error: collector says no: x+;/);
      } finally {
        endless.closeAllConnections();
        await new Promise((done) => endless.close(done));
      }
    });

    test('a malformed endpoint is a usage error', async () => {
      const run = await cli(['upload', LATENCY], { OTEL_EXPORTER_OTLP_ENDPOINT: 'not a url' });
      assertOneLineError(
        run,
        /invalid endpoint "not a url\/v1\/traces" \(from OTEL_EXPORTER_OTLP_ENDPOINT\)/,
      );
      assert.equal(run.code, 2);
    });
  });
});

// What only a real process shows.
describe('the flight-recorder bin', () => {
  let bin = '';
  before(async () => {
    // As npm pack lays it out: dist/cli.js beside package.json.
    const root = tempDir('fr-bin-');
    await copyFile(join(ROOT, 'package.json'), join(root, 'package.json'));
    await mkdir(join(root, 'dist'));
    ({ cli: bin } = await bundle(join(root, 'dist'), { entries: ['cli'], formats: ['esm'] }));
  });

  test('prints the package version, honours COLUMNS, and exits with the code main returns', async () => {
    const { version } = JSON.parse(await readFile(join(ROOT, 'package.json'), 'utf8'));
    const env = { PATH: process.env.PATH ?? '', COLUMNS: '60' };
    const [printed, view, missing] = await Promise.all([
      runNode([bin, '--version'], { env }),
      runNode([bin, 'view', CRASH], { env }),
      runNode([bin, 'view', join(SNAPSHOTS, 'nope.json')], { env }),
    ]);
    assert.deepEqual(printed, { code: 0, signal: null, stdout: `${version}\n`, stderr: '' });
    assert.equal(view.code, 0, view.stderr);
    const widest = Math.max(...view.stdout.split('\n').map((l) => [...l].length));
    assert.ok(widest <= 60 && widest >= 58, `COLUMNS=60 gave lines of ${widest}`);
    assertOneLineError(missing, /nope\.json: cannot read: no such file or directory/);
    assert.equal(missing.code, 1);
  });

  test('a write error on stdout other than EPIPE is one line on stderr and exit code 1 (stdout is /dev/full)', async () => {
    const full = openSync('/dev/full', 'w');
    try {
      const ran = await new Promise<Run>((resolve, reject) => {
        const child = spawn(process.execPath, [bin, 'view', CRASH], {
          env: { PATH: process.env.PATH ?? '' },
          stdio: ['ignore', full, 'pipe'],
          timeout: 30_000,
        });
        let stderr = '';
        child.stderr!.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
        child.on('error', reject);
        child.on('close', (code) => resolve({ code, stdout: '', stderr }));
      });
      assertOneLineError(ran, /^flight-recorder: cannot write output: ENOSPC$/);
      assert.equal(ran.code, 1);
    } finally {
      closeSync(full);
    }
  });

  test('loads nothing but Node built-ins, so it runs where no OpenTelemetry package is installed', async () => {
    const imports = [...(await readFile(bin, 'utf8')).matchAll(/^import .* from "([^"]+)";$/gm)];
    assert.ok(imports.length > 0);
    assert.deepEqual(
      imports.map((m) => m[1]).filter((name) => !name!.startsWith('node:')),
      [],
    );
  });
});
