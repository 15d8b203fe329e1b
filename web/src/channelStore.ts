import { DeleteMessageDocument, EditMessageDocument, AddReactionDocument, RemoveReactionDocument, type MessageFieldsFragment } from '../../client/generated/graphql.ts';
import { ParleyError, type ChannelEvent, type ChannelStream, type ParleyClient } from '../../client/sdk/index.ts';
import { WebHistoryDocument, WebMessageDetailsDocument, WebRepliesDocument, type WebMessageFragment } from './generated/graphql.ts';
import { newClientMessageId } from './session.ts';

export type Message = WebMessageFragment;

/** A message typed here that is not in the channel's history yet. */
export interface PendingMessage {
  clientMessageId: string;
  text: string;
  threadRootId: string | null;
  /** sending: not acknowledged yet (retrying through network errors); sent: saved, waiting for its event; failed: refused. */
  state: 'sending' | 'sent' | 'failed';
  error?: string;
}

const PAGE = 30;

/**
 * One open channel: its history (top-level messages in channel order), the
 * open thread's replies, and the messages being sent. History comes from
 * `Channel.messages`; everything after it from the SDK's `streamChannel`,
 * which starts after the newest message's cursor and resumes after a dropped
 * connection exactly where it stopped, so nothing is missed or seen twice.
 * Every change is applied by message id, so an event is harmless if the
 * history already had it.
 */
export class ChannelStore {
  messages: Message[] = [];
  pending: PendingMessage[] = [];
  hasOlder = false;
  loaded = false;
  loadingOlder = false;
  error: string | null = null;
  thread: { root: Message; replies: Message[]; loaded: boolean } | null = null;
  /** The author of the last message that arrived, for the typing indicator. */
  lastAuthorId: string | null = null;
  /** Called when someone joins the channel (the sidebar's people and conversations may have changed). */
  onMemberJoined: (() => void) | null = null;

  private olderCursor: string | null = null;
  private stream: ChannelStream | undefined;
  private queue: Promise<void> = Promise.resolve();
  private closed = false;
  /** Messages this page sent, as the server answered: their events need no extra query. */
  private sent = new Map<string, Message>();
  private listeners = new Set<() => void>();

  constructor(
    private readonly client: ParleyClient,
    readonly channelId: string,
    private readonly me: { id: string; handle: string; name: string },
  ) {}

