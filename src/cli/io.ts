/** What a command may touch of the outside world, so tests can run it in process. */
export interface Io {
  /** Writes to stdout. */
  out(text: string): void;
  /** Writes to stderr. */
  err(text: string): void;
  env: Record<string, string | undefined>;
  /** The terminal width in columns. */
  columns: number;
  /** Whether stdout takes colour. */
  color: boolean;
  /** The package's version, for `--version`. */
  version: string;
}
