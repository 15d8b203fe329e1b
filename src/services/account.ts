import crypto from 'node:crypto';
import { z } from 'zod';
import { badInput, conflict, DomainError, forbidden, isUniqueViolation, parseInput } from '../errors.ts';
import type { User } from '../generated/prisma/client.ts';
import { MAX_PASSWORD_LENGTH, newPassword } from '../security/passwords.ts';
import { displayName } from '../security/text.ts';
import { announceRevocation, emailAddress, handle, hashPassword, issueToken, verifyPassword, type AuthResult, type Viewer } from './auth.ts';
import { publicUrl } from './email.ts';
import { requireOwnUpload } from './attachments.ts';
import { endWorkspaceMembership } from './workspace.ts';
import type { Runtime } from '../runtime.ts';

/*
 * A person's own account: profile, password, reset by email, deletion.
 */

/** How long an emailed reset token works. */
export const RESET_TOKEN_TTL_MS = 60 * 60 * 1000;

/** Whether `zone` is an IANA time zone name this runtime knows. */
function isTimeZone(zone: string): boolean {
  try {
    new Intl.DateTimeFormat('en', { timeZone: zone });
    return true;
  } catch {
    return false;
  }
}

const profileSchema = z.object({
  name: displayName(100).nullish(),
  handle: handle.nullish(),
  timeZone: z
    .string()
    .max(64, 'must be an IANA time zone name such as "Europe/Paris"')
    .refine(isTimeZone, 'must be an IANA time zone name such as "Europe/Paris"')
    .nullish(),
  /** "" clears the status. */
  statusText: z.union([z.literal('').transform(() => null), displayName(100)]).nullish(),
  statusExpiresAt: z.date().refine((date) => date.getTime() > Date.now(), 'must be in the future').nullish(),
  /** One of the viewer's own image uploads (a decoded Attachment id); null removes the picture. */
  avatarAttachmentId: z.string().nullish(),
});

/**
 * Changes the viewer's profile; fields left out stay as they are, null clears
 * `timeZone`, `statusText` and `statusExpiresAt`. The handle is checked as
 * signUp checks it and is unique (CONFLICT).
 */
export async function updateProfile(rt: Runtime, viewer: Viewer, input: z.input<typeof profileSchema>): Promise<User> {
  const parsed = parseInput(profileSchema, input);
  const data: Partial<Pick<User, 'name' | 'handle' | 'timeZone' | 'statusText' | 'statusExpiresAt' | 'avatarId'>> = {};
  if (parsed.avatarAttachmentId !== undefined) data.avatarId = parsed.avatarAttachmentId && (await requireAvatar(rt, viewer, parsed.avatarAttachmentId));
  if (parsed.name != null) data.name = parsed.name;
  if (parsed.handle != null) data.handle = parsed.handle;
  if (parsed.timeZone !== undefined) data.timeZone = parsed.timeZone;
  if (parsed.statusText !== undefined) data.statusText = parsed.statusText;
  if (parsed.statusExpiresAt !== undefined) data.statusExpiresAt = parsed.statusExpiresAt;
  // A new status without an expiry does not inherit the old one's.
  if (parsed.statusText != null && parsed.statusExpiresAt === undefined) data.statusExpiresAt = null;
  try {
    return await rt.prisma.user.update({ where: { id: viewer.userId }, data });
  } catch (error) {
    if (isUniqueViolation(error)) throw conflict(`The handle "${parsed.handle}" is taken; choose another.`, 'handle');
    throw error;
  }
}

/**
 * An upload that can be a profile picture: the viewer's own, its bytes
 * stored, an image Parley could measure, and not sent with a message (whose
 * deletion would take it away).
 */
async function requireAvatar(rt: Runtime, viewer: Viewer, attachmentId: string): Promise<string> {
  const upload = await requireOwnUpload(rt, viewer.userId, attachmentId);
  if (upload.width == null || !upload.contentType.startsWith('image/')) {
    throw badInput('A profile picture must be an image (PNG, JPEG, GIF or WebP).', 'avatarAttachmentId');
  }
  if (upload.messageId) throw conflict('This file was sent with a message; upload it again to use it as your picture.', 'avatarAttachmentId');
  return upload.id;
}

