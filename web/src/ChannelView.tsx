import { useEffect, useLayoutEffect, useMemo, useRef, useState } from 'preact/hooks';
import { JoinChannelDocument, MarkReadDocument, SetTypingDocument, TypingDocument } from '../../client/generated/graphql.ts';
import type { ParleyClient } from '../../client/sdk/index.ts';
import type { Me } from './App.tsx';
import type { ChannelSummary, Member } from './Chat.tsx';
import { ChannelStore, type Message, type PendingMessage } from './channelStore.ts';
import { MessageItem, PendingItem } from './MessageItem.tsx';
import { channelTitle } from './Sidebar.tsx';

interface Props {
  client: ParleyClient;
  me: Me;
  channel: ChannelSummary;
  members: Member[];
  onJoined(): Promise<unknown>;
  /** Someone the sidebar does not know yet joined or wrote. */
  onNewMember(): void;
}

/** Re-renders whenever the store changes. */
function useStore(store: ChannelStore): void {
  const [, setVersion] = useState(0);
  useEffect(() => store.subscribe(() => setVersion((n) => n + 1)), [store]);
}

export function ChannelView({ client, me, channel, members, onJoined, onNewMember }: Props) {
  const store = useMemo(() => new ChannelStore(client, channel.id, me), [client, channel.id]);
  useEffect(() => {
    void store.open();
    return () => store.close();
  }, [store]);
  useStore(store);
  store.onMemberJoined = onNewMember;
  useEffect(() => {
    if (store.lastAuthorId && !members.some((m) => m.id === store.lastAuthorId)) onNewMember();
  }, [store.lastAuthorId]);
  const title = channelTitle(channel, me);
  const isMember = Boolean(channel.myMembership);
  const typing = useTyping(client, channel.id, store.lastAuthorId);
  useMarkRead(client, channel.id, isMember ? store.messages.at(-1)?.id : undefined);

  const join = async () => {
    await client.mutate(JoinChannelDocument, { channelId: channel.id });
    await onJoined();
  };

  return (
    <>
      <main class="channel-view" aria-label={title}>
        <header class="channel-header">
          <h1>{title}</h1>
          {channel.private && channel.kind === 'CHANNEL' && <span class="tag">private</span>}
        </header>
        {store.error && <p role="alert" class="error">{store.error}</p>}
        <MessageList store={store} me={me} pending={store.pending.filter((p) => !p.threadRootId)} onOpenThread={(m) => void store.openThread(m)} />
        <p class="typing" aria-live="polite">{typingText(typing, members)}</p>
        {isMember ? (
          <Composer label={`Message ${title}`} onSend={(text) => store.send(text)} onTyping={() => void client.mutate(SetTypingDocument, { channelId: channel.id }).catch(() => undefined)} />
        ) : (
          <div class="join">
            <p>You are not a member of {title}.</p>
            <button class="primary" onClick={() => void join()}>Join channel</button>
          </div>
        )}
      </main>
      {store.thread && <ThreadPanel store={store} me={me} canReply={isMember} />}
    </>
  );
}

function MessageList({ store, me, pending, onOpenThread }: { store: ChannelStore; me: Me; pending: PendingMessage[]; onOpenThread(m: Message): void }) {
  const list = useRef<HTMLDivElement>(null);
  const stickToBottom = useRef(true);
  const heightBeforeOlder = useRef<number | null>(null);
  const count = store.messages.length + pending.length;

  // New messages keep the view at the bottom if it was there; older ones keep what the reader sees in place.
  useLayoutEffect(() => {
    const element = list.current;
    if (!element) return;
    if (heightBeforeOlder.current !== null && !store.loadingOlder) {
      element.scrollTop += element.scrollHeight - heightBeforeOlder.current;
      heightBeforeOlder.current = null;
    } else if (stickToBottom.current) {
      element.scrollTop = element.scrollHeight;
    }
  }, [count, store.loadingOlder, store.loaded]);

  const loadOlder = () => {
    if (!store.hasOlder || store.loadingOlder) return;
    heightBeforeOlder.current = list.current?.scrollHeight ?? null;
    void store.loadOlder();
  };
  const onScroll = () => {
    const element = list.current!;
    stickToBottom.current = element.scrollHeight - element.scrollTop - element.clientHeight < 40;
    if (element.scrollTop < 120) loadOlder();
  };
  // A short first page that does not fill the view cannot be scrolled: load more until it does.
  useEffect(() => {
    const element = list.current;
    if (element && store.loaded && store.hasOlder && element.scrollHeight <= element.clientHeight) loadOlder();
  });

  return (
    <div class="messages" ref={list} onScroll={onScroll} role="log" aria-label="Messages" aria-busy={!store.loaded || store.loadingOlder}>
      {store.hasOlder ? (
        <button class="link older" onClick={loadOlder} disabled={store.loadingOlder}>{store.loadingOlder ? 'Loading…' : 'Load older messages'}</button>
      ) : (
        store.loaded && <p class="start">This is the start of the conversation.</p>
      )}
      <ol>
        {store.messages.map((m) => (
          <MessageItem key={m.id} message={m} me={me} store={store} onOpenThread={onOpenThread} />
        ))}
        {pending.map((p) => (
          <PendingItem key={p.clientMessageId} pending={p} me={me} store={store} />
        ))}
      </ol>
    </div>
  );
}

