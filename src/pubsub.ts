import { EventEmitter } from 'node:events';
import { RedisPubSub as RedisEngine } from 'graphql-redis-subscriptions';
import { PubSub as LocalEngine, type PubSubEngine } from 'graphql-subscriptions';
import type { Log } from './log.ts';
import type { RedisConnections } from './redis.ts';
import type { ChannelEventType } from './generated/prisma/enums.ts';

/**
 * What a channel topic carries: ids and the sequence number only. Subscribers
 * re-load what they show, so a payload never leaks fields a reader may not see.
 */
export interface ChannelEventPayload {
  channelId: string;
  seq: number;
  type: ChannelEventType;
  messageId: string | null;
  userId: string | null;
  /** The reaction's emoji, for REACTION_ADDED and REACTION_REMOVED. */
  emoji: string | null;
  /**
   * For MESSAGE_ADDED and READ of top-level messages: the message's position
   * among the channel's top-level messages, from which unread counts follow.
   */
  number: number | null;
  /** For MESSAGE_ADDED and READ of a thread reply: its root and its position in the thread. */
  threadRootId: string | null;
  replyNumber: number | null;
  /** For MESSAGE_ADDED: the members it @-mentions. */
  mentions: string[];
  /** ISO time the event was recorded. */
  createdAt: string;
}

/** Someone is typing in a channel; never persisted. */
export interface TypingPayload {
  channelId: string;
  userId: string;
  /** ISO time after which clients should stop showing it. */
  expiresAt: string;
}

/** A user went ONLINE or OFFLINE (published to each of their workspaces). */
export interface PresencePayload {
  userId: string;
  status: 'ONLINE' | 'OFFLINE';
  lastActiveAt: string | null;
}

/** Something about one user's account: a session revoked, a channel they were added to. */
export type UserPayload =
  | { type: 'SESSION_REVOKED'; sessionId: string | null }
  | { type: 'CHANNEL_ADDED'; channelId: string }
  | { type: 'CHANNEL_REMOVED'; channelId: string }
  | { type: 'THREAD_FOLLOWED'; rootId: string; channelId: string }
  /** A notification was stored or collapsed into (see services/notifications.ts). */
  | { type: 'NOTIFICATION'; notificationId: string }
  /** Some of the user's notifications were read or withdrawn: counts changed. */
  | { type: 'NOTIFICATIONS_CHANGED' }
  /**
   * What the user may see in a workspace shrank (removed from it, or made a
   * guest): their open streams there check their access again.
   */
  | { type: 'ACCESS_CHANGED'; workspaceId: string };

/** A session (or, with sessionId null, every session of the user) was revoked. */
export interface RevocationPayload {
  userId: string;
  sessionId: string | null;
}

/** A topic name that remembers the type of its payload. */
export type Topic<T> = string & { readonly __payload?: T };

/** Every topic of Parley. Topics are per entity, never global with a filter. */
export const topics = {
  channel: (channelId: string): Topic<ChannelEventPayload> => `channel:${channelId}`,
  typing: (channelId: string): Topic<TypingPayload> => `typing:${channelId}`,
  presence: (workspaceId: string): Topic<PresencePayload> => `presence:${workspaceId}`,
  user: (userId: string): Topic<UserPayload> => `user:${userId}`,
  /**
   * The one broadcast topic: revoked sessions, so that every instance drops
   * them from its session cache at once. Revocations are rare; every instance
   * needs every one.
   */
  revocations: (): Topic<RevocationPayload> => 'revocations',
};

/** Payloads a subscriber may have waiting before it is cut off as too slow. */
export const MAX_PENDING_EVENTS = 10_000;

/** A registered listener: `ready` once the transport delivers the topic here. */
export interface Listening {
  ready: Promise<void>;
  close(): Promise<void>;
}

/** What a listener hears about its transport besides payloads. */
export interface ListenOptions {
  /**
   * The transport lost its connection: from now until `onResubscribed`,
   * payloads of the topic may be lost.
   */
  onInterrupted?: () => void;
  /**
   * The transport is subscribed again after losing its connection: payloads
   * published in between were not delivered here and never will be.
   */
  onResubscribed?: () => void;
}

