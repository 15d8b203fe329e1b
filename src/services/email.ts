import crypto from 'node:crypto';
import nodemailer, { type Transporter } from 'nodemailer';
import type { Notification } from '../generated/prisma/client.ts';
import type { NotificationType } from '../generated/prisma/enums.ts';
import type { Runtime } from '../runtime.ts';
import { DEFAULT_PREFERENCES, NOTIFICATION_TYPES } from './notifications.ts';

/*
 * Notification email: one message carries every away notification of a
 * person that is due, each with who, what, where and the text, and a signed
 * link per type that turns that type's email off.
 */

/** A notification with what its email and push describe. */
export interface Described {
  notification: Notification;
  /** One line: "Ann (@ann) mentioned you in #general (Acme)". */
  title: string;
  /** The message, post or comment text (shortened), or empty. */
  text: string;
  /** Where to open it. */
  url: string;
}

const TEXT_LIMIT = 500;

const shorten = (text: string) => (text.length > TEXT_LIMIT ? `${text.slice(0, TEXT_LIMIT - 1)}…` : text);

const WHAT: Record<NotificationType, string> = {
  MENTION: 'mentioned you',
  DIRECT_MESSAGE: 'sent you a message',
  THREAD_REPLY: 'replied in a thread you follow',
  NEW_FOLLOWER: 'followed you',
  NEW_POST: 'posted',
  POST_COMMENT: 'commented on your post',
};

/** Loads what each notification is about (in a few queries for the whole list) and describes it. */
export async function describe(rt: Runtime, notifications: Notification[]): Promise<Described[]> {
  const ids = (pick: (n: Notification) => string | null) => [...new Set(notifications.map(pick).filter((id): id is string => !!id))];
  const [actors, channels, workspaces, messages, posts, comments] = await Promise.all([
    rt.prisma.user.findMany({ where: { id: { in: ids((n) => n.actorId) } }, select: { id: true, name: true, handle: true } }),
    rt.prisma.channel.findMany({ where: { id: { in: ids((n) => n.channelId) } }, select: { id: true, name: true, kind: true } }),
    rt.prisma.workspace.findMany({ where: { id: { in: ids((n) => n.workspaceId) } }, select: { id: true, name: true } }),
    rt.prisma.message.findMany({ where: { id: { in: ids((n) => n.messageId) } }, select: { id: true, text: true, deletedAt: true } }),
    rt.prisma.post.findMany({ where: { id: { in: ids((n) => n.postId) } }, select: { id: true, text: true } }),
    rt.prisma.comment.findMany({ where: { id: { in: ids((n) => n.commentId) } }, select: { id: true, text: true } }),
  ]);
  const byId = <T extends { id: string }>(rows: T[]) => new Map(rows.map((row) => [row.id, row]));
  const [actor, channel, workspace, message, post, comment] = [byId(actors), byId(channels), byId(workspaces), byId(messages), byId(posts), byId(comments)];
  const base = publicUrl(rt);
  return notifications.map((n) => {
    const who = n.actorId && actor.get(n.actorId);
    const where = n.channelId && channel.get(n.channelId);
    const space = n.workspaceId && workspace.get(n.workspaceId);
    const place = where ? (where.kind === 'CHANNEL' ? ` in #${where.name}` : where.kind === 'GROUP' ? ' in a group message' : '') : '';
    const more = n.count > 1 ? ` (${n.count} times)` : '';
    const title = `${who ? `${who.name} (@${who.handle})` : 'Someone'} ${WHAT[n.type]}${place}${space ? ` (${space.name})` : ''}${more}`;
    const m = n.messageId ? message.get(n.messageId) : undefined;
    const text = n.commentId ? comment.get(n.commentId)?.text : m ? (m.deletedAt ? '' : m.text) : n.postId ? post.get(n.postId)?.text : '';
    const url = n.channelId ? `${base}/channels/${n.channelId}${n.messageId ? `?message=${n.messageId}` : ''}` : n.postId ? `${base}/posts/${n.postId}` : `${base}/notifications`;
    return { notification: n, title, text: shorten(text ?? ''), url };
  });
}

/** Where people open Parley: PUBLIC_URL, or this server's own address. */
export function publicUrl(rt: Runtime): string {
  const { host, port } = rt.config;
  return rt.config.notifications.publicUrl ?? `http://${host.includes(':') ? `[${host}]` : host}:${port}`;
}

function unsubscribeMac(rt: Runtime, payload: string): string {
  return crypto.createHmac('sha256', rt.tokens.signingKey).update(`unsubscribe:${payload}`).digest('base64url');
}