function ThreadPanel({ store, me, canReply }: { store: ChannelStore; me: Me; canReply: boolean }) {
  const thread = store.thread!;
  const pending = store.pending.filter((p) => p.threadRootId === thread.root.id);
  return (
    <aside class="thread" aria-label="Thread">
      <header class="channel-header">
        <h2>Thread</h2>
        <button class="icon" aria-label="Close thread" onClick={() => store.closeThread()}>×</button>
      </header>
      <div class="messages" role="log" aria-label="Replies">
        <ol>
          <MessageItem message={thread.root} me={me} store={store} inThread />
          <li class="divider">{thread.root.replyCount === 1 ? '1 reply' : `${thread.root.replyCount} replies`}</li>
          {thread.replies.map((m) => (
            <MessageItem key={m.id} message={m} me={me} store={store} inThread />
          ))}
          {pending.map((p) => (
            <PendingItem key={p.clientMessageId} pending={p} me={me} store={store} />
          ))}
        </ol>
      </div>
      {canReply && <Composer label="Reply in thread" onSend={(text) => store.send(text, thread.root.id)} />}
    </aside>
  );
}

/** Enter sends, Shift+Enter starts a new line; typing is announced at most every 3 s. */
function Composer({ label, onSend, onTyping }: { label: string; onSend(text: string): void; onTyping?: () => void }) {
  const [text, setText] = useState('');
  const lastTyping = useRef(0);
  const submit = (event?: Event) => {
    event?.preventDefault();
    if (!text.trim()) return;
    onSend(text);
    setText('');
    lastTyping.current = 0;
  };
  return (
    <form class="composer" onSubmit={submit} aria-label={label}>
      <textarea
        aria-label={label}
        placeholder={`${label}…`}
        rows={1}
        value={text}
        onInput={(e) => {
          setText((e.currentTarget as HTMLTextAreaElement).value);
          if (onTyping && Date.now() - lastTyping.current > 3_000) {
            lastTyping.current = Date.now();
            onTyping();
          }
        }}
        onKeyDown={(e) => {
          if (e.key === 'Enter' && !e.shiftKey && !e.isComposing) submit(e);
        }}
      />
      <button type="submit" class="primary" disabled={!text.trim()}>Send</button>
    </form>
  );
}

/** Who is typing: shown until each event's expiresAt, or until that person's message arrives. */
function useTyping(client: ParleyClient, channelId: string, lastAuthorId: string | null): Map<string, number> {
  const [typing, setTyping] = useState(new Map<string, number>());
  useEffect(() => {
    setTyping(new Map());
    const stop = client.subscribe(TypingDocument, { channelId }, {
      next: ({ typing: event }) => setTyping((current) => new Map(current).set(event.user.id, Date.parse(event.expiresAt))),
    });
    const timer = setInterval(() => {
      setTyping((current) => {
        const now = Date.now();
        const left = new Map([...current].filter(([, until]) => until > now));
        return left.size === current.size ? current : left;
      });
    }, 1_000);
    return () => {
      stop();
      clearInterval(timer);
    };
  }, [client, channelId]);
  useEffect(() => {
    if (lastAuthorId && typing.has(lastAuthorId)) {
      setTyping((current) => {
        const next = new Map(current);
        next.delete(lastAuthorId);
        return next;
      });
    }
  }, [lastAuthorId]);
  return typing;
}

function typingText(typing: Map<string, number>, members: Member[]): string {
  const names = [...typing.keys()].map((id) => members.find((m) => m.id === id)?.handle ?? 'someone');
  if (names.length === 0) return '';
  if (names.length === 1) return `${names[0]} is typing…`;
  return `${names.slice(0, -1).join(', ')} and ${names.at(-1)} are typing…`;
}

/** Moves the read position to the newest message while the page is visible. */
function useMarkRead(client: ParleyClient, channelId: string, newestId: string | undefined): void {
  const marked = useRef<string | null>(null);
  useEffect(() => {
    const mark = () => {
      if (!newestId || marked.current === newestId || document.visibilityState !== 'visible') return;
      marked.current = newestId;
      void client.mutate(MarkReadDocument, { channelId, messageId: newestId }).catch(() => (marked.current = null));
    };
    mark();
    document.addEventListener('visibilitychange', mark);
    return () => document.removeEventListener('visibilitychange', mark);
  }, [client, channelId, newestId]);
}