export interface PubSub {
  /** Publishes to every instance; fails (within the Redis command timeout) when the transport cannot take it. */
  publish<T>(topic: Topic<T>, payload: T): Promise<void>;
  /** Calls `listener` with each payload of the topic, from now until `close()`. */
  listen<T>(topic: Topic<T>, listener: (payload: T) => void, options?: ListenOptions): Listening;
  /** How many local listeners a topic has (for tests and metrics). */
  listenerCount(topic: string): number;
  /** Calls `observer` with each payload this instance receives, once, before the topic's listeners. */
  observe(observer: (payload: unknown) => void): void;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class SlowSubscriberError extends Error {
  constructor() {
    super(`More than ${MAX_PENDING_EVENTS} events were waiting for this subscriber; resubscribe with a cursor to catch up.`);
  }
}

/** A topic this instance listens to: one engine subscription, however many local listeners share it. */
interface TopicListeners {
  listeners: Set<Listener>;
  /** The engine's subscription id, once it has subscribed. */
  subscribed: Promise<number>;
  ready: Promise<void>;
}

interface Listener {
  listener: (payload: never) => void;
  options: ListenOptions;
}

/**
 * Parley's typed pub/sub over a graphql-subscriptions engine. Each topic is
 * one engine subscription per instance, however many local listeners share
 * it (a thousand subscribers of a channel cost a set entry each, not an
 * engine subscription each), and each payload reaches all of them as one
 * object: per-event work is keyed by that object
 * (`src/server/sharedExecution.ts`, `src/schema/batch.ts`). This layer adds
 * the types, `ready`, listener counts and the transport's interruptions.
 */
abstract class EnginePubSub implements PubSub {
  private readonly topics = new Map<string, TopicListeners>();
  private observer: ((payload: unknown) => void) | null = null;

  constructor(private readonly engine: PubSubEngine) {}

  abstract publish<T>(topic: Topic<T>, payload: T): Promise<void>;
  abstract ping(): Promise<void>;
  abstract close(): Promise<void>;
  /** The engine's name of a topic. */
  protected abstract trigger(topic: string): string;
  /** The topic's last local listener has closed. */
  protected released(_topic: string): void {}

  listenerCount(topic: string): number {
    return this.topics.get(topic)?.listeners.size ?? 0;
  }

  observe(observer: (payload: unknown) => void): void {
    this.observer = observer;
  }

  /** Tells every local listener (of every topic) about the transport. */
  protected notify(event: keyof ListenOptions): void {
    for (const { listeners } of this.topics.values()) for (const { options } of listeners) options[event]?.();
  }

  listen<T>(topic: Topic<T>, listener: (payload: T) => void, options: ListenOptions = {}): Listening {
    const entry = this.topics.get(topic) ?? this.subscribe(topic);
    const own: Listener = { listener, options };
    entry.listeners.add(own);
    let closed = false;
    return {
      ready: entry.ready,
      close: async () => {
        if (closed) return;
        closed = true;
        entry.listeners.delete(own);
        if (entry.listeners.size > 0 || this.topics.get(topic) !== entry) return;
        this.topics.delete(topic);
        this.released(topic);
        // Not before the subscribe settled: graphql-redis-subscriptions would
        // register the id afterwards and fail on the topic's next payload.
        const id = await entry.subscribed.catch(() => null);
        if (id !== null) this.engine.unsubscribe(id);
      },
    };
  }

  private subscribe(topic: string): TopicListeners {
    const listeners = new Set<Listener>();
    const subscribed = this.engine.subscribe(
      this.trigger(topic),
      (payload: never) => {
        this.observer?.(payload);
        for (const { listener } of listeners) listener(payload);
      },
      {},
    );
    const entry: TopicListeners = { listeners, subscribed, ready: subscribed.then(() => undefined) };
    // A failed subscribe fails its listeners (they await `ready`); the next listen tries again.
    entry.ready.catch(() => {
      if (this.topics.get(topic) === entry) this.topics.delete(topic);
    });
    this.topics.set(topic, entry);
    return entry;
  }
}

/** One process: graphql-subscriptions' in-memory PubSub. */
export class LocalPubSub extends EnginePubSub {
  private readonly local: LocalEngine;