/** A token for the unsubscribe link: who and which type, signed with the app's key. It does not expire. */
export function unsubscribeToken(rt: Runtime, userId: string, type: NotificationType): string {
  const payload = Buffer.from(`${userId}:${type}`).toString('base64url');
  return `${payload}.${unsubscribeMac(rt, payload)}`;
}

/** The user and type a token names, or null when it is not one Parley signed. */
export function readUnsubscribeToken(rt: Runtime, token: string): { userId: string; type: NotificationType } | null {
  const [payload, mac] = token.split('.');
  if (!payload || !mac || token.length > 500) return null;
  const expected = Buffer.from(unsubscribeMac(rt, payload));
  const given = Buffer.from(mac);
  if (expected.length !== given.length || !crypto.timingSafeEqual(expected, given)) return null;
  const [userId, type] = Buffer.from(payload, 'base64url').toString().split(':');
  if (!userId || !NOTIFICATION_TYPES.includes(type as NotificationType)) return null;
  return { userId, type: type as NotificationType };
}

export const UNSUBSCRIBE_PATH = '/notifications/unsubscribe';

export const unsubscribeUrl = (rt: Runtime, userId: string, type: NotificationType) =>
  `${publicUrl(rt)}${UNSUBSCRIBE_PATH}?token=${unsubscribeToken(rt, userId, type)}`;

/** Turns the token's type's email off for its user; false when the token is not valid. */
export async function unsubscribe(rt: Runtime, token: string): Promise<boolean> {
  const target = readUnsubscribeToken(rt, token);
  if (!target) return false;
  const { userId, type } = target;
  const user = await rt.prisma.user.findUnique({ where: { id: userId }, select: { id: true } });
  if (!user) return false;
  const existing = await rt.prisma.notificationPreference.findUnique({ where: { userId_type: { userId, type } } });
  if (existing) {
    await rt.prisma.notificationPreference.update({ where: { userId_type: { userId, type } }, data: { email: false } });
  } else {
    await rt.prisma.notificationPreference.create({ data: { userId, type, ...DEFAULT_PREFERENCES[type], email: false } });
  }
  return true;
}

const escapeHtml = (text: string) =>
  text.replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[c]!);

const TYPE_NAMES: Record<NotificationType, string> = {
  MENTION: 'mentions',
  DIRECT_MESSAGE: 'direct messages',
  THREAD_REPLY: 'thread replies',
  NEW_FOLLOWER: 'new followers',
  NEW_POST: 'new posts',
  POST_COMMENT: 'comments on your posts',
};

/** The email for one person's due notifications: subject, plain text and HTML. */
export function composeEmail(rt: Runtime, userId: string, items: Described[]) {
  const subject = items.length === 1 ? items[0]!.title : `${items.length} new notifications on Parley`;
  const types = [...new Set(items.map((item) => item.notification.type))];
  const links = types.map((type) => ({ type, url: unsubscribeUrl(rt, userId, type) }));
  const text = [
    ...items.map((item) => [item.title, ...(item.text ? [`  "${item.text}"`] : []), `  ${item.url}`, ''].join('\n')),
    '--',
    ...links.map((link) => `Stop emails about ${TYPE_NAMES[link.type]}: ${link.url}`),
  ].join('\n');
  const html = [
    '<!doctype html><html><body>',
    ...items.map(
      (item) =>
        `<div><p><strong>${escapeHtml(item.title)}</strong></p>${item.text ? `<blockquote>${escapeHtml(item.text)}</blockquote>` : ''}<p><a href="${escapeHtml(item.url)}">Open in Parley</a></p></div>`,
    ),
    '<hr>',
    ...links.map((link) => `<p><a href="${escapeHtml(link.url)}">Stop emails about ${TYPE_NAMES[link.type]}</a></p>`),
    '</body></html>',
  ].join('\n');
  return { subject, text, html, unsubscribe: links[0]!.url };
}

export type Mailer = Transporter;

/** The SMTP transport for SMTP_URL, or null when email is off. */
export function createMailer(smtpUrl: string | undefined): Mailer | null {
  return smtpUrl ? nodemailer.createTransport(smtpUrl) : null;
}

/** Sends one composed email to `to`; throws what the SMTP server answered when it refuses. */
export async function sendEmail(rt: Runtime, mailer: Mailer, to: string, email: ReturnType<typeof composeEmail>): Promise<void> {
  await mailer.sendMail({
    from: rt.config.notifications.mailFrom,
    to,
    subject: email.subject,
    text: email.text,
    html: email.html,
    list: { unsubscribe: email.unsubscribe },
  });
}
