import { print } from 'graphql';
import type { Client as WsClient } from 'graphql-ws';
import { ChannelEventsDocument, type ChannelEventsSubscription } from '../generated/graphql.js';
import { fromGraphQLErrors, fromSocketFailure, type ParleyError } from './errors.js';

export type ChannelEvent = ChannelEventsSubscription['channelEvents'];

export interface StreamChannelOptions {
  /** Start after this event cursor or message edge cursor; without it, live from now. */
  after?: string | null;
  /** Called once per event, in `seq` order, never twice for one event. */
  onEvent(event: ChannelEvent): void;
  /** Called once when the stream ends for good (FORBIDDEN after leaving, a revoked session, the network gone for all retries). */
  onError?(error: ParleyError): void;
}

export interface ChannelStream {
  /** Ends the stream; no callback is called afterwards. */
  stop(): void;
  /** The cursor of the last event delivered (or the `after` it started from): save it to resume later. */
  readonly cursor: string | undefined;
  /** The `seq` of the last event delivered. */
  readonly seq: number | undefined;
}

interface Deps {
  ws: WsClient;
  refresh(): Promise<boolean>;
}

const query = print(ChannelEventsDocument);

export function streamChannel(deps: Deps, channelId: string, options: StreamChannelOptions): ChannelStream {
  let cursor = options.after ?? undefined;
  let lastSeq: number | undefined;
  let stopped = false;
  let refreshedSinceLastEvent = false;
  let unsubscribe = () => {};

  const stop = () => {
    stopped = true;
    unsubscribe();
  };

  const fail = async (error: ParleyError) => {
    if (stopped) return;
    if (error.code === 'UNAUTHENTICATED' && !refreshedSinceLastEvent) {
      refreshedSinceLastEvent = true;
      unsubscribe();
      if ((await deps.refresh()) && !stopped) return subscribe();
    }
    stop();
    options.onError?.(error);
  };

  function subscribe(): void {
    // graphql-ws sends this very object again after every reconnect (its
    // retryAttempts); keeping `after` at the last delivered cursor makes each
    // resend resume exactly there instead of going live from "now".
    const payload = { query, variables: { channelId, after: cursor ?? null } };
    let ended = false;
    unsubscribe = deps.ws.subscribe<ChannelEventsSubscription>(payload, {
      next: (result) => {
        if (stopped || ended) return;
        if (result.errors?.length) {
          ended = true;
          void fail(fromGraphQLErrors(result.errors));
          return;
        }
        const event = result.data?.channelEvents;
        // A replay after a reconnect may overlap what was delivered already.
        if (!event || (lastSeq !== undefined && event.seq <= lastSeq)) return;
        lastSeq = event.seq;
        cursor = event.cursor;
        payload.variables.after = cursor;
        refreshedSinceLastEvent = false;
        options.onEvent(event);
      },
      error: (failure) => {
        if (ended) return;
        ended = true;
        void fail(fromSocketFailure(failure));
      },
      // channelEvents never completes on its own; a server that shuts down
      // may complete it, so this is resumed like a dropped connection.
      complete: () => {
        if (ended || stopped) return;
        ended = true;
        subscribe();
      },
    });
  }

  subscribe();
  return {
    stop,
    get cursor() {
      return cursor;
    },
    get seq() {
      return lastSeq;
    },
  };
}
