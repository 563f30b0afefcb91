import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';
import { fileURLToPath } from 'node:url';

const root = fileURLToPath(new URL('../../', import.meta.url));

function packageVersion(name: string): string {
  try {
    const json = readFileSync(`${root}node_modules/${name}/package.json`, 'utf8');
    return (JSON.parse(json) as { version: string }).version;
  } catch {
    return 'not installed';
  }
}

function gitCommit(): string {
  try {
    const sha = execFileSync('git', ['rev-parse', '--short', 'HEAD'], { cwd: root })
      .toString()
      .trim();
    const dirty = execFileSync('git', ['status', '--porcelain', '--', 'src'], { cwd: root })
      .toString()
      .trim();
    return dirty === '' ? sha : `${sha} (src/ modified)`;
  } catch {
    return 'unknown';
  }
}

/** The machine and versions a run was made on, as Markdown. */
export function machineMarkdown(): string {
  const self = JSON.parse(readFileSync(`${root}package.json`, 'utf8')) as { version: string };
  const cpus = os.cpus();
  const packages = [
    '@opentelemetry/api',
    '@opentelemetry/sdk-trace',
    '@opentelemetry/sdk-trace-node',
    '@opentelemetry/exporter-trace-otlp-http',
    '@opentelemetry/instrumentation-http',
    'autocannon',
    'tsx',
  ];
  const rows = [
    `| CPU | ${cpus[0]?.model ?? 'unknown'} |`,
    `| cores | ${cpus.length} |`,
    `| memory | ${(os.totalmem() / 2 ** 30).toFixed(0)} GiB |`,
    `| OS | ${os.type()} ${os.release()} ${os.arch()} |`,
    `| Node | ${process.version} (V8 ${process.versions.v8}) |`,
    `| otel-flight-recorder | ${self.version}, commit ${gitCommit()} |`,
    ...packages.map((p) => `| ${p} | ${packageVersion(p)} |`),
    `| date | ${new Date().toISOString()} |`,
  ];
  return ['| | |', '| --- | --- |', ...rows].join('\n');
}
