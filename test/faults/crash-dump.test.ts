// A process that dies right after a request failed: the crash dump must hold
// the failing trace, whether its flush still waited for export or was in
// flight to a collector that never answered, as well as the window.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { startCollector } from './fixtures/collector.js';
import { within } from './fixtures/harness.js';

const APP = fileURLToPath(new URL('./fixtures/crash-app.ts', import.meta.url));

function names(body: {
  resourceSpans: { scopeSpans: { spans: { name: string; attributes: unknown[] }[] }[] }[];
}): string[] {
  return body.resourceSpans
    .flatMap((rs) => rs.scopeSpans.flatMap((ss) => ss.spans.map((s) => s.name)))
    .sort();
}

describe('a crash dump', { concurrency: true }, () => {
  for (const mode of ['queued', 'in-flight'] as const) {
    test(`holds a failed trace whose flush ${mode === 'queued' ? 'still waits for export' : 'is in flight'}`, async (t) => {
      const collector = await startCollector();
      collector.mode = 'hang';
      const dir = await mkdtemp(join(tmpdir(), 'fr-faults-'));
      t.after(async () => {
        await collector.down();
        await rm(dir, { recursive: true, force: true });
      });
      const child = spawn(process.execPath, ['--import', 'tsx', APP, mode], {
        env: { ...process.env, COLLECTOR_URL: collector.url, SNAPSHOT_DIR: dir, NODE_OPTIONS: '' },
        stdio: ['ignore', 'ignore', 'pipe'],
      });
      t.after(() => {
        if (child.exitCode === null && child.signalCode === null)
          process.kill(child.pid!, 'SIGKILL');
      });
      let stderr = '';
      child.stderr.setEncoding('utf8').on('data', (chunk: string) => (stderr += chunk));
      const exited = new Promise<number | null>((resolve) => child.on('close', resolve));
      await within(exited, 15_000, 'the child');
      assert.equal(await exited, 1, 'it dies of its exception as before');
      assert.match(stderr, /Error: payment failed/);
      if (mode === 'in-flight') assert.equal(collector.requests, 1, 'the export was under way');
      const files = (await readdir(dir)).filter((f) => f.endsWith('.json'));
      assert.equal(files.length, 1);
      const body = JSON.parse(await readFile(join(dir, files[0]!), 'utf8'));
      assert.deepEqual(names(body), [
        'GET /a',
        'GET /a db',
        'GET /b',
        'GET /b db',
        'POST /pay',
        'POST /pay db',
        // No span was open at the throw: the dump's own span carries the exception.
        'uncaught exception',
      ]);
    });
  }
});
