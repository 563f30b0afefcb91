// Stands in for @opentelemetry/auto-instrumentations-node in the examples, so
// they type-check without it; in your app, import the real package.
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';

export function getNodeAutoInstrumentations() {
  return [new HttpInstrumentation()];
}
