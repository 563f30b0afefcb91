// Stands in for @opentelemetry/auto-instrumentations-node (tsconfig.json maps
// the name here), so the examples type-check without that large package.
import { HttpInstrumentation } from '@opentelemetry/instrumentation-http';

export function getNodeAutoInstrumentations() {
  return [new HttpInstrumentation()];
}
