import { useState } from 'preact/hooks';
import type { Me } from './App.tsx';
import type { ChannelStore, Message, PendingMessage } from './channelStore.ts';

const QUICK_REACTIONS = ['👍', '❤️', '😄', '🎉'];

const time = (iso: string) => new Date(iso).toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' });

interface Props {
  message: Message;
  me: Me;
  store: ChannelStore;
  onOpenThread?: (message: Message) => void;
  inThread?: boolean;
}

export function MessageItem({ message, me, store, onOpenThread, inThread }: Props) {
  const [editing, setEditing] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const mine = message.author.id === me.id;
  const deleted = Boolean(message.deletedAt);
  const attempt = (action: () => Promise<void>) => () => {
    setError(null);
    action().catch((e: Error) => setError(e.message));
  };

  return (
    <li class={`message${mine ? ' mine' : ''}${deleted ? ' deleted' : ''}`} aria-label={`Message from ${message.author.handle}`} data-message-id={message.id}>
      <div class="meta">
        <span class="author">{message.author.name || message.author.handle}</span>
        <span class="handle">@{message.author.handle}</span>
        <time dateTime={message.createdAt}>{time(message.createdAt)}</time>
        {message.editedAt && !deleted && <span class="edited">(edited)</span>}
      </div>
      {editing ? (
        <EditForm
          text={message.text}
          onCancel={() => setEditing(false)}
          onSave={async (text) => {
            await store.edit(message.id, text);
            setEditing(false);
          }}
        />
      ) : (
        <p class="text">{deleted ? 'This message was deleted.' : message.text}</p>
      )}
      {!deleted && (
        <div class="reactions">
          {message.reactions.map((r) => (
            <button
              key={r.emoji}
              class={`reaction${r.reactedByMe ? ' mine' : ''}`}
              aria-pressed={r.reactedByMe}
              aria-label={`${r.emoji} ${r.count}`}
              onClick={attempt(() => store.toggleReaction(message, r.emoji))}
            >
              {r.emoji} {r.count}
            </button>
          ))}
        </div>
      )}
      {!inThread && message.replyCount > 0 && onOpenThread && (
        <button class="link replies" onClick={() => onOpenThread(message)}>
          {message.replyCount === 1 ? '1 reply' : `${message.replyCount} replies`}
        </button>
      )}
      {!deleted && !editing && (
        <div class="actions" role="group" aria-label="Message actions">
          {QUICK_REACTIONS.map((emoji) => (
            <button key={emoji} class="icon" aria-label={`React ${emoji}`} onClick={attempt(() => store.toggleReaction(message, emoji))}>{emoji}</button>
          ))}
          {!inThread && onOpenThread && (
            <button class="icon" aria-label="Reply in thread" title="Reply in thread" onClick={() => onOpenThread(message)}>💬</button>
          )}
          {mine && <button class="icon" aria-label="Edit message" title="Edit" onClick={() => setEditing(true)}>✎</button>}
          {mine && <button class="icon" aria-label="Delete message" title="Delete" onClick={attempt(() => store.remove(message.id))}>🗑</button>}
        </div>
      )}
      {error && <p role="alert" class="error">{error}</p>}
    </li>
  );
}

function EditForm({ text, onSave, onCancel }: { text: string; onSave(text: string): Promise<void>; onCancel(): void }) {
  const [value, setValue] = useState(text);
  const [error, setError] = useState<string | null>(null);
  const save = (event: Event) => {
    event.preventDefault();
    onSave(value).catch((e: Error) => setError(e.message));
  };
  return (
    <form class="edit" onSubmit={save} aria-label="Edit message">
      <textarea aria-label="Message text" value={value} onInput={(e) => setValue((e.currentTarget as HTMLTextAreaElement).value)} onKeyDown={(e) => e.key === 'Escape' && onCancel()} />
      <button type="submit" class="primary">Save</button> <button type="button" onClick={onCancel}>Cancel</button>
      {error && <p role="alert" class="error">{error}</p>}
    </form>
  );
}

/** A message typed here and not yet in the channel's history. */
export function PendingItem({ pending, me, store }: { pending: PendingMessage; me: Me; store: ChannelStore }) {
  const status = { sending: 'Sending…', sent: 'Sent', failed: 'Not sent' }[pending.state];
  return (
    <li class={`message mine pending ${pending.state}`} aria-label={`Message from ${me.handle}, ${status.toLowerCase().replace('…', '')}`} data-state={pending.state}>
      <div class="meta">
        <span class="author">{me.name || me.handle}</span>
        <span class="handle">@{me.handle}</span>
        <span class="status">{status}</span>
      </div>
      <p class="text">{pending.text}</p>
      {pending.state === 'failed' && (
        <p role="alert" class="error">
          {pending.error} <button class="link" onClick={() => store.retry(pending.clientMessageId)}>Retry</button>{' '}
          <button class="link" onClick={() => store.discard(pending.clientMessageId)}>Discard</button>
        </p>
      )}
    </li>
  );
}
