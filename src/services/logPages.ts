import type { ChannelEventPayload } from '../pubsub.ts';
import { perRuntime, type Runtime } from '../runtime.ts';
import { readAhead, REPLAY_PAGE, toPayload } from './eventLog.ts';

/*
 * Pages of a channel's event log, read once per instance for all the streams
 * that need the same page at about the same time. When a publish is lost or
 * a burst overflows subscribers' buffers, every subscriber of the channel on
 * this instance needs the same events from the same place: one read (and one
 * read-ahead of the rows they show) serves them all, and because they then
 * hold the same payload objects, they share one execution per event too
 * (src/server/sharedExecution.ts). Read separately, a thousand subscribers
 * meant four thousand queries for one gap, and the pool stalled every send.
 */

/** How long a page that was read stays available to streams that need it. */
const KEEP_MS = 2_000;

interface Page {
  /** The mark at which the read was issued: it sees every commit made before any earlier mark. */
  issuedAt: number;
  payloads: Promise<ChannelEventPayload[]>;
}

/** What a stream needs from the log (see {@link LogPages.read}). */
export interface LogNeed {
  /** {@link LogPages.mark} when the need arose. */
  mark: number;
  /** The last event it needs, when it knows it (the one before an event that arrived early, or where it started). */
  upTo?: number;
}

export class LogPages {
  private clock = 0;
  private readonly pages = new Map<string, Page>();

  constructor(private readonly rt: Runtime) {}

  /**
   * Taken when a stream finds it must read the log: a page issued after this
   * mark shows every event committed before it, which is what that stream
   * needs (what commits later reaches it live).
   */
  mark(): number {
    return this.clock;
  }

  /**
   * Up to {@link REPLAY_PAGE} events of the channel from `fromSeq` on, in
   * order, their rows read ahead: from a read issued after `need.mark`, or
   * from any earlier read that already reached `need.upTo` (or filled a
   * page), the one in flight or just done if there is one, else a new read.
   * Callers must not change the payloads: they are shared.
   */
  async read(channelId: string, fromSeq: number, need: LogNeed): Promise<ChannelEventPayload[]> {
    const key = `${channelId}:${fromSeq}`;
    let known = this.pages.get(key);
    while (known) {
      if (known.issuedAt > need.mark) return known.payloads;
      if (need.upTo === undefined) break;
      const payloads = await known.payloads.catch(() => null);
      if (payloads && (payloads.length === REPLAY_PAGE || (payloads.at(-1)?.seq ?? -1) >= need.upTo)) return payloads;
      // Too old for this stream; a newer read may have started meanwhile.
      const latest = this.pages.get(key);
      known = latest === known ? undefined : latest;
    }
    const page: Page = { issuedAt: ++this.clock, payloads: this.fetch(channelId, fromSeq) };
    this.pages.set(key, page);
    const forget = () => {
      if (this.pages.get(key) === page) this.pages.delete(key);
    };
    page.payloads.then(() => setTimeout(forget, KEEP_MS).unref(), forget);
    return page.payloads;
  }

  private async fetch(channelId: string, fromSeq: number): Promise<ChannelEventPayload[]> {
    this.rt.metrics.logPageReads.inc();
    const rows = await this.rt.prisma.channelEvent.findMany({
      where: { channelId, seq: { gte: fromSeq } },
      orderBy: { seq: 'asc' },
      take: REPLAY_PAGE,
    });
    const payloads = rows.map(toPayload);
    await readAhead(this.rt, payloads);
    return payloads;
  }
}

/** The app's shared log reader (one per runtime). */
export const logPagesOf = perRuntime((rt) => new LogPages(rt));
