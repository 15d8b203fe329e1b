/**
 * Peer (d), the floor: what the work costs with no framework. A send is one
 * SQL statement through `pg` (the channel's next sequence number, the message
 * and its channel event, one round trip, acknowledged after the commit), then
 * one Redis PUBLISH. Each Redis message is serialised into one
 * graphql-transport-ws `next` frame per subscription id and written to every
 * socket as is. It parses no GraphQL: the request's variables name the channel
 * and text, and the handshake is the minimum of the protocol.
 */
import { createServer, type IncomingMessage } from 'node:http';
import { Redis } from 'ioredis';
import { type WebSocket, WebSocketServer } from 'ws';
import { exitOnSignal, healthz, peerEnv, peerPool } from './common.ts';

const env = peerEnv();
const pool = peerPool(env);
const publisher = new Redis(env.redisUrl);
const subscriber = new Redis(env.redisUrl);

const SEND_SQL = `
WITH c AS (
  UPDATE "Channel" SET "lastSeq" = "lastSeq" + 1, "messageCount" = "messageCount" + 1
  WHERE id = $1 RETURNING "lastSeq", "messageCount"
), m AS (
  INSERT INTO "Message" (id, "channelId", seq, number, "authorId", text)
  SELECT gen_random_uuid(), $1, c."lastSeq", c."messageCount", $2, $3 FROM c RETURNING id, seq
)
INSERT INTO "ChannelEvent" ("channelId", seq, type, "messageId", "userId")
SELECT $1, m.seq, 'MESSAGE_ADDED', m.id, $2 FROM m RETURNING "messageId" AS id`;

/** channel id → subscription id → sockets */
const channels = new Map<string, Map<string, Set<WebSocket>>>();

subscriber.on('message', (topic: string, payload: string) => {
  const byId = channels.get(topic.slice(env.topicPrefix.length));
  if (!byId) return;
  for (const [id, sockets] of byId) {
    const frame = `{"id":${JSON.stringify(id)},"type":"next","payload":{"data":{"messageAdded":${payload}}}}`;
    for (const ws of sockets) ws.send(frame);
  }
});

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (chunk: Buffer) => chunks.push(chunk));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

const server = createServer((req, res) => {
  if (healthz(req, res)) return;
  readBody(req)
    .then(async (body) => {
      const { variables } = JSON.parse(body) as { variables: { channelId: string; text: string } };
      const result = await pool.query<{ id: string }>(SEND_SQL, [variables.channelId, env.authorId, variables.text]);
      const id = result.rows[0]?.id;
      if (!id) throw new Error('no such channel');
      await publisher.publish(env.topicPrefix + variables.channelId, JSON.stringify({ id, text: variables.text }));
      res.writeHead(200, { 'content-type': 'application/json' }).end(JSON.stringify({ data: { send: { id } } }));
    })
    .catch((error: unknown) => {
      res.writeHead(500, { 'content-type': 'application/json' }).end(JSON.stringify({ errors: [{ message: String(error) }] }));
    });
});

const wss = new WebSocketServer({ server, path: '/graphql', perMessageDeflate: false });
wss.on('connection', (ws) => {
  const mine: { channelId: string; id: string }[] = [];
  ws.on('message', (data) => {
    const message = JSON.parse(data.toString()) as {
      type: string;
      id?: string;
      payload?: { variables?: { channelId?: string } };
    };
    if (message.type === 'connection_init') ws.send('{"type":"connection_ack"}');
    else if (message.type === 'ping') ws.send('{"type":"pong"}');
    else if (message.type === 'subscribe' && message.id && message.payload?.variables?.channelId) {
      const channelId = message.payload.variables.channelId;
      let byId = channels.get(channelId);
      if (!byId) {
        byId = new Map();
        channels.set(channelId, byId);
        void subscriber.subscribe(env.topicPrefix + channelId);
      }
      let sockets = byId.get(message.id);
      if (!sockets) byId.set(message.id, (sockets = new Set()));
      sockets.add(ws);
      mine.push({ channelId, id: message.id });
    }
  });
  ws.on('close', () => {
    for (const { channelId, id } of mine) channels.get(channelId)?.get(id)?.delete(ws);
  });
});

server.listen(env.port, '127.0.0.1');
exitOnSignal(async () => {
  wss.close();
  server.close();
  subscriber.disconnect();
  publisher.disconnect();
  await pool.end();
});
