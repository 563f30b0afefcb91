import {
  type Context,
  ROOT_CONTEXT,
  SpanKind,
  type SpanOptions,
  SpanStatusCode,
  type Tracer,
  trace,
} from '@opentelemetry/api';

/**
 * Span shapes like real traffic. Attribute values mix constants (shared by
 * every span, as literals are) with values built per request (ids, paths),
 * which each span keeps alive on its own.
 */

const USER_AGENT = 'Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0';
const QUERY = 'SELECT id, name, email, plan, created_at FROM users WHERE id = $1';

/** Spans per trace of {@link emitTrace}. */
export const SPANS_PER_TRACE = 6;

function child(tracer: Tracer, parent: Context, name: string, kind: SpanKind) {
  return tracer.startSpan(name, { kind }, parent);
}

/**
 * One request: a server root with 5 children, about 10 attributes each, and
 * an event on two of them. When `fail` is set the root ends with status
 * ERROR, which is what trips the recorder's `error` trigger; with `slowMs`
 * the root lasts that long (it started that long ago), which trips `latency`.
 */
export function emitTrace(tracer: Tracer, i: number, fail: boolean, slowMs = 0): void {
  const userId = `u${(i * 7919) % 1_000_003}`;
  const requestId = `req-${i.toString(16)}-${(i * 2654435761) >>> 0}`;
  const options: SpanOptions = {
    kind: SpanKind.SERVER,
    attributes: {
      'http.request.method': 'GET',
      'http.route': '/users/:id',
      'url.path': `/users/${userId}`,
      'url.scheme': 'http',
      'server.address': 'api.internal',
      'server.port': 8080,
      'client.address': `10.0.${i & 255}.${(i >> 8) & 255}`,
      'user_agent.original': USER_AGENT,
      'network.protocol.version': '1.1',
      'http.request.id': requestId,
    },
  };
  // A slow request: its root started `slowMs` ago.
  if (slowMs > 0) options.startTime = Date.now() - slowMs;
  const root = tracer.startSpan('GET /users/:id', options);
  emitChildren(tracer, trace.setSpan(ROOT_CONTEXT, root), i);
  root.setAttribute('http.response.status_code', fail ? 500 : 200);
  if (fail) root.setStatus({ code: SpanStatusCode.ERROR, message: 'upstream failed' });
  root.end();
}

/**
 * The 5 children of a request: auth, a database query, a cache lookup, a call
 * to another service and a render, about 10 attributes each, with an event on
 * the render and on every other cache lookup.
 */
export function emitChildren(tracer: Tracer, ctx: Context, i: number): void {
  const userId = `u${(i * 7919) % 1_000_003}`;
  const auth = child(tracer, ctx, 'auth.verify', SpanKind.INTERNAL);
  auth.setAttributes({
    'enduser.id': userId,
    'auth.method': 'bearer',
    'auth.scheme': 'jwt',
    'auth.issuer': 'https://login.internal/',
    'auth.cache.hit': (i & 3) !== 0,
    'auth.token.age_s': i % 3600,
    'auth.scopes': 'read:users',
    'code.function.name': 'verifyToken',
    'code.file.path': 'src/middleware/auth.ts',
    'code.line.number': 42,
  });
  auth.end();

  const db = child(tracer, ctx, 'SELECT app.users', SpanKind.CLIENT);
  db.setAttributes({
    'db.system.name': 'postgresql',
    'db.namespace': 'app',
    'db.operation.name': 'SELECT',
    'db.collection.name': 'users',
    'db.query.text': QUERY,
    'db.query.parameter.0': userId,
    'server.address': 'db.internal',
    'server.port': 5432,
    'network.peer.address': '10.1.0.5',
    'db.response.returned_rows': 1,
  });
  db.end();

  const cache = child(tracer, ctx, 'GET', SpanKind.CLIENT);
  cache.setAttributes({
    'db.system.name': 'redis',
    'db.operation.name': 'GET',
    'db.query.text': `GET user:${userId}:profile`,
    'db.namespace': '0',
    'server.address': 'cache.internal',
    'server.port': 6379,
    'network.peer.address': '10.1.0.7',
    'network.transport': 'tcp',
    'cache.hit': (i & 1) === 0,
    'cache.ttl_ms': 30_000,
  });
  if ((i & 1) !== 0) cache.addEvent('cache.miss', { 'cache.key': `user:${userId}:profile` });
  cache.end();

  const billing = child(tracer, ctx, 'GET', SpanKind.CLIENT);
  billing.setAttributes({
    'http.request.method': 'GET',
    'url.full': `http://billing.internal/accounts/${userId}/plan`,
    'server.address': 'billing.internal',
    'server.port': 80,
    'http.response.status_code': 200,
    'network.protocol.version': '1.1',
    'http.request.resend_count': 0,
    'http.response.body.size': 312 + (i % 97),
    'billing.latency_ms': 3.25 + (i % 13) / 8,
    'peer.service': 'billing',
  });
  billing.end();

  const render = child(tracer, ctx, 'render profile', SpanKind.INTERNAL);
  render.setAttributes({
    'template.name': 'profile.html',
    'template.engine': 'eta',
    'template.cache': 'hit',
    'render.bytes': 4096 + (i % 1024),
    'render.partials': 3,
    'render.locale': 'en-US',
    'render.theme': 'light',
    'render.user': userId,
    'code.function.name': 'renderProfile',
    'code.file.path': 'src/views/profile.ts',
  });
  render.addEvent('template.compiled', { 'template.name': 'profile.html', 'template.ms': 0.5 });
  render.end();
}

/** A small span: a name and two attributes, no events. */
export function emitSmallSpan(tracer: Tracer, i: number): void {
  const span = tracer.startSpan('cache.get', {
    attributes: { 'cache.key': `k${i}`, 'cache.hit': (i & 1) === 0 },
  });
  span.end();
}

/** A span with ten attributes and three events of two attributes each. */
export function emitEventfulSpan(tracer: Tracer, i: number): void {
  const span = tracer.startSpan('process job', {
    kind: SpanKind.CONSUMER,
    attributes: {
      'messaging.system': 'kafka',
      'messaging.operation.name': 'process',
      'messaging.destination.name': 'orders',
      'messaging.message.id': `m-${i}`,
      'messaging.kafka.offset': i,
      'messaging.kafka.partition': i & 7,
      'messaging.consumer.group.name': 'billing',
      'order.id': `o-${(i * 31) % 99_991}`,
      'order.items': i % 9,
      'order.total': 19.99 + (i % 50),
    },
  });
  span.addEvent('order.validated', { 'order.id': `o-${i}`, rules: 12 });
  span.addEvent('payment.authorized', { 'payment.provider': 'stripe', 'payment.ms': 41.5 });
  span.addEvent('order.persisted', { 'db.rows': 3, 'db.ms': 2.25 });
  span.end();
}