/** The status people see: null once it has expired. */
export const currentStatus = (user: Pick<User, 'statusText' | 'statusExpiresAt'>): string | null =>
  user.statusExpiresAt && user.statusExpiresAt.getTime() <= Date.now() ? null : user.statusText;

const currentPassword = z.string().min(1, 'must not be empty').max(MAX_PASSWORD_LENGTH, 'is wrong');

/** FORBIDDEN unless `password` is the viewer's; returns the user. */
async function requirePassword(rt: Runtime, viewer: Viewer, password: string, field: string): Promise<User> {
  const user = await rt.prisma.user.findUniqueOrThrow({ where: { id: viewer.userId } });
  if (!(await verifyPassword(password, user.passwordHash))) throw forbidden(`${field} is wrong.`);
  return user;
}

/**
 * Revokes every session of `userId` but `keep` (on every instance: their
 * tokens stop working and their open streams end at once).
 */
async function revokeSessions(rt: Runtime, userId: string, keep?: string): Promise<void> {
  if (!keep) {
    await rt.prisma.session.updateMany({ where: { userId, revokedAt: null }, data: { revokedAt: new Date() } });
    return announceRevocation(rt, { userId, sessionId: null });
  }
  const active = await rt.prisma.session.findMany({ where: { userId, revokedAt: null, id: { not: keep } }, select: { id: true } });
  const ids = active.map((session) => session.id);
  if (ids.length === 0) return;
  await rt.prisma.session.updateMany({ where: { id: { in: ids }, revokedAt: null }, data: { revokedAt: new Date() } });
  for (const sessionId of ids) await announceRevocation(rt, { userId, sessionId });
}

const changeSchema = z.object({ currentPassword, newPassword });

/**
 * Changes the viewer's password (the current one must be given: FORBIDDEN
 * otherwise) and signs them in afresh: every other session, the one that
 * asked included, is revoked, and the answer carries a new token.
 */
export async function changePassword(rt: Runtime, viewer: Viewer, input: z.input<typeof changeSchema>): Promise<AuthResult> {
  const parsed = parseInput(changeSchema, input);
  const user = await requirePassword(rt, viewer, parsed.currentPassword, 'currentPassword');
  const passwordHash = await hashPassword(parsed.newPassword);
  const updated = await rt.prisma.user.update({ where: { id: user.id }, data: { passwordHash } });
  const result = await issueToken(rt, updated);
  await revokeSessions(rt, user.id, result.viewer.sessionId);
  return result;
}

const sha256 = (token: string) => crypto.createHash('sha256').update(token).digest('hex');

/**
 * Emails a one-time reset token to the account with this email, if there is
 * one. Everything happens off the request, so neither the answer nor its
 * timing says whether the email exists. Only the token's SHA-256 is stored;
 * it works once, within {@link RESET_TOKEN_TTL_MS}.
 */
export function requestPasswordReset(rt: Runtime, rawEmail: string): boolean {
  const parsed = emailAddress.safeParse(rawEmail);
  if (!parsed.success) return true;
  rt.background.run('password reset email', () => sendResetEmail(rt, parsed.data));
  return true;
}

async function sendResetEmail(rt: Runtime, email: string): Promise<void> {
  const user = await rt.prisma.user.findUnique({ where: { email }, select: { id: true, deletedAt: true } });
  if (!user || user.deletedAt) return;
  const mailer = rt.delivery.mailer;
  if (!mailer) {
    rt.log('warn', 'password reset requested, but email is off (SMTP_URL is not set): no token was sent');
    return;
  }
  const token = crypto.randomBytes(32).toString('base64url');
  await rt.prisma.passwordReset.create({
    data: { userId: user.id, tokenHash: sha256(token), expiresAt: new Date(Date.now() + RESET_TOKEN_TTL_MS) },
  });
  const url = `${publicUrl(rt)}/reset-password?token=${token}`;
  await mailer.sendMail({
    from: rt.config.notifications.mailFrom,
    to: email,
    subject: 'Reset your Parley password',
    text: [
      'Someone asked to reset the password of your Parley account.',
      `To choose a new one, open ${url}`,
      `or use this token: ${token}`,
      'It works once, within an hour. If it was not you, ignore this email: your password stays as it is.',
    ].join('\n'),
  });
}

const resetSchema = z.object({ token: z.string().min(1, 'must not be empty').max(200, 'is not a reset token'), newPassword });