  constructor() {
    const emitter = new EventEmitter();
    // One listener per local subscriber of a topic: there is no sensible cap.
    emitter.setMaxListeners(0);
    const local = new LocalEngine({ eventEmitter: emitter });
    super(local);
    this.local = local;
  }

  async publish<T>(topic: Topic<T>, payload: T): Promise<void> {
    // One copy per publish, shared by the listeners: they see what a remote one would (no object of the publisher's).
    await this.local.publish(topic, JSON.parse(JSON.stringify(payload)) as T);
  }
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
  protected trigger(topic: string): string {
    return topic;
  }
}

/**
 * Many instances: graphql-redis-subscriptions' RedisPubSub over the app's
 * publisher and subscriber connections (see `src/redis.ts`). Topics carry the
 * key prefix, so deployments sharing a Redis do not hear each other. (The
 * engine's `triggerTransform` applies to subscribe only, not to publish, so
 * the prefix is added here for both.)
 */
export class RedisPubSub extends EnginePubSub {
  private readonly redis: RedisEngine;
  private readonly offs: (() => void)[] = [];
  /**
   * Topics whose last listener closed while the subscriber was disconnected:
   * the engine's UNSUBSCRIBE failed, and ioredis subscribes them again when it
   * reconnects. They are unsubscribed once it has.
   */
  private readonly orphans = new Set<string>();

  constructor(
    private readonly connections: Pick<RedisConnections, 'publisher' | 'subscriber'>,
    private readonly prefix: string,
    log: Log,
  ) {
    const redis = new RedisEngine({ publisher: connections.publisher, subscriber: connections.subscriber });
    super(redis);
    this.redis = redis;
    const { subscriber } = connections;
    let interrupted = false;
    const onClose = () => {
      if (interrupted) return;
      interrupted = true;
      this.notify('onInterrupted');
    };
    const onReady = () => {
      if (!interrupted || subscriber.status !== 'ready') return;
      // ioredis has just resent SUBSCRIBE for every topic; an answer to a
      // later PING on the same connection means Redis has taken them all.
      subscriber.ping().then(
        () => {
          if (!interrupted || subscriber.status !== 'ready') return;
          interrupted = false;
          this.unsubscribeOrphans();
          this.notify('onResubscribed');
        },
        (error: unknown) => {
          log('warn', 'pub/sub: no answer after resubscribing; asking again', error);
          setTimeout(onReady, 500).unref();
        },
      );
    };
    subscriber.on('close', onClose);
    subscriber.on('ready', onReady);
    this.offs.push(() => subscriber.off('close', onClose), () => subscriber.off('ready', onReady));
  }

  protected trigger(topic: string): string {
    return `${this.prefix}${topic}`;
  }

  protected override released(topic: string): void {
    if (this.connections.subscriber.status !== 'ready') this.orphans.add(topic);
  }

  private unsubscribeOrphans(): void {
    for (const topic of this.orphans) {
      this.orphans.delete(topic);
      // Failures are reported by the subscriber connection itself (src/redis.ts).
      if (this.listenerCount(topic) === 0) void this.connections.subscriber.unsubscribe(this.trigger(topic));
    }
  }

  async publish<T>(topic: Topic<T>, payload: T): Promise<void> {
    await this.redis.publish(this.trigger(topic), payload);
  }

  async ping(): Promise<void> {
    await Promise.all([this.connections.publisher.ping(), this.connections.subscriber.ping()]);
  }

  /** Stops listening to the connections; they belong to the app and are closed with it. */
  async close(): Promise<void> {
    for (const off of this.offs.splice(0)) off();
  }
}
