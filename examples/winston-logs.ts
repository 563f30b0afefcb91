// tracing.ts, with winston: the same NodeSDK setup as for pino.
import * as api from '@opentelemetry/api';
import { logs as apiLogs, SeverityNumber } from '@opentelemetry/api-logs';
import { WinstonInstrumentation } from '@opentelemetry/instrumentation-winston';
import { NodeSDK } from '@opentelemetry/sdk-node';
import { FlightRecorderSpanProcessor } from 'otel-flight-recorder';

const recorder = new FlightRecorderSpanProcessor();
const sdk = new NodeSDK({
  serviceName: 'checkout',
  spanProcessors: [recorder],
  logRecordProcessors: [recorder.logRecordProcessor()],
  // logSeverity lets DEBUG through to the OTel transport of an info logger.
  instrumentations: [new WinstonInstrumentation({ logSeverity: SeverityNumber.DEBUG })],
});
sdk.start();

// SDK 3.x: NodeSDK registers its logger provider on @opentelemetry/api's `logs`,
// but winston-transport emits through @opentelemetry/api-logs' global. Register
// NodeSDK's provider (its resource, the recorder's processor) there too. On SDK 2.x
// api has no `logs` and NodeSDK has set api-logs' global itself: this does nothing.
const sdkLogs = (api as { logs?: Pick<typeof apiLogs, 'getLoggerProvider'> }).logs;
if (sdkLogs) apiLogs.setGlobalLoggerProvider(sdkLogs.getLoggerProvider());
