// logger.ts: pino at debug, so instrumentation-pino's OTel stream sees DEBUG
// records, while what goes to stdout stays at info.
import { multistream, pino } from 'pino';

export const logger = pino(
  { level: 'debug' },
  multistream([{ level: 'info', stream: process.stdout }]),
);
