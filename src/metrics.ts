import { collectDefaultMetrics, Counter, Gauge, Histogram, Registry } from 'prom-client';
import type { PubSub } from './pubsub.ts';

/** A connection pool's state at one moment. */
export interface PoolStats {
  /** Connections open (idle or in use). */
  total: number;
  idle: number;
  /** Queries waiting for a connection. */
  waiting: number;
}

/** Topic kinds counted by `parley_events_published_total`; anything else counts as `other`. */
const TOPIC_KINDS = new Set(['channel', 'typing', 'presence', 'user', 'revocations']);

/** Distinct operation names kept as label values; later ones count as `other`, so clients cannot grow the series without bound. */
const MAX_OPERATION_NAMES = 200;
const OPERATION_NAME = /^[_A-Za-z][_0-9A-Za-z]{0,63}$/;

/**
 * The app's Prometheus metrics, on a registry of its own (never prom-client's
 * global one), so two apps in one process do not share or clash. Served as
 * text by `GET /metrics`.
 */
export class Metrics {
  readonly registry = new Registry();

  /** GraphQL operations by operation name and type (query, mutation, subscription). */
  readonly operationDuration = new Histogram({
    name: 'parley_graphql_operation_duration_seconds',
    help: 'Time to execute a GraphQL query or mutation, or to open a subscription, by operation name and type',
    labelNames: ['operation', 'type'] as const,
    buckets: [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10],
    registers: [this.registry],
  });

  readonly errors = new Counter({
    name: 'parley_graphql_errors_total',
    help: 'GraphQL errors returned to clients, by extensions.code',
    labelNames: ['code'] as const,
    registers: [this.registry],
  });

  readonly activeSockets = new Gauge({
    name: 'parley_websocket_connections',
    help: 'Open WebSocket connections',
    registers: [this.registry],
  });

  readonly activeSubscriptions = new Gauge({
    name: 'parley_subscriptions',
    help: 'Active GraphQL subscriptions over WebSocket',
    registers: [this.registry],
  });

  readonly startingSubscriptions = new Gauge({
    name: 'parley_subscriptions_starting',
    help: 'Subscriptions whose stream is being opened (listening, access check, start read)',
    registers: [this.registry],
  });

  readonly eventsPublished = new Counter({
    name: 'parley_events_published_total',
    help: 'Events published to pub/sub by this instance, by topic kind',
    labelNames: ['kind'] as const,
    registers: [this.registry],
  });

  readonly eventsDelivered = new Counter({
    name: 'parley_events_delivered_total',
    help: 'Subscription events written to WebSocket clients',
    registers: [this.registry],
  });

  /** Executions of subscription events; subscribers of one event with the same operation share one. */
  readonly eventExecutions = new Counter({
    name: 'parley_event_executions_total',
    help: 'Subscription events executed (once per event and distinct operation, or per viewer for viewer-dependent fields)',
    registers: [this.registry],
  });

  /** Reads of the event log by live streams (catching up, filling a gap, after an overflow); streams of one channel share them. */
  readonly logPageReads = new Counter({
    name: 'parley_event_log_page_reads_total',
    help: 'Pages of a channel event log read for subscription streams (one read serves every stream of the instance that needs that page)',
    registers: [this.registry],
  });

  readonly slowReadersClosed = new Counter({
    name: 'parley_websocket_slow_readers_closed_total',
    help: 'WebSockets closed (1013) because their unsent answers passed WS_MAX_BUFFERED_BYTES',
    registers: [this.registry],
  });

