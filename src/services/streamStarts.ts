import { notFound } from '../errors.ts';
import { UUID } from '../security/input.ts';
import { perRuntime, type Runtime } from '../runtime.ts';
import { readableAccess, type ChannelAccess, type ChannelAccessRow } from './access.ts';
import type { Viewer } from './auth.ts';
import { REPLAY_PAGE } from './eventLog.ts';

/*
 * Where channel streams start, checked in batches. A stream that has started
 * listening reads its channel once: may the viewer read it (the rule of
 * requireReadableChannel), where does the channel stand (`lastSeq`), and, on
 * a new connection, which recent event is the first recorded since a time.
 * Streams that get there in the same turn of the event loop (a reconnect
 * storm, a ramp of new sockets, every subscriber rechecking a channel that
 * turned private) share one statement: each read still starts after its own
 * stream listens, which is all the stream needs.
 */

/** The most streams one statement answers. */
const MAX_BATCH = 500;

export interface StreamStart {
  access: ChannelAccess;
  /** The first of the channel's last {@link REPLAY_PAGE} events recorded at or after `since`, if asked and there is one. */
  recent: number | null;
}

interface Request {
  userId: string;
  channelId: string;
  /** Epoch milliseconds, or -1 when not asked. */
  since: number;
  resolve(start: StreamStart): void;
  reject(error: unknown): void;
}

type Row = ChannelAccessRow & { i: number; recent: number | bigint | null };

class StreamStarts {
  private queue: Request[] = [];
  private scheduled = false;

  constructor(private readonly rt: Runtime) {}

  check(viewer: Viewer, channelId: string, since?: Date): Promise<StreamStart> {
    // One malformed id must not fail the statement of every stream batched with it.
    if (!UUID.test(channelId)) return Promise.reject(notFound('Channel'));
    return new Promise((resolve, reject) => {
      this.queue.push({ userId: viewer.userId, channelId, since: since ? since.getTime() : -1, resolve, reject });
      if (this.scheduled) return;
      this.scheduled = true;
      setImmediate(() => this.flush());
    });
  }

  private flush(): void {
    this.scheduled = false;
    while (this.queue.length) void this.run(this.queue.splice(0, MAX_BATCH));
  }

  private async run(batch: Request[]): Promise<void> {
    let rows: Row[];
    try {
      rows = await this.rt.prisma.$queryRaw<Row[]>`
        SELECT r.i, c.*, EXISTS (
          SELECT 1 FROM "Membership" m WHERE m."channelId" = c.id AND m."userId" = r.user_id
        ) AS "isMember", w.role::text AS role,
        CASE WHEN r.since >= 0 THEN (
          SELECT e.seq FROM "ChannelEvent" e
          WHERE e."channelId" = c.id AND e.seq > c."lastSeq" - ${REPLAY_PAGE} AND e."createdAt" >= to_timestamp(r.since / 1000.0)
          ORDER BY e.seq LIMIT 1
        ) END AS recent
        FROM unnest(
          ${batch.map((_, i) => i)}::int[], ${batch.map((r) => r.userId)}::uuid[],
          ${batch.map((r) => r.channelId)}::uuid[], ${batch.map((r) => r.since)}::float8[]
        ) AS r(i, user_id, channel_id, since)
        JOIN "Channel" c ON c.id = r.channel_id
        JOIN "WorkspaceMember" w ON w."workspaceId" = c."workspaceId" AND w."userId" = r.user_id`;
    } catch (error) {
      for (const request of batch) request.reject(error);
      return;
    }
    const byIndex = new Map<number, Row>();
    for (const row of rows) byIndex.set(Number(row.i), row);
    batch.forEach((request, i) => {
      const found = byIndex.get(i);
      try {
        if (!found) return request.resolve({ access: readableAccess(undefined), recent: null });
        const { i: _index, recent, ...row } = found;
        request.resolve({ access: readableAccess(row), recent: recent == null ? null : Number(recent) });
      } catch (error) {
        request.reject(error);
      }
    });
  }
}

const startsOf = perRuntime((rt) => new StreamStarts(rt));

/**
 * Checks that the viewer may read the channel and reads where it stands (and,
 * with `since`, the first recent event recorded since then), batched with
 * the other streams starting or rechecking in the same turn: NOT_FOUND as
 * requireReadableChannel refuses.
 */
export function checkStreamStart(rt: Runtime, viewer: Viewer, channelId: string, since?: Date): Promise<StreamStart> {
  return startsOf(rt).check(viewer, channelId, since);
}
