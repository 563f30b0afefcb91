// Run by test/log-export.test.ts in a child process, so a hang fails the test
// instead of stalling the suite: in the smallest log ring allowed (1 KiB), a
// record of every size around the ring's is emitted and must come back
// (buffered, or sent at once as oversize; dropped, counted, when it is larger
// than the export queue's bound, the ring's size again). Prints one JSON
// line: per body length, [bufferedLogs, logsOversize, records sent, logsDropped].
import { SeverityNumber } from '@opentelemetry/api-logs';
import { FlightRecorderSpanProcessor } from '../../src/index.js';
import { makeLogging } from './logs.js';
import { TestExporter } from './test-exporter.js';

const out: Record<number, [number, number, number, number]> = {};
for (const length of [1, 200, 480, 500, 520, 900, 1000, 1024, 1100, 5000]) {
  const recorder = new FlightRecorderSpanProcessor({
    exporter: new TestExporter(),
    logMaxBytes: 1024,
    runtimeEvents: false,
  });
  const logging = makeLogging(recorder);
  logging.logger.emit({ severityNumber: SeverityNumber.DEBUG, body: 'x'.repeat(length) });
  await logging.processor.forceFlush();
  const stats = recorder.stats();
  out[length] = [
    stats.bufferedLogs,
    stats.logsOversize,
    logging.exporter.records.length,
    stats.logsDropped,
  ];
  await recorder.shutdown();
}
console.log(JSON.stringify(out));
