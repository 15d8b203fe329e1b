import type { PresencePayload } from '../pubsub.ts';

export type PresenceStatus = PresencePayload['status'];

/** A user's change of status, with the time `lastActiveAt` takes. */
export interface Transition {
  userId: string;
  status: PresenceStatus;
  at: Date;
}

/**
 * Where it is decided whether a user is online anywhere. This instance tells
 * the store which users it *holds* (has a socket of, or is in their grace
 * period); a user is ONLINE while any live instance holds them.
 */
export interface PresenceStore {
  /** This instance holds the user. `cameOnline`: no instance held them before; `resync`: this instance had been given up for dead. */
  hold(userId: string): Promise<{ cameOnline: boolean; resync: boolean }>;
  /** This instance no longer holds the user; true when no instance does any more. */
  drop(userId: string): Promise<boolean>;
  isOnline(userIds: readonly string[]): Promise<boolean[]>;
  /** How often {@link tick} must run; null when it need not. */
  readonly tickMs: number | null;
  /** Proves this instance alive and gives up instances that are not; returns who went offline with them. */
  tick(): Promise<{ resync: boolean; offline: Transition[] }>;
  /** Drops everything this instance holds (graceful stop); returns the users now offline. */
  release(): Promise<string[]>;
  close(): Promise<void>;
}

/** One process: its own memory is the whole truth. */
export class MemoryStore implements PresenceStore {
  private readonly held = new Set<string>();
  readonly tickMs = null;

  async hold(userId: string) {
    const cameOnline = !this.held.has(userId);
    this.held.add(userId);
    return { cameOnline, resync: false };
  }
  async drop(userId: string) {
    return this.held.delete(userId);
  }
  async isOnline(userIds: readonly string[]) {
    return userIds.map((id) => this.held.has(id));
  }
  async tick() {
    return { resync: false, offline: [] };
  }
  async release() {
    const users = [...this.held];
    this.held.clear();
    return users;
  }
  async close() {}
}
