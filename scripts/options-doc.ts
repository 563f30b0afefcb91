// Writes the options tables of the README and docs/ from the options table in
// src/config.ts: `npm run docs:options`. test/docs.test.ts fails when a page
// differs from what this would write.
import { readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import * as prettier from 'prettier';
import { FILE_EXPORTER_OPTIONS, type Option, OPTIONS, type OptionTable } from '../src/config.js';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');

/** The unit as the TSDoc says it: `Unit: milliseconds`. */
export const UNIT_WORDS: Readonly<Record<string, string>> = {
  ms: 'milliseconds',
  bytes: 'bytes',
  spans: 'spans',
  files: 'files',
  'traces/s': 'traces per second',
};

/** The default as the TSDoc says it, after "The default is ": `500`, `` `'window'` ``, `none`. */
export function shownDefault(row: Option<unknown>): string {
  if (row.shownDefault !== undefined) return row.shownDefault;
  const value = row.default;
  if (value === undefined) return 'none';
  if (typeof value === 'number') return String(value);
  if (typeof value === 'string') return `\`'${value}'\``;
  if (Array.isArray(value)) return `\`[${value.map((v) => `'${String(v)}'`).join(', ')}]\``;
  return `\`${String(value)}\``;
}

function defaultCell(row: Option<unknown>): string {
  const value = row.default;
  if (row.shownDefault !== undefined || typeof value !== 'number') return shownDefault(row);
  const mib = value / 2 ** 20;
  return row.unit === 'bytes' && Number.isInteger(mib)
    ? `\`${value}\` (${mib} MiB)`
    : `\`${value}\``;
}

/** One Markdown table of a table's options: option, env, type, unit, default, meaning. */
export function renderTable(table: OptionTable): string {
  const rows = Object.entries(table).map(([name, row]) =>
    [
      `\`${name}\``,
      row.env === undefined ? '(code only)' : `\`${row.env}\``,
      row.type,
      row.unit ?? '',
      defaultCell(row),
      row.meaning,
    ]
      .map((cell) => cell.replace(/\|/g, '\\|'))
      .join(' | '),
  );
  return [
    '| option | env | type | unit | default | meaning |',
    '| --- | --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r} |`),
  ].join('\n');
}

/** Which table goes between which markers of which pages. */
const TABLES: readonly [marker: string, table: OptionTable, pages: readonly string[]][] = [
  ['options-table', OPTIONS, ['README.md', 'docs/configuration.md']],
  ['file-exporter-options-table', FILE_EXPORTER_OPTIONS, ['docs/snapshots-and-files.md']],
];

/** Each page that holds a generated table, with the text it should have. */
export async function generatedPages(): Promise<Map<string, string>> {
  const config = (await prettier.resolveConfig(join(root, 'README.md'))) ?? {};
  const pages = new Map<string, string>();
  for (const [marker, table, files] of TABLES) {
    for (const file of files) {
      const text = pages.get(file) ?? readFileSync(join(root, file), 'utf8');
      const start = `<!-- ${marker} -->`;
      const end = `<!-- /${marker} -->`;
      const from = text.indexOf(start);
      const to = text.indexOf(end);
      if (from < 0 || to < from) throw new Error(`${file}: no ${start} … ${end}`);
      const replaced = `${text.slice(0, from + start.length)}\n\n${renderTable(table)}\n\n${text.slice(to)}`;
      pages.set(file, await prettier.format(replaced, { ...config, parser: 'markdown' }));
    }
  }
  return pages;
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  for (const [file, text] of await generatedPages()) {
    writeFileSync(join(root, file), text);
    console.log(`wrote the options table of ${file}`);
  }
}
