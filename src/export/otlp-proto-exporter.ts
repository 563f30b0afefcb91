import type { Agent as HttpAgent } from 'node:http';
import type { ExportResult } from '@opentelemetry/core';
import { OTLPExporterBase } from '@opentelemetry/otlp-exporter-base';
import {
  convertLegacyHttpOptions,
  createOtlpHttpExportDelegate,
} from '@opentelemetry/otlp-exporter-base/node-http';
import { ProtobufTraceSerializer } from '@opentelemetry/otlp-transformer';

/** The config the SDK's OTLP/HTTP exporters take; typed this way because its type moved between 0.223 and 0.30x. */
export type OtlpHttpConfig = Parameters<typeof convertLegacyHttpOptions>[0];

/** What the SDK's transport takes: `convertLegacyHttpOptions`' result. */
type HttpParameters = ReturnType<typeof convertLegacyHttpOptions>;

/**
 * The HTTP agents the SDK's transport makes for one exporter, so that
 * {@link OwnedAgents.destroy} can close their sockets when the recorder has
 * shut down. The transport times a request out only when its socket has been
 * idle for the exporter's timeout: a receiver that answers a byte at a time
 * keeps the request, its socket and so the process alive indefinitely, and
 * one that never answers keeps them for that timeout (10 s) after shutdown.
 * An agent from the user's own `httpAgentOptions` function is theirs, and is
 * left alone.
 */
export class OwnedAgents {
  private readonly _agents: HttpAgent[] = [];
  private _destroyed = false;

  /** `parameters` with an agent factory that keeps what it makes. */
  wrap(parameters: HttpParameters, config: OtlpHttpConfig): HttpParameters {
    if (typeof (config as { httpAgentOptions?: unknown }).httpAgentOptions === 'function') {
      return parameters;
    }
    const make = parameters.agentFactory;
    return {
      ...parameters,
      agentFactory: async (protocol: string) => {
        const agent = await make(protocol);
        this._agents.push(agent);
        if (this._destroyed) close(agent);
        return agent;
      },
    };
  }

  /** Closes every socket of the agents made so far, and of any made later. */
  destroy(): void {
    this._destroyed = true;
    for (const agent of this._agents) {
      try {
        close(agent);
      } catch {
        // Nothing to undo: shutdown goes on.
      }
    }
  }
}

/**
 * Closes `agent`'s sockets, and fails every connection it is asked for
 * later: a retry the transport has scheduled for a request cut off here
 * then fails at once (an error without a code is not retried) instead of
 * connecting again.
 */
function close(agent: HttpAgent): void {
  // The callback form: the agent hands the error to the request, whose
  // 'error' listener the transport has, so nothing is thrown at the app.
  (agent as { createConnection: unknown }).createConnection = (
    _options: unknown,
    callback?: (error: Error | null) => void,
  ) => {
    process.nextTick(() => callback?.(new Error('otel-flight-recorder: shut down')));
    return undefined;
  };
  agent.destroy();
}

/** An `ExportTraceServiceRequest` already encoded, and how many spans it holds. */
export interface EncodedRequest {
  readonly body: Uint8Array;
  readonly spans: number;
}

/** Passes the request bytes through: the flush assembled them. */
const serializer = {
  serializeRequest: (request: EncodedRequest): Uint8Array => request.body,
  deserializeResponse: (data: Uint8Array) => ProtobufTraceSerializer.deserializeResponse(data),
};

const metricsHelper = {
  name: 'span' as const,
  countItems: (request: EncodedRequest): number => request.spans,
};

/**
 * Sends pre-encoded OTLP protobuf requests through the SDK's own OTLP/HTTP
 * transport, as `@opentelemetry/exporter-trace-otlp-proto` does with its
 * serializer: `OTEL_EXPORTER_OTLP_[TRACES_]{ENDPOINT,HEADERS,TIMEOUT,COMPRESSION,…}`,
 * gzip, retries with backoff and `Retry-After`, and timeouts all apply.
 *
 * The transport keeps the body for its retries: hand it an array nothing
 * will write to again (assembled requests are always fresh arrays).
 */
export class OtlpProtoRequestExporter {
  private readonly _base: OTLPExporterBase<EncodedRequest>;
  private readonly _agents = new OwnedAgents();

  constructor(config: OtlpHttpConfig = {}) {
    this._base = new OTLPExporterBase(
      createOtlpHttpExportDelegate(
        this._agents.wrap(
          convertLegacyHttpOptions(config, 'TRACES', 'v1/traces', {
            'Content-Type': 'application/x-protobuf',
          }),
          config,
        ),
        serializer,
        'otlp_http_span_exporter',
        metricsHelper,
        undefined,
      ),
    );
  }

  export(request: EncodedRequest, done: (result: ExportResult) => void): void {
    this._base.export(request, done);
  }

  forceFlush(): Promise<void> {
    return this._base.forceFlush();
  }

  shutdown(): Promise<void> {
    return this._base.shutdown();
  }

  /**
   * Closes the transport's connections, once the recorder has shut down and
   * given up on what it still held: requests still open then fail.
   */
  release(): void {
    this._agents.destroy();
  }
}
