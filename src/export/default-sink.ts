import { createRequire } from 'node:module';
import { join } from 'node:path';
import { OTLPTraceExporter } from '@opentelemetry/exporter-trace-otlp-http';
import type { SpanExporter } from '@opentelemetry/sdk-trace';
import { warnAboutEnv } from '../env-warnings.js';
import type { ResourceScopeTable } from '../record/resource-scope-table.js';
import type { RecordSink } from './export-queue.js';
import { OtlpProtoRequestExporter } from './otlp-proto-exporter.js';
import { OtlpProtoSink, SpanExporterSink } from './sinks.js';

type Env = Record<string, string | undefined>;

const GRPC_PACKAGE = '@opentelemetry/exporter-trace-otlp-grpc';

/**
 * Loads the gRPC trace exporter from the app's dependencies, if it has it:
 * resolved as a peer of this package (beside it in `node_modules`, wherever
 * the app runs from), else from the working directory.
 */
function loadGrpcExporter(): SpanExporter | undefined {
  const from: (() => NodeRequire)[] = [
    () => (typeof require === 'function' ? require : createRequire(import.meta.url)),
    () => createRequire(join(process.cwd(), 'index.js')),
  ];
  for (const loader of from) {
    try {
      const { OTLPTraceExporter: Grpc } = loader()(GRPC_PACKAGE) as {
        OTLPTraceExporter: new () => SpanExporter;
      };
      return new Grpc();
    } catch {
      // Not found there (or it failed to load): try the next place.
    }
  }
  return undefined;
}

/**
 * The export path when no exporter is given, by the OTLP protocol the
 * environment asks for, as the spec defines `OTEL_EXPORTER_OTLP_TRACES_PROTOCOL`
 * (or `OTEL_EXPORTER_OTLP_PROTOCOL`):
 * - `http/protobuf`, the default: the recorded bytes go out as they are;
 * - `http/json`: records are decoded at flush for the SDK's OTLP/HTTP JSON exporter;
 * - `grpc`: the same, for `@opentelemetry/exporter-trace-otlp-grpc` when the app
 *   has it installed; without it, one warning and http/protobuf.
 * Every other `OTEL_EXPORTER_OTLP_*` variable is the SDK exporter's to read.
 */
export function defaultSink(
  table: ResourceScopeTable,
  env: Env = process.env,
  loadGrpc: () => SpanExporter | undefined = loadGrpcExporter,
): RecordSink {
  const variable = env.OTEL_EXPORTER_OTLP_TRACES_PROTOCOL?.trim()
    ? 'OTEL_EXPORTER_OTLP_TRACES_PROTOCOL'
    : 'OTEL_EXPORTER_OTLP_PROTOCOL';
  const raw = env[variable]?.trim() ?? '';
  const protocol = raw === '' ? 'http/protobuf' : raw.toLowerCase();
  if (protocol === 'http/json') return new SpanExporterSink(new OTLPTraceExporter(), table);
  if (protocol === 'grpc') {
    const grpc = loadGrpc();
    if (grpc !== undefined) return new SpanExporterSink(grpc, table);
    // Through warnAboutEnv: the recorder is built before NodeSDK installs its logger.
    warnAboutEnv(
      `otel-flight-recorder: ${variable}=grpc needs ${GRPC_PACKAGE}, which is not installed; exporting with http/protobuf instead (install it, or pass an exporter)`,
    );
  } else if (protocol !== 'http/protobuf') {
    warnAboutEnv(
      `otel-flight-recorder: ignoring ${variable}=${JSON.stringify(raw)}: expected http/protobuf, http/json or grpc; using the default "http/protobuf"`,
    );
  }
  return new OtlpProtoSink(new OtlpProtoRequestExporter(), table);
}