  subscribe(listener: () => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private changed(): void {
    if (!this.closed) for (const listener of this.listeners) listener();
  }

  async open(): Promise<void> {
    try {
      const data = await this.client.query(WebHistoryDocument, { id: this.channelId, last: PAGE });
      if (this.closed) return;
      const connection = data.channel?.messages;
      if (!connection) throw new Error('This channel is gone or you may no longer read it.');
      this.messages = connection.edges.map((e) => e.node);
      this.hasOlder = connection.pageInfo.hasPreviousPage;
      this.olderCursor = connection.pageInfo.startCursor ?? null;
      this.loaded = true;
      this.changed();
      // A message edge cursor is a valid `after`: the stream replays whatever came after the newest message we show.
      this.stream = this.client.streamChannel(this.channelId, {
        after: connection.edges.at(-1)?.cursor ?? null,
        onEvent: (event) => {
          this.queue = this.queue.then(() => this.apply(event)).catch((error: unknown) => this.fail(error));
        },
        onError: (error) => this.fail(error),
      });
    } catch (error) {
      this.fail(error);
    }
  }

  close(): void {
    this.closed = true;
    this.stream?.stop();
    this.listeners.clear();
  }

  private fail(error: unknown): void {
    this.error = error instanceof Error ? error.message : String(error);
    this.changed();
  }

  async loadOlder(): Promise<void> {
    if (!this.hasOlder || this.loadingOlder || !this.olderCursor) return;
    this.loadingOlder = true;
    this.changed();
    try {
      const data = await this.client.query(WebHistoryDocument, { id: this.channelId, last: PAGE, before: this.olderCursor });
      const connection = data.channel?.messages;
      if (!connection) return;
      const known = new Set(this.messages.map((m) => m.id));
      this.messages = [...connection.edges.map((e) => e.node).filter((m) => !known.has(m.id)), ...this.messages];
      this.hasOlder = connection.pageInfo.hasPreviousPage;
      this.olderCursor = connection.pageInfo.startCursor ?? null;
    } catch (error) {
      this.fail(error);
    } finally {
      this.loadingOlder = false;
      this.changed();
    }
  }

  /** Applies one event, in stream order (events are queued, so a slow lookup never reorders them). */
  private async apply(event: ChannelEvent): Promise<void> {
    if (event.type === 'MEMBER_JOINED') this.onMemberJoined?.();
    const id = event.message?.id;
    if (!id || this.closed) return;
    switch (event.type) {
      case 'MESSAGE_ADDED': {
        const details = this.sent.get(id) ?? (await this.details(id));
        if (!details || this.closed) return;
        this.lastAuthorId = details.author.id;
        if (details.author.id === this.me.id && details.clientMessageId) {
          this.pending = this.pending.filter((p) => p.clientMessageId !== details.clientMessageId);
        }
        const rootId = details.threadRoot?.id;
        if (rootId) {
          this.update(rootId, (root) => ({ ...root, replyCount: Math.max(root.replyCount, (details as Message & { threadRoot: { replyCount?: number } }).threadRoot.replyCount ?? root.replyCount + 1) }));
          if (this.thread?.root.id === rootId && !this.thread.replies.some((m) => m.id === id)) {
            this.thread.replies = [...this.thread.replies, details];
          }
        } else if (!this.messages.some((m) => m.id === id)) {
          this.messages = [...this.messages, details];
        }
        break;
      }
      case 'MESSAGE_EDITED':
      case 'MESSAGE_DELETED': {
        const { text, editedAt, deletedAt } = event.message!;
        this.update(id, (m) => ({ ...m, text, editedAt, deletedAt }));
        break;
      }
      case 'REACTION_ADDED':
      case 'REACTION_REMOVED': {
        // Counts and "reacted by me" as they are now: correct however many of these events the history already reflected.
        const details = await this.details(id);
        if (details) this.update(id, (m) => ({ ...m, reactions: details.reactions }));
        break;
      }
      default:
        return;
    }
    this.changed();
  }

  /** A message's current state; retried through network errors (the socket just came back, HTTP may lag). */
  private async details(id: string): Promise<Message | null> {
    for (let attempt = 0; ; attempt++) {
      try {
        return (await this.client.query(WebMessageDetailsDocument, { id })).message ?? null;
      } catch (error) {
        if (!(error instanceof ParleyError) || !error.isNetworkError || this.closed) throw error;
        await new Promise((resolve) => setTimeout(resolve, Math.min(5_000, 250 * 2 ** attempt)));
      }
    }
  }

  private update(id: string, change: (message: Message) => Message): void {
    this.messages = this.messages.map((m) => (m.id === id ? change(m) : m));
    if (this.thread) {
      if (this.thread.root.id === id) this.thread.root = change(this.thread.root);
      this.thread.replies = this.thread.replies.map((m) => (m.id === id ? change(m) : m));
    }
  }

  /** Shows the message at once as pending; it becomes a normal message when its event arrives, never a second copy. */
  send(text: string, threadRootId: string | null = null): void {
    const pending: PendingMessage = { clientMessageId: newClientMessageId(), text, threadRootId, state: 'sending' };
    this.pending = [...this.pending, pending];
    this.changed();
    void this.deliver(pending);
  }

  retry(clientMessageId: string): void {
    const pending = this.pending.find((p) => p.clientMessageId === clientMessageId);
    if (!pending) return;
    pending.state = 'sending';
    pending.error = undefined;
    this.changed();
    void this.deliver(pending);
  }

  discard(clientMessageId: string): void {
    this.pending = this.pending.filter((p) => p.clientMessageId !== clientMessageId);
    this.changed();
  }

  private async deliver(pending: PendingMessage): Promise<void> {
    try {
      // The SDK resends with the same clientMessageId after network errors; the server answers a repeat with the first message.
      const saved = await this.client.sendMessage({
        channelId: this.channelId,
        text: pending.text,
        clientMessageId: pending.clientMessageId,
        ...(pending.threadRootId ? { threadRootId: pending.threadRootId } : {}),
      });
      this.sent.set(saved.id, fromSent(saved, this.me));
      const arrived = [...this.messages, ...(this.thread?.replies ?? [])].some((m) => m.id === saved.id);
      if (arrived) this.pending = this.pending.filter((p) => p !== pending);
      else pending.state = 'sent';
    } catch (error) {
      pending.state = 'failed';
      pending.error = error instanceof Error ? error.message : String(error);
    }
    this.changed();
  }

  async edit(messageId: string, text: string): Promise<void> {
    const edited = (await this.client.mutate(EditMessageDocument, { input: { messageId, text } })).editMessage;
    this.update(messageId, (m) => ({ ...m, text: edited.text, editedAt: edited.editedAt }));
    this.changed();
  }

  async remove(messageId: string): Promise<void> {
    const deleted = (await this.client.mutate(DeleteMessageDocument, { messageId })).deleteMessage;
    this.update(messageId, (m) => ({ ...m, text: deleted.text, deletedAt: deleted.deletedAt }));
    this.changed();
  }

  async toggleReaction(message: Message, emoji: string): Promise<void> {
    const mine = message.reactions.some((r) => r.emoji === emoji && r.reactedByMe);
    const result = mine
      ? (await this.client.mutate(RemoveReactionDocument, { messageId: message.id, emoji })).removeReaction
      : (await this.client.mutate(AddReactionDocument, { messageId: message.id, emoji })).addReaction;
    this.update(message.id, (m) => ({ ...m, reactions: result.reactions }));
    this.changed();
  }

  async openThread(root: Message): Promise<void> {
    this.thread = { root, replies: [], loaded: false };
    this.changed();
    try {
      const data = await this.client.query(WebRepliesDocument, { id: root.id, first: 100 });
      if (this.thread?.root.id !== root.id || !data.message) return;
      // Replies that arrived on the stream while this loaded are kept; the list is in posting order.
      const loaded = data.message.replies.edges.map((e) => e.node);
      const ids = new Set(loaded.map((m) => m.id));
      const replies = [...loaded, ...this.thread.replies.filter((m) => !ids.has(m.id))];
      this.thread = { root: { ...this.thread.root, replyCount: data.message.replyCount }, replies, loaded: true };
    } catch (error) {
      this.fail(error);
    }
    this.changed();
  }

  closeThread(): void {
    this.thread = null;
    this.changed();
  }
}

function fromSent(message: MessageFieldsFragment, me: { id: string; handle: string; name: string }): Message {
  return {
    id: message.id,
    text: message.text,
    createdAt: message.createdAt,
    editedAt: message.editedAt,
    deletedAt: message.deletedAt,
    clientMessageId: message.clientMessageId,
    replyCount: message.replyCount,
    author: { id: me.id, handle: me.handle, name: me.name },
    threadRoot: message.threadRoot ? { id: message.threadRoot.id } : null,
    reactions: [],
  };
}
