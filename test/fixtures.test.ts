import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { makeSnapshots, SNAPSHOT_FIXTURES } from './fixtures/make-snapshots.js';

test('the snapshot fixtures are what their generator makes (node --import tsx test/fixtures/make-snapshots.ts)', async () => {
  const made = await makeSnapshots();
  assert.deepEqual(readdirSync(SNAPSHOT_FIXTURES).sort(), [...made.keys()].sort());
  for (const [name, bytes] of made) {
    // Compared as JSON: the serializer's key order is not what this checks.
    assert.deepEqual(
      JSON.parse(readFileSync(join(SNAPSHOT_FIXTURES, name), 'utf8')),
      JSON.parse(new TextDecoder().decode(bytes)),
      `${name} differs from what make-snapshots.ts makes`,
    );
  }
});
