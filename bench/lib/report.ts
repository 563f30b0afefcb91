/** One target of the issue, printed next to the figure that decides it. */
export interface Target {
  /** What is promised, e.g. "(d) adds no more per span than (b)". */
  target: string;
  /** The measured figure, formatted. */
  figure: string;
  met: boolean;
  /** By how much it is met or missed, and why. */
  note: string;
}

/** What a scenario hands to the runner that writes bench/RESULTS.md. */
export interface ScenarioResult {
  /** The section's title, e.g. "1. Span pipeline, in process". */
  title: string;
  /** The section's body in Markdown: method, tables, notes. */
  markdown: string;
  targets: Target[];
  /** Headline figures, for the summary at the top. */
  headlines: string[];
}

/** Renders a Markdown table. */
export function renderTable(
  header: readonly string[],
  rows: readonly (readonly string[])[],
): string {
  const line = (cells: readonly string[]): string => `| ${cells.join(' | ')} |`;
  return [line(header), line(header.map(() => '---')), ...rows.map(line)].join('\n');
}

export function targetRows(targets: readonly Target[]): string[][] {
  return targets.map((t) => [t.target, t.figure, t.met ? '**met**' : '**missed**', t.note]);
}

export function renderScenario(result: ScenarioResult): string {
  const parts = [`## ${result.title}`, '', result.markdown.trim(), ''];
  if (result.targets.length > 0) {
    parts.push(
      '### Targets',
      '',
      renderTable(
        ['target', 'figure', 'verdict', 'by how much, and why'],
        targetRows(result.targets),
      ),
      '',
    );
  }
  return parts.join('\n');
}

/** The soak section's markers in bench/RESULTS.md: `npm run soak` writes between them, `npm run bench` keeps them. */
export const SOAK_START = '<!-- soak:start (written by npm run soak; keep when rewriting) -->';
export const SOAK_END = '<!-- soak:end -->';