  readonly deliveryLag = new Histogram({
    name: 'parley_event_delivery_lag_seconds',
    help: 'Time from a channel event being recorded to its frame being written to a subscriber (live events only)',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5],
    registers: [this.registry],
  });

  /** Redis reconnections: each of the app's Redis connections counts its `reconnecting` events (wired in app.ts). */
  readonly redisReconnects = new Counter({
    name: 'parley_redis_reconnects_total',
    help: 'Times a Redis connection started reconnecting',
    registers: [this.registry],
  });

  /** Requests refused by a rate limit: `rt.metrics.rateLimited.inc({ limit: '<name>' })`. */
  readonly rateLimited = new Counter({
    name: 'parley_rate_limited_total',
    help: 'Requests, sockets or subscriptions refused by a rate limit, by limit',
    labelNames: ['limit'] as const,
    registers: [this.registry],
  });

  private pool: () => PoolStats | null = () => null;
  private readonly operationNames = new Set<string>();
  /** Payloads that came from pub/sub (live), as opposed to ones replayed from the database. */
  private readonly live = new WeakSet<object>();

  constructor() {
    const stats = () => this.pool();
    const pool = (name: string, help: string, pick: (stats: PoolStats) => number) =>
      new Gauge({
        name,
        help,
        registers: [this.registry],
        collect(this: Gauge) {
          const now = stats();
          if (now) this.set(pick(now));
        },
      });
    pool('parley_db_pool_connections', 'Postgres connections open in the pool', (s) => s.total);
    pool('parley_db_pool_idle_connections', 'Postgres connections idle in the pool', (s) => s.idle);
    pool('parley_db_pool_waiting_requests', 'Queries waiting for a Postgres connection', (s) => s.waiting);
    collectDefaultMetrics({ register: this.registry });
  }

  /** Reports `stats()` (null: no pool, e.g. the embedded database) at every scrape. */
  watchPool(stats: () => PoolStats | null): void {
    this.pool = stats;
  }

  /** An operation name as a label value: a GraphQL name, `anonymous`, or `other` past the cap. */
  operationLabel(name: string | null | undefined): string {
    if (!name) return 'anonymous';
    if (!OPERATION_NAME.test(name)) return 'other';
    if (this.operationNames.has(name)) return name;
    if (this.operationNames.size >= MAX_OPERATION_NAMES) return 'other';
    this.operationNames.add(name);
    return name;
  }

  /** Counts the errors of one result by their `extensions.code`. */
  countErrors(errors: readonly { extensions?: Record<string, unknown> }[] | undefined): void {
    for (const error of errors ?? []) {
      const code = error.extensions?.code;
      this.errors.inc({ code: typeof code === 'string' ? code : 'NONE' });
    }
  }

  /** Subscriptions whose source stream is being opened (listening, access check, start read) on this instance. */
  private starting = 0;

  get subscriptionsStarting(): number {
    return this.starting;
  }

  subscriptionStarting(delta: 1 | -1): void {
    this.starting += delta;
    this.startingSubscriptions.set(this.starting);
  }

  subscriptionOpened(): void {
    this.activeSubscriptions.inc();
  }

  subscriptionClosed(): void {
    this.activeSubscriptions.dec();
  }

  /** A frame for `payload` is being written to a socket: counted, and its lag observed when it is a live channel event. */
  delivered(payload: unknown): void {
    this.eventsDelivered.inc();
    if (typeof payload !== 'object' || payload === null || !this.live.has(payload)) return;
    const createdAt = (payload as { createdAt?: unknown }).createdAt;
    if (typeof createdAt !== 'string') return;
    const lag = Date.now() - Date.parse(createdAt);
    if (Number.isFinite(lag)) this.deliveryLag.observe(Math.max(0, lag) / 1000);
  }

  /**
   * `pubsub` as the app uses it, counting publishes by topic kind and marking
   * delivered payloads as live (so replays from the database do not count
   * as delivery lag). Everything else passes straight through.
   */
  observePubSub(pubsub: PubSub): PubSub {
    const publish: PubSub['publish'] = async (topic, payload) => {
      await pubsub.publish(topic, payload);
      // 'channel:<id>' → 'channel'; the broadcast topic 'revocations' has no id.
      const kind = topic.split(':', 1)[0]!;
      this.eventsPublished.inc({ kind: TOPIC_KINDS.has(kind) ? kind : 'other' });
    };
    pubsub.observe((payload) => {
      if (typeof payload === 'object' && payload !== null) this.live.add(payload);
    });
    // Methods bound once, not at every call.
    const bound = new Map<PropertyKey, { of: unknown; fn: unknown }>();
    return new Proxy(pubsub, {
      get(target, property) {
        if (property === 'publish') return publish;
        const value: unknown = Reflect.get(target, property, target);
        if (typeof value !== 'function') return value;
        let known = bound.get(property);
        if (known?.of !== value) bound.set(property, (known = { of: value, fn: value.bind(target) }));
        return known.fn;
      },
    });
  }
}
