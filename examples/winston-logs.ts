import { logs as apiLogs, SeverityNumber } from '@opentelemetry/api-logs';
import { WinstonInstrumentation } from '@opentelemetry/instrumentation-winston';
import { LoggerProvider } from '@opentelemetry/sdk-logs';
import { FlightRecorderSpanProcessor } from 'otel-flight-recorder';

const recorder = new FlightRecorderSpanProcessor();
// Give these to NodeSDK with recorder and recorder.logRecordProcessor(), as for pino.
// logSeverity lets DEBUG through to the OTel transport of an info logger.
export const instrumentations = [new WinstonInstrumentation({ logSeverity: SeverityNumber.DEBUG })];

// SDK 3.x only: winston-transport emits through @opentelemetry/api-logs' global,
// which SDK 3.x's NodeSDK leaves unset. Register a provider over the same processor
// there (on SDK 2.x NodeSDK has set that global already, and this does nothing).
apiLogs.setGlobalLoggerProvider(
  new LoggerProvider({ processors: [recorder.logRecordProcessor()] }),
);
