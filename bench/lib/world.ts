import pg from 'pg';
import { gqlPost } from './gql.ts';

/**
 * The accounts, workspace and channels the scenarios use, created through
 * Parley's public API, plus the rows seeded straight into its tables for the
 * history and resume scenarios.
 */
export interface World {
  /** Tokens of a handful of users; many sockets share them. */
  tokens: string[];
  /** User id (uuid) of the author of every peer's messages and of the seeds. */
  authorId: string;
  workspaceId: string;
  /** Channel name → { global id (Parley's API), uuid (tables, peers) }. */
  channels: Map<string, { gid: string; uuid: string }>;
}

export const BENCH_SCHEMA = 'parley_bench';

export async function resetSchema(pgBase: string): Promise<void> {
  const client = new pg.Client({ connectionString: pgBase });
  await client.connect();
  try {
    await client.query(`DROP SCHEMA IF EXISTS ${BENCH_SCHEMA} CASCADE`);
    await client.query(`CREATE SCHEMA ${BENCH_SCHEMA}`);
  } finally {
    await client.end();
  }
}

export function benchClient(pgBase: string): pg.Client {
  return new pg.Client({ connectionString: pgBase, options: `-c search_path="${BENCH_SCHEMA}"` });
}

const USERS = 4;

/** Signs up users, creates one workspace and every named channel; the other users join each channel. */
export async function buildWorld(httpUrl: string, pgBase: string, channelNames: string[]): Promise<World> {
  const tokens: string[] = [];
  const userIds: string[] = [];
  for (let i = 0; i < USERS; i++) {
    const { body } = await gqlPost<{ signUp: { token: string; user: { id: string } } }>(
      httpUrl,
      'mutation ($input: SignUpInput!) { signUp(input: $input) { token user { id } } }',
      { input: { email: `bench${i}@example.com`, password: 'bench-password', name: `Bench ${i}`, handle: `bench${i}` } },
    );
    tokens.push(body.data!.signUp.token);
    userIds.push(body.data!.signUp.user.id);
  }
  const owner = tokens[0]!;
  const ws = await gqlPost<{ createWorkspace: { id: string } }>(
    httpUrl,
    'mutation ($input: CreateWorkspaceInput!) { createWorkspace(input: $input) { id } }',
    { input: { name: 'Bench', slug: 'bench' } },
    { token: owner },
  );
  const workspaceId = ws.body.data!.createWorkspace.id;
  const invite = await gqlPost<{ createWorkspaceInvite: { code: string } }>(
    httpUrl,
    'mutation ($w: ID!) { createWorkspaceInvite(workspaceId: $w) { code } }',
    { w: workspaceId },
    { token: owner },
  );
  for (const token of tokens.slice(1)) {
    await gqlPost(httpUrl, 'mutation ($c: String!) { joinWorkspace(code: $c) { id } }', { c: invite.body.data!.createWorkspaceInvite.code }, { token });
  }
  const gids = new Map<string, string>();
  const queue = [...channelNames];
  // A few at a time: setup is not what is measured.
  const worker = async () => {
    for (let name = queue.shift(); name !== undefined; name = queue.shift()) {
      const { body } = await gqlPost<{ createChannel: { id: string } }>(
        httpUrl,
        'mutation ($input: CreateChannelInput!) { createChannel(input: $input) { id } }',
        { input: { workspaceId, name, private: false, memberIds: userIds.slice(1) } },
        { token: owner },
      );
      gids.set(name, body.data!.createChannel.id);
    }
  };
  await Promise.all(Array.from({ length: 6 }, worker));
  const client = benchClient(pgBase);
  await client.connect();
  try {
    const author = await client.query<{ id: string }>(`SELECT id FROM "User" WHERE handle = 'bench0'`);
    const rows = await client.query<{ id: string; name: string }>(
      `SELECT c.id, c.name FROM "Channel" c JOIN "Workspace" w ON w.id = c."workspaceId" WHERE w.slug = 'bench'`,
    );
    const channels = new Map<string, { gid: string; uuid: string }>();
    for (const row of rows.rows) {
      const gid = gids.get(row.name);
      if (gid) channels.set(row.name, { gid, uuid: row.id });
    }
    return { tokens, authorId: author.rows[0]!.id, workspaceId, channels };
  } finally {
    await client.end();
  }
}

/**
 * Appends `count` top-level messages to a channel straight in SQL, keeping
 * Channel.lastSeq and messageCount consistent; with `events`, also their
 * MESSAGE_ADDED channel events (what channelEvents(after:) replays). Ids are
 * time-ordered like Parley's uuid v7, so the primary key grows at its end.
 * Returns the channel's lastSeq before the seed.
 */
export async function seedMessages(
  client: pg.Client,
  channelUuid: string,
  authorId: string,
  count: number,
  options: { events: boolean; batch?: number },
): Promise<number> {
  const { rows } = await client.query<{ lastSeq: number; messageCount: number }>(
    `SELECT "lastSeq", "messageCount" FROM "Channel" WHERE id = $1`,
    [channelUuid],
  );
  const base = rows[0]!;
  const batch = options.batch ?? 1_000_000;
  const t0 = Date.now() - count - 1000;
  for (let from = 1; from <= count; from += batch) {
    const to = Math.min(count, from + batch - 1);
    const insert = `INSERT INTO "Message" (id, "channelId", seq, number, "authorId", text, "createdAt")
      SELECT (lpad(to_hex($5::bigint + g), 12, '0') || '7' || substr(md5($1::text || g::text), 1, 3) || '8' || substr(md5($1::text || g::text), 4, 15))::uuid,
             $1::uuid, $2::int + g, $3::int + g, $4::uuid, 'seeded message ' || g || ' of a long and busy channel', to_timestamp(($5::bigint + g) / 1000.0)
      FROM generate_series($6::int, $7::int) g RETURNING id, seq`;
    const params = [channelUuid, base.lastSeq, base.messageCount, authorId, t0, from, to];
    if (options.events) {
      await client.query(
        `WITH m AS (${insert})
         INSERT INTO "ChannelEvent" ("channelId", seq, type, "messageId", "userId", "createdAt")
         SELECT $1::uuid, m.seq, 'MESSAGE_ADDED', m.id, $4::uuid, now() FROM m`,
        params,
      );
    } else {
      await client.query(`WITH m AS (${insert}) SELECT count(*) FROM m`, params);
    }
  }
  await client.query(`UPDATE "Channel" SET "lastSeq" = "lastSeq" + $2, "messageCount" = "messageCount" + $2 WHERE id = $1`, [
    channelUuid,
    count,
  ]);
  return base.lastSeq;
}
