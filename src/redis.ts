import { Redis, type RedisOptions } from 'ioredis';
import type { Config } from './config.ts';
import type { Log } from './log.ts';

/** How late a heartbeat's timeout may fire before it says more about this process than about Redis. */
const STALL_MARGIN_MS = 250;

/**
 * The Redis connections of one app, opened in one place from its config.
 * Every command fails fast while Redis is unreachable (no offline queue) and
 * within the command timeout while it does not answer, so no request waits
 * on a dead Redis for longer than that.
 */
export interface RedisConnections {
  /** Commands: presence, the typing throttle, and whatever else keeps state in Redis. */
  readonly command: Redis;
  /** PUBLISH only: a publish never queues behind a slow command. */
  readonly publisher: Redis;
  /** SUBSCRIBE only (a subscribed connection may send nothing else); resubscribes by itself after a reconnect. */
  readonly subscriber: Redis;
  close(): Promise<void>;
}

type State = 'connecting' | 'up' | 'down' | 'closing';

/**
 * Logs a connection's trouble once per change of state (up → down → up), never
 * once per failed reconnect attempt, and never swallows it.
 */
class ConnectionWatch {
  private state: State = 'connecting';

  constructor(
    private readonly name: string,
    private readonly redis: Redis,
    private readonly log: Log,
  ) {
    redis.on('ready', () => {
      if (this.state === 'down') this.log('info', `redis ${this.name} connection: reconnected`);
      if (this.state !== 'closing') this.state = 'up';
    });
    redis.on('error', (error: Error) => this.failed(error.message));
    redis.on('close', () => {
      if (this.state === 'up') this.failed('connection closed');
    });
  }

  /** Reports a command that failed while the connection seemed fine (during an outage, that is no news). */
  commandFailed(reason: string): void {
    if (this.state === 'up') this.log('warn', `redis ${this.name} connection: ${reason}`);
  }

  /** Reports a failure of the connection (an error event, a lost connection, heartbeats that got no answer). */
  failed(reason: string): void {
    if (this.state === 'down' || this.state === 'closing') return;
    this.state = 'down';
    this.log('warn', `redis ${this.name} connection: ${reason}; reconnecting`);
  }

  async close(): Promise<void> {
    this.state = 'closing';
    // quit fails at once when the connection is down, or after the command timeout when Redis does not answer.
    await this.redis.quit().catch(() => this.redis.disconnect());
  }
}

/**
 * The subscriber connection. graphql-redis-subscriptions does not await the
 * UNSUBSCRIBEs it sends, nor does ioredis the SUBSCRIBE it resends after a
 * reconnect; while Redis is unreachable they fail, and an unhandled rejection
 * would end the process. Their failures are reported here instead (callers
 * that await a command still see its rejection).
 */
class SubscriberConnection extends Redis {
  onCommandFailed: (error: Error) => void = () => {};

  override sendCommand(...args: Parameters<Redis['sendCommand']>): unknown {
    const [command] = args;
    const result = super.sendCommand(...args);
    if (/subscribe$/i.test(command.name)) command.promise.catch((error: Error) => this.onCommandFailed(error));
    return result;
  }
}

/**
 * Opens the command connection and the pub/sub pair and waits until all three
 * are ready; fails (closing what it opened) when Redis cannot be reached.
 */
export async function openRedis(config: Pick<Config, 'redisCommandTimeoutMs'> & { redisUrl: string }, log: Log): Promise<RedisConnections> {
  const timeout = config.redisCommandTimeoutMs;
  const options: RedisOptions = {
    lazyConnect: true,
    // Fail while disconnected instead of queueing until Redis is back.
    enableOfflineQueue: false,
    commandTimeout: timeout,
    // A command sent just before the connection dropped is retried once after it comes back, then fails.
    maxRetriesPerRequest: 1,
    connectTimeout: Math.max(timeout, 1_000),
    retryStrategy: (attempt) => Math.min(50 * 2 ** attempt, 2_000),
  };
  const command = new Redis(config.redisUrl, { ...options, connectionName: 'parley-command' });
  const publisher = new Redis(config.redisUrl, { ...options, connectionName: 'parley-publisher' });
  const subscriber = new SubscriberConnection(config.redisUrl, { ...options, connectionName: 'parley-subscriber' });
  const watches = [
    new ConnectionWatch('command', command, log),
    new ConnectionWatch('publisher', publisher, log),
    new ConnectionWatch('subscriber', subscriber, log),
  ];
  const subscriberWatch = watches[2]!;
  subscriber.onCommandFailed = (error) => subscriberWatch.commandFailed(`a subscribe or unsubscribe failed (${error.message})`);

  // A subscribed connection hears nothing when Redis stops answering (a
  // partition keeps the socket open): ping it, and reconnect when two pings in
  // a row get no answer (one may be a slow moment), so that it resubscribes
  // (and streams catch up) once Redis is back.
  let missed = 0;
  const heartbeat = setInterval(() => {
    if (subscriber.status !== 'ready') return;
    const sentAt = Date.now();
    subscriber.ping().then(
      () => (missed = 0),
      (error: Error) => {
        // A timeout that fired late means this process was busy (its event
        // loop stalled): the answer may be sitting unread. Not a miss.
        if (Date.now() - sentAt > timeout + STALL_MARGIN_MS) return;
        if (subscriber.status !== 'ready' || ++missed < 2) return;
        missed = 0;
        subscriberWatch.failed(`no answer to two heartbeats (${error.message})`);
        subscriber.disconnect(true);
      },
    );
  }, timeout);
  heartbeat.unref();

  const close = async () => {
    clearInterval(heartbeat);
    await Promise.all(watches.map((watch) => watch.close()));
  };
  try {
    await Promise.all([command.connect(), publisher.connect(), subscriber.connect()]);
  } catch (error) {
    await close();
    throw new Error(`Could not connect to Redis (REDIS_URL): ${error instanceof Error ? error.message : String(error)}`, { cause: error });
  }
  return { command, publisher, subscriber, close };
}
