import assert from 'node:assert/strict';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { describe, test } from 'node:test';
import { fileURLToPath } from 'node:url';
import { generatedPages, shownDefault, UNIT_WORDS } from '../scripts/options-doc.js';
import {
  COORDINATION_OPTIONS,
  FILE_EXPORTER_OPTIONS,
  LOG_PROCESSOR_OPTIONS,
  type OptionTable,
  OPTIONS,
} from '../src/config.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const pages = [
  'README.md',
  ...readdirSync(join(root, 'docs'))
    .filter((f) => f.endsWith('.md'))
    .map((f) => `docs/${f}`),
];
const read = (file: string) => readFileSync(join(root, file), 'utf8');

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to hyphens. */
function slug(heading: string): string {
  return heading
    .trim()
    .toLowerCase()
    .replace(/[^\p{L}\p{N} _-]/gu, '')
    .replace(/ /g, '-');
}

function anchors(file: string): Set<string> {
  const text = read(file).replace(/```[\s\S]*?```/g, '');
  return new Set([...text.matchAll(/^#+ (.*)$/gm)].map((m) => slug(m[1]!)));
}

describe('documentation', () => {
  test('the README stays a front page of about 200 lines', () => {
    const lines = read('README.md').split('\n').length;
    assert.ok(lines <= 220, `README.md has ${lines} lines`);
  });

  test('every TypeScript snippet is, verbatim, in a type-checked file of examples/', () => {
    const examples = readdirSync(join(root, 'examples'))
      .filter((f) => f.endsWith('.ts'))
      .map((f) => read(`examples/${f}`));
    let snippets = 0;
    for (const page of pages) {
      for (const [, code] of read(page).matchAll(/```ts\n([\s\S]*?)```/g)) {
        snippets++;
        assert.ok(
          examples.some((e) => e.includes(code!)),
          `a snippet of ${page} is in no examples/*.ts:\n${code}`,
        );
      }
    }
    assert.ok(snippets >= 5, `only ${snippets} snippets found`);
  });

  test('every relative link points to a file that exists, and to a heading in it', () => {
    const broken: string[] = [];
    for (const page of pages) {
      const text = read(page).replace(/```[\s\S]*?```/g, '');
      for (const [, target] of text.matchAll(/\]\(([^)\s]+)\)/g)) {
        if (/^[a-z]+:/.test(target!)) continue;
        const [path, anchor] = target!.split('#') as [string, string | undefined];
        const file = path === '' ? page : relative(root, join(root, dirname(page), path));
        if (!existsSync(join(root, file))) broken.push(`${page}: ${target} (no ${file})`);
        else if (anchor !== undefined && file.endsWith('.md') && !anchors(file).has(anchor)) {
          broken.push(`${page}: ${target} (no heading #${anchor} in ${file})`);
        }
      }
    }
    assert.deepEqual(broken, []);
  });

  test("every table row has its header's cells, so no figure is dropped when rendered", () => {
    const cells = (row: string) => row.replace(/\\\|/g, '').split('|').length;
    const bad: string[] = [];
    for (const page of [...pages, 'bench/RESULTS.md']) {
      const lines = read(page)
        .replace(/```[\s\S]*?```/g, '')
        .split('\n');
      let header = 0;
      lines.forEach((line, i) => {
        if (!line.startsWith('|')) header = 0;
        else if (header === 0) header = cells(line);
        else if (cells(line) !== header) bad.push(`${page}:${i + 1}: ${line.slice(0, 60)}`);
      });
    }
    assert.deepEqual(bad, []);
  });

  test('the Counters section names every field stats() returns', () => {
    const source = read('src/options.ts');
    const fields = ['LogStats', 'FlightRecorderStats'].flatMap((name) => {
      const body = source.slice(source.indexOf(`export interface ${name} `));
      return [...body.slice(0, body.indexOf('\n}')).matchAll(/^ {2}(\w+)\??:/gm)].map((m) => m[1]!);
    });
    assert.ok(fields.length >= 30, `only ${fields.length} fields found`);
    const page = read('docs/configuration.md');
    const section = page.slice(page.indexOf('## Counters'), page.indexOf('## Without NodeSDK'));
    assert.deepEqual(
      fields.filter((f) => !section.includes(`\`${f}\``)),
      [],
    );
  });

  test('the options tables are the ones the options table generates (npm run docs:options)', async () => {
    for (const [page, text] of await generatedPages()) {
      assert.equal(read(page), text, `${page} differs: run npm run docs:options`);
    }
  });

  const interfaces: [string, string, OptionTable][] = [
    ['src/options.ts', 'FlightRecorderOptions', OPTIONS],
    ['src/export/file-span-exporter.ts', 'FileSpanExporterOptions', FILE_EXPORTER_OPTIONS],
    ['src/coordination/options.ts', 'CoordinationOptions', COORDINATION_OPTIONS],
    ['src/options.ts', 'LogRecordProcessorOptions', LOG_PROCESSOR_OPTIONS],
  ];
  for (const [file, name, table] of interfaces) {
    test(`the TSDoc of ${name} says each option's variable, unit and default as the table does`, () => {
      const source = read(file);
      const body = source.slice(source.indexOf(`export interface ${name} {`));
      const docs = new Map<string, string>();
      for (const [, doc, option] of body.matchAll(/\/\*\*((?:(?!\*\/)[\s\S])*)\*\/\s*(\w+)\?:/g)) {
        if (!docs.has(option!)) docs.set(option!, doc!.replace(/\s*\n\s*\* ?/g, ' ').trim());
      }
      for (const [option, row] of Object.entries(table)) {
        const doc = docs.get(option);
        assert.ok(doc !== undefined, `${name}.${option} has no TSDoc`);
        if (row.env !== undefined)
          assert.ok(doc.includes(`Env: \`${row.env}`), `${option}: ${doc}`);
        else assert.ok(doc.includes('Code only'), `${option} should say "Code only": ${doc}`);
        if (row.unit !== undefined) {
          assert.ok(doc.includes(`Unit: ${UNIT_WORDS[row.unit]}`), `${option}: ${doc}`);
        }
        const phrase = `The default is ${shownDefault(row)}`;
        assert.ok(doc.includes(phrase), `${option} should say "${phrase}": ${doc}`);
      }
    });
  }
});
