import { createRequire } from 'node:module';
import { join } from 'node:path';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { holdDiagWarnings, warnAboutSetup } from '../env-warnings.js';
import type { ResourceScopeTable } from '../record/resource-scope-table.js';
import type { RecordSink } from './export-queue.js';
import { OtlpProtoRequestExporter } from './otlp-proto-exporter.js';
import { OtlpProtoSink, SpanExporterSink } from './sinks.js';

type Env = Record<string, string | undefined>;

const GRPC_PACKAGE = '@opentelemetry/exporter-trace-otlp-grpc';
/** Where the gRPC exporter sends when no endpoint is set (the OTLP spec's default). */
const GRPC_DEFAULT_URL = 'http://localhost:4317';

/** The gRPC trace exporter's class, as the package exports it. */
export type GrpcExporterClass = new (config?: { url?: string }) => SpanExporter;

/**
 * Loads the gRPC trace exporter from the app's dependencies, if it has it:
 * resolved as a peer of this package (beside it in `node_modules`, wherever
 * the app runs from), else from the working directory.
 */
function loadGrpcExporter(): GrpcExporterClass | undefined {
  const from: (() => NodeRequire)[] = [
    () => (typeof require === 'function' ? require : createRequire(import.meta.url)),
    () => createRequire(join(process.cwd(), 'index.js')),
  ];
  for (const loader of from) {
    try {
      const { OTLPTraceExporter: Grpc } = loader()(GRPC_PACKAGE) as {
        OTLPTraceExporter: GrpcExporterClass;
      };
      if (typeof Grpc === 'function') return Grpc;
    } catch {
      // Not found there (or it failed to load): try the next place.
    }
  }
  return undefined;
}

// The SDK's exporters read `OTEL_EXPORTER_OTLP_[TRACES_]*` in their
// constructor and warn through diag about a value they cannot use. The
// recorder builds its exporter in its own constructor, before NodeSDK
// installs a logger, so those warnings are held back while it is built and
// reported with the recorder's own (see env-warnings.ts). Holding the SDK's
// own messages, rather than checking the variables again here, keeps the
// rules exactly the SDK's, whatever its version.

/** The variable for `setting` the trace exporter reads first, then the general one. */
const traceVariables = (setting: string): [string, string] => [
  `OTEL_EXPORTER_OTLP_TRACES_${setting}`,
  `OTEL_EXPORTER_OTLP_${setting}`,
];

/** The SDK's messages that name no variable, and the setting each is about. */
const ABOUT: readonly (readonly [RegExp, string])[] = [
  [/private key/i, 'CLIENT_KEY'],
  [/client certificate/i, 'CLIENT_CERTIFICATE'],
  [/root certificate/i, 'CERTIFICATE'],
  [/\bURL\b/, 'ENDPOINT'],
];

/** A variable that is set to something other than blanks. */
const isSet = (env: Env, variable: string): boolean => (env[variable]?.trim() ?? '') !== '';

/**
 * The variables a message of the SDK is about, when it names none (its URL
 * warnings show the value only): those of its setting whose value it
 * quotes, else the one the exporter reads (the signal's own when set).
 */
function variablesOf(message: string, env: Env): string[] {
  if (/\bOTEL_[A-Z0-9_]+/.test(message)) return [];
  const setting = ABOUT.find(([pattern]) => pattern.test(message))?.[1];
  if (setting === undefined) return [];
  const candidates = traceVariables(setting).filter((v) => isSet(env, v));
  const quoted = candidates.filter((v) => message.includes(env[v]!.trim()));
  return quoted.length > 0 ? quoted : candidates.slice(0, 1);
}

/** Says what the SDK's exporter warned about while it was built, naming the variable. */
function reportHeld(held: readonly string[], env: Env): void {
  for (const message of held) {
    const about = variablesOf(message, env)
      .map((v) => ` about ${v}=${JSON.stringify(env[v])}`)
      .join(' and');
    warnAboutSetup(`otel-flight-recorder: the OTLP trace exporter warned${about}: ${message}`);
  }
}

/**
 * Builds the gRPC exporter. Where the endpoint set in the environment is one
 * it throws on (its URL check throws where the HTTP exporters warn), says so,
 * naming the variable, and builds it for the default endpoint instead.
 */
function buildGrpc(Grpc: GrpcExporterClass, env: Env, said: string[]): SpanExporter {
  try {
    return new Grpc();
  } catch (error) {
    // Which endpoint the gRPC exporter reads: the signal's own, when not blank.
    const variable = traceVariables('ENDPOINT').find((v) => isSet(env, v));
    if (variable === undefined) throw error;
    const exporter = new Grpc({ url: GRPC_DEFAULT_URL });
    said.push(
      `otel-flight-recorder: ignoring ${variable}=${JSON.stringify(env[variable])}: the gRPC trace exporter cannot use it (${String(error)}); using the default "${GRPC_DEFAULT_URL}"`,
    );
    return exporter;
  }
}

/**
 * The export path when no exporter is given, by the OTLP protocol the
 * environment asks for, as the spec defines `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`
 * (or `OTEL_EXPORTER_OTLP_PROTOCOL`):
 * - `http/protobuf`, the default: the recorded bytes go out as they are;
 * - `http/json`: records are decoded at flush for the SDK's OTLP/HTTP JSON exporter;
 * - `grpc`: the same, for `@opentelemetry/exporter-trace-otlp-grpc` when the app
 *   has it installed; without it, one warning and http/protobuf.
 * Every other `OTEL_EXPORTER_OTLP_*` variable is the SDK exporter's to read
 * (from `process.env`); what it warns about while it is built is reported as
 * the recorder's warnings are, so that it reaches the user.
 */
export function defaultSink(
  table: ResourceScopeTable,
  env: Env = process.env,
  loadGrpc: () => GrpcExporterClass | undefined = loadGrpcExporter,
): RecordSink {
  const variable = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?.trim()
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const raw = env[variable]?.trim() ?? '';
  const protocol = raw === '' ? 'http/protobuf' : raw.toLowerCase();
  // Held, then said in order once the exporter is built.
  const held: string[] = [];
  const said: string[] = [];
  try {
    return holdDiagWarnings(held, (): RecordSink => {
      if (protocol === 'http/json') return new SpanExporterSink(new OTLPTraceExporter(), table);
      if (protocol === 'grpc') {
        const Grpc = loadGrpc();
        if (Grpc === undefined) {
          said.push(
            `otel-flight-recorder: ${variable}=grpc needs ${GRPC_PACKAGE}, which is not installed; exporting with http/protobuf instead (install it, or pass an exporter)`,
          );
        } else {
          try {
            return new SpanExporterSink(buildGrpc(Grpc, process.env, said), table);
          } catch (error) {
            said.push(
              `otel-flight-recorder: ${GRPC_PACKAGE} could not be built (${String(error)}); exporting with http/protobuf instead`,
            );
          }
        }
      } else if (protocol !== 'http/protobuf') {
        said.push(
          `otel-flight-recorder: ignoring ${variable}=${JSON.stringify(raw)}: expected http/protobuf, http/json or grpc; using the default "http/protobuf"`,
        );
      }
      // http/protobuf, asked for or the fallback.
      return new OtlpProtoSink(new OtlpProtoRequestExporter(), table);
    });
  } finally {
    for (const message of said) warnAboutSetup(message);
    reportHeld(held, process.env);
  }
}