/**
 * Sets a new password with an emailed token (BAD_USER_INPUT when it is
 * unknown, used or expired), revokes every session of the account and signs
 * in afresh. Every other outstanding token of the account stops working too.
 */
export async function resetPassword(rt: Runtime, input: z.input<typeof resetSchema>): Promise<AuthResult> {
  const parsed = parseInput(resetSchema, input);
  const now = new Date();
  const passwordHash = await hashPassword(parsed.newPassword);
  const user = await rt.prisma.$transaction(async (tx) => {
    // Claimed in one statement: of two uses at once, one wins.
    const claimed = await tx.passwordReset.updateManyAndReturn({
      where: { tokenHash: sha256(parsed.token.trim()), usedAt: null, expiresAt: { gt: now } },
      data: { usedAt: now },
      select: { userId: true },
    });
    const userId = claimed[0]?.userId;
    if (!userId) throw badInput('This reset token is unknown, used or expired; request a new one.', 'token');
    await tx.passwordReset.updateMany({ where: { userId, usedAt: null }, data: { usedAt: now } });
    return tx.user.update({ where: { id: userId }, data: { passwordHash } });
  });
  await revokeSessions(rt, user.id);
  return issueToken(rt, user);
}

/**
 * Deletes the viewer's account, as Slack deactivates one: their messages,
 * posts and comments stay where they are, attributed to the same user row,
 * now anonymised ("Deleted user", no email, no password, no status). Every
 * session is revoked; workspace and channel memberships end (MEMBER_LEFT in
 * each channel); follows, notifications, push subscriptions and pending
 * password resets are deleted. A workspace where they are the last owner and
 * others remain must get another owner first (CONFLICT); a workspace where
 * they are the only member is deleted with them.
 */
export async function deleteAccount(rt: Runtime, viewer: Viewer, password: string): Promise<boolean> {
  const user = await requirePassword(rt, viewer, parseInput(currentPassword, password), 'password');
  const memberships = await rt.prisma.workspaceMember.findMany({
    where: { userId: user.id },
    select: { workspaceId: true, role: true, workspace: { select: { name: true, _count: { select: { members: true } } } } },
  });
  const alone = memberships.filter((m) => m.workspace._count.members === 1).map((m) => m.workspaceId);
  const owned = memberships.filter((m) => m.role === 'OWNER' && m.workspace._count.members > 1);
  for (const m of owned) {
    const owners = await rt.prisma.workspaceMember.count({ where: { workspaceId: m.workspaceId, role: 'OWNER' } });
    if (owners === 1) {
      throw conflict(`You are the last owner of "${m.workspace.name}": make someone else owner first, then delete your account.`);
    }
  }
  // Sessions first: from here on the account can do nothing more.
  await revokeSessions(rt, user.id);
  await rt.prisma.workspace.deleteMany({ where: { id: { in: alone }, members: { every: { userId: user.id } } } });
  for (const m of memberships) {
    if (alone.includes(m.workspaceId)) continue;
    await endWorkspaceMembership(rt, m.workspaceId, user.id, () => {}).catch((error: unknown) => {
      // Gone meanwhile (removed by an admin): nothing left to end.
      if (!(error instanceof DomainError)) throw error;
    });
  }
  await rt.prisma.$transaction([
    rt.prisma.follow.deleteMany({ where: { OR: [{ followerId: user.id }, { followeeId: user.id }] } }),
    rt.prisma.notification.deleteMany({ where: { userId: user.id } }),
    rt.prisma.pushSubscription.deleteMany({ where: { userId: user.id } }),
    rt.prisma.notificationPreference.deleteMany({ where: { userId: user.id } }),
    rt.prisma.passwordReset.deleteMany({ where: { userId: user.id } }),
    rt.prisma.threadMembership.deleteMany({ where: { userId: user.id } }),
    rt.prisma.user.update({
      where: { id: user.id },
      data: {
        name: 'Deleted user',
        handle: `deleted-${user.id}`,
        email: `deleted-${user.id}@deleted.invalid`,
        passwordHash: '!deleted',
        timeZone: null,
        statusText: null,
        statusExpiresAt: null,
        avatarId: null,
        deletedAt: new Date(),
      },
    }),
  ]);
  return true;
}
