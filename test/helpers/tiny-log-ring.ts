// Run by test/log-export.test.ts in a child process, so a hang fails the test
// instead of stalling the suite: for every tiny logMaxBytes, a record is
// emitted and must come back (buffered, or sent at once as oversize).
// Prints one JSON line: per size, [bufferedLogs, logsOversize, records sent].
import { SeverityNumber } from '@opentelemetry/api-logs';
import { FlightRecorderSpanProcessor } from '../../src/index.js';
import { makeLogging } from './logs.js';
import { TestExporter } from './test-exporter.js';

const out: Record<number, [number, number, number]> = {};
for (const logMaxBytes of [1, 2, 16, 27, 28, 29, 64, 200]) {
  const recorder = new FlightRecorderSpanProcessor({
    exporter: new TestExporter(),
    logMaxBytes,
    runtimeEvents: false,
  });
  const logging = makeLogging(recorder);
  logging.logger.emit({ severityNumber: SeverityNumber.DEBUG, body: 'a debug line' });
  await logging.processor.forceFlush();
  const stats = recorder.stats();
  out[logMaxBytes] = [stats.bufferedLogs, stats.logsOversize, logging.exporter.records.length];
  await recorder.shutdown();
}
console.log(JSON.stringify(out));
