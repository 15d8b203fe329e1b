import http from 'node:http';
import WebSocket from 'ws';

export interface GqlResponse<T> {
  data?: T;
  errors?: { message: string; extensions?: { code?: string } }[];
}

export interface PostResult<T> {
  body: GqlResponse<T>;
  serverTiming?: string;
}

/** POST a GraphQL request over a keep-alive agent; rejects on HTTP or GraphQL errors. */
export function gqlPost<T>(
  url: string,
  query: string,
  variables: Record<string, unknown>,
  options: { token?: string; agent?: http.Agent } = {},
): Promise<PostResult<T>> {
  const payload = JSON.stringify({ query, variables });
  return new Promise((resolve, reject) => {
    const req = http.request(
      url,
      {
        method: 'POST',
        agent: options.agent,
        headers: {
          'content-type': 'application/json',
          accept: 'application/graphql-response+json, application/json',
          'content-length': Buffer.byteLength(payload),
          ...(options.token ? { authorization: `Bearer ${options.token}` } : {}),
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (chunk: Buffer) => chunks.push(chunk));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: GqlResponse<T>;
          try {
            body = JSON.parse(text) as GqlResponse<T>;
          } catch {
            return reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          }
          if (body.errors?.length) return reject(new Error(`GraphQL: ${body.errors.map((e) => e.message).join('; ')}`));
          if (res.statusCode !== 200) return reject(new Error(`HTTP ${res.statusCode}: ${text.slice(0, 200)}`));
          const timing = res.headers['server-timing'];
          resolve({ body, serverTiming: Array.isArray(timing) ? timing.join(', ') : timing });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export interface Subscriber {
  ws: WebSocket;
  /** Resolves once the server acknowledged the connection and the subscribe frame was sent. */
  ready: Promise<void>;
  close(): void;
}

export interface SubscribeOptions {
  url: string;
  query: string;
  variables: Record<string, unknown>;
  connectionParams?: Record<string, unknown>;
  localAddress?: string;
  /** Raw text of every `next` frame; callers pick what they need without a full JSON parse. */
  onNext: (frame: string) => void;
  onClose?: (code: number, reason: string) => void;
  onError?: (error: Error) => void;
  handshakeTimeoutMs?: number;
}

/**
 * A minimal graphql-transport-ws client: connection_init, wait for the ack,
 * subscribe with id "1". Lighter than the graphql-ws client, so one load
 * generator process can hold thousands of subscribers; it speaks the same
 * protocol to every target.
 */
export function subscribe(options: SubscribeOptions): Subscriber {
  const ws = new WebSocket(options.url, 'graphql-transport-ws', {
    perMessageDeflate: false,
    handshakeTimeout: options.handshakeTimeoutMs ?? 30_000,
    ...(options.localAddress ? { localAddress: options.localAddress } : {}),
  });
  const ready = new Promise<void>((resolve, reject) => {
    let acked = false;
    ws.on('open', () => {
      ws.send(JSON.stringify({ type: 'connection_init', payload: options.connectionParams ?? {} }));
    });
    ws.on('message', (data: WebSocket.RawData) => {
      const text = data.toString();
      if (!acked) {
        if (text.includes('"connection_ack"')) {
          acked = true;
          ws.send(JSON.stringify({ id: '1', type: 'subscribe', payload: { query: options.query, variables: options.variables } }));
          resolve();
        }
        return;
      }
      if (text.includes('"type":"next"')) options.onNext(text);
      else if (text.includes('"type":"ping"')) ws.send('{"type":"pong"}');
      else if (text.includes('"type":"error"')) options.onError?.(new Error(`subscription error: ${text.slice(0, 300)}`));
    });
    ws.on('error', (error) => {
      if (!acked) reject(error);
      options.onError?.(error);
    });
    ws.on('close', (code, reason) => {
      if (!acked) reject(new Error(`closed ${code} ${reason.toString()} before ack`));
      options.onClose?.(code, reason.toString());
    });
  });
  ready.catch(() => undefined);
  return { ws, ready, close: () => ws.terminate() };
}

/** The send mutation and subscription each kind of target understands. */
export type TargetKind = 'parley' | 'peer';

export interface Target {
  name: string;
  kind: TargetKind;
  httpUrl: string;
  wsUrl: string;
}

export function sendRequest(kind: TargetKind, channelId: string, text: string): { query: string; variables: Record<string, unknown> } {
  return kind === 'parley'
    ? {
        query: 'mutation Send($input: SendMessageInput!) { sendMessage(input: $input) { id } }',
        variables: { input: { channelId, text } },
      }
    : {
        query: 'mutation Send($channelId: ID!, $text: String!) { send(channelId: $channelId, text: $text) { id } }',
        variables: { channelId, text },
      };
}

export const MESSAGE_ADDED = 'subscription Added($channelId: ID!) { messageAdded(channelId: $channelId) { id text } }';

export function connectionParams(kind: TargetKind, token: string | undefined): Record<string, unknown> {
  return kind === 'parley' && token ? { authorization: `Bearer ${token}` } : {};
}
