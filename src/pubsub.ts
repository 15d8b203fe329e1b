import { Redis } from 'ioredis';
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
  | { type: 'THREAD_FOLLOWED'; rootId: string; channelId: string };

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

type Listener = (payload: unknown) => void;

/** Payloads a subscriber may have waiting before it is cut off as too slow. */
export const MAX_PENDING_EVENTS = 10_000;

/** A registered listener: `ready` once the transport delivers the topic here. */
export interface Listening {
  ready: Promise<void>;
  close(): Promise<void>;
}

export interface PubSub {
  publish<T>(topic: Topic<T>, payload: T): Promise<void>;
  /** Calls `listener` with each payload of the topic, from now until `close()`. */
  listen<T>(topic: Topic<T>, listener: (payload: T) => void): Listening;
  /** How many local listeners a topic has (for tests and metrics). */
  listenerCount(topic: string): number;
  ping(): Promise<void>;
  close(): Promise<void>;
}

export class SlowSubscriberError extends Error {
  constructor() {
    super(`More than ${MAX_PENDING_EVENTS} events were waiting for this subscriber; resubscribe with a cursor to catch up.`);
  }
}

/**
 * Local listeners per topic. The transport (Redis or none) sees one
 * subscription per topic however many local subscribers share it, and each
 * payload is parsed once per instance.
 */
abstract class TopicFanout implements PubSub {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly subscribed = new Map<string, Promise<void>>();

  abstract publish<T>(topic: Topic<T>, payload: T): Promise<void>;
  abstract ping(): Promise<void>;
  abstract close(): Promise<void>;
  protected abstract transportSubscribe(topic: string): Promise<void>;
  protected abstract transportUnsubscribe(topic: string): Promise<void>;

  protected deliver(topic: string, payload: unknown): void {
    for (const listener of this.listeners.get(topic) ?? []) listener(payload);
  }

  listenerCount(topic: string): number {
    return this.listeners.get(topic)?.size ?? 0;
  }

  listen<T>(topic: Topic<T>, listener: (payload: T) => void): Listening {
    const own: Listener = (payload) => listener(payload as T);
    let set = this.listeners.get(topic);
    if (!set) this.listeners.set(topic, (set = new Set()));
    set.add(own);
    let ready = this.subscribed.get(topic);
    if (!ready) {
      ready = this.transportSubscribe(topic);
      this.subscribed.set(topic, ready);
      // Awaited by whoever needs it; an unawaited failure must not crash the process.
      ready.catch(() => this.subscribed.delete(topic));
    }
    let closed = false;
    return {
      ready,
      close: async () => {
        if (closed) return;
        closed = true;
        set.delete(own);
        if (set.size === 0 && this.listeners.get(topic) === set) {
          this.listeners.delete(topic);
          this.subscribed.delete(topic);
          await this.transportUnsubscribe(topic).catch(() => {});
        }
      },
    };
  }
}

/** One process: events go straight to local listeners. */
export class LocalPubSub extends TopicFanout {
  async publish<T>(topic: Topic<T>, payload: T): Promise<void> {
    // A copy, so that a subscriber sees what a remote one would (no shared objects).
    this.deliver(topic, JSON.parse(JSON.stringify(payload)));
  }
  async ping(): Promise<void> {}
  async close(): Promise<void> {}
  protected async transportSubscribe(): Promise<void> {}
  protected async transportUnsubscribe(): Promise<void> {}
}

/** Many instances: every instance sees every event through Redis pub/sub. */
export class RedisPubSub extends TopicFanout {
  private readonly publisher: Redis;
  private readonly subscriber: Redis;

  constructor(url: string) {
    super();
    const options = { maxRetriesPerRequest: 3, lazyConnect: false };
    this.publisher = new Redis(url, options);
    this.subscriber = new Redis(url, options);
    this.subscriber.on('message', (topic: string, message: string) => {
      this.deliver(topic, JSON.parse(message));
    });
    // ioredis reconnects by itself; an error event must not crash the process.
    this.publisher.on('error', () => {});
    this.subscriber.on('error', () => {});
  }

  async publish<T>(topic: Topic<T>, payload: T): Promise<void> {
    await this.publisher.publish(topic, JSON.stringify(payload));
  }

  async ping(): Promise<void> {
    await Promise.all([this.publisher.ping(), this.subscriber.ping()]);
  }

  async close(): Promise<void> {
    this.publisher.disconnect();
    this.subscriber.disconnect();
  }

  protected async transportSubscribe(topic: string): Promise<void> {
    await this.subscriber.subscribe(topic);
  }

  protected async transportUnsubscribe(topic: string): Promise<void> {
    await this.subscriber.unsubscribe(topic);
  }
}

/** The pub/sub of this process. Only services publish. */
export let pubsub: PubSub;

export async function openPubSub(redisUrl: string | undefined): Promise<PubSub> {
  const instance = redisUrl ? new RedisPubSub(redisUrl) : new LocalPubSub();
  await instance.ping();
  pubsub = instance;
  return instance;
}
