import { beforeAll, describe, expect, it } from 'vitest';
import {
  AuthorOfDocument,
  ChangePasswordDocument,
  ChannelEventsDocument,
  ChannelDocument,
  DeleteAccountDocument,
  LogInDocument,
  MeDocument,
  RequestPasswordResetDocument,
  ResetPasswordDocument,
  SignUpDocument,
  UpdateProfileDocument,
} from '../client/generated/graphql.ts';
import { decodeId } from '../src/schema/ids.ts';
import { connect, ok, refused, subscribe } from './support/client.ts';
import { startMailbox } from './support/receivers.ts';
import { backendName, startServer, testConfig, waitForSubscribers, type TestServer } from './support/server.ts';
import { channelWith, sendText, signUpUser, signUpUsers, workspaceWith, type TestUser } from './support/world.ts';

let server: TestServer;
let mailbox: Awaited<ReturnType<typeof startMailbox>>;

beforeAll(async () => {
  mailbox = await startMailbox();
  server = await startServer({ notifications: { ...testConfig().notifications, smtpUrl: mailbox.url, publicUrl: 'http://parley.test' } });
});

const logIn = (user: TestUser, password = user.password) => ok(server, LogInDocument, { input: { email: user.email, password } });

describe(`profile (${backendName})`, () => {
  it('updates name, handle, time zone and status; an expired status reads as null', async () => {
    const [ann, bob] = await signUpUsers(server, 'ann', 'bob');
    const handle = `ann-lee-${Date.now().toString(36)}`;
    const soon = new Date(Date.now() + 3_600_000).toISOString();
    const { updateProfile } = await ok(
      server,
      UpdateProfileDocument,
      { input: { name: ' Ann Lee ', handle: handle.toUpperCase(), timeZone: 'Europe/Paris', statusText: 'In a meeting', statusExpiresAt: soon } },
      ann.token,
    );
    expect(updateProfile).toMatchObject({ name: 'Ann Lee', handle, timeZone: 'Europe/Paris', statusText: 'In a meeting', statusExpiresAt: soon });
    const bad = (input: Record<string, unknown>, code = 'BAD_USER_INPUT') => refused(server, code, UpdateProfileDocument, { input }, ann.token);
    await bad({ handle: bob.handle.toUpperCase() }, 'CONFLICT');
    await bad({ handle: '-nope' });
    await bad({ timeZone: 'Mars/Olympus_Mons' });
    await bad({ statusText: 'x'.repeat(101) });
    await bad({ statusExpiresAt: new Date(Date.now() - 1000).toISOString() });
    await bad({ name: '  ' });
    // The status expires: it reads as null from then on.
    await server.app.runtime.prisma.user.update({ where: { id: decodeId(ann.id).id }, data: { statusExpiresAt: new Date(Date.now() - 1000) } });
    const { updateProfile: cleared } = await ok(server, UpdateProfileDocument, { input: { timeZone: null } }, ann.token);
    expect(cleared).toMatchObject({ statusText: null, statusExpiresAt: null, timeZone: null, handle });
  });
});

describe(`passwords (${backendName})`, () => {
  it('changes the password with the current one, revokes every other session and their open streams', async () => {
    const ann = await signUpUser(server, 'ann');
    const workspaceId = await workspaceWith(server, ann);
    const channelId = await channelWith(server, workspaceId, ann);
    const other = (await logIn(ann)).logIn.token;
    const stream = subscribe(connect(server, other), ChannelEventsDocument, { channelId });
    await waitForSubscribers(server, channelId);
    const newPassword = 'a-much-better-passphrase';
    await refused(server, 'FORBIDDEN', ChangePasswordDocument, { input: { currentPassword: 'wrong-password', newPassword } }, ann.token);
    await refused(server, 'BAD_USER_INPUT', ChangePasswordDocument, { input: { currentPassword: ann.password, newPassword: 'short' } }, ann.token);
    const { changePassword } = await ok(server, ChangePasswordDocument, { input: { currentPassword: ann.password, newPassword } }, ann.token);
    expect(JSON.stringify(await stream.waitForError())).toContain('UNAUTHENTICATED');
    await refused(server, 'UNAUTHENTICATED', MeDocument, {}, other);
    await refused(server, 'UNAUTHENTICATED', MeDocument, {}, ann.token);
    expect((await ok(server, MeDocument, {}, changePassword.token)).me.id).toBe(ann.id);
    await refused(server, 'UNAUTHENTICATED', LogInDocument, { input: { email: ann.email, password: ann.password } });
    await logIn(ann, newPassword);
  });

  it('resets a forgotten password with a one-time emailed token, revoking every session', async () => {
    const ann = await signUpUser(server, 'ann');
    expect((await ok(server, RequestPasswordResetDocument, { email: 'nobody-here@example.com' })).requestPasswordReset).toBe(true);
    expect((await ok(server, RequestPasswordResetDocument, { email: ann.email.toUpperCase() })).requestPasswordReset).toBe(true);
    const mail = await mailbox.to(ann.email, 15_000);
    const token = /token: (\S+)/.exec(mail.text ?? '')![1]!;
    const stored = await server.app.runtime.prisma.passwordReset.findMany({ where: { userId: decodeId(ann.id).id } });
    expect(stored).toHaveLength(1);
    expect(stored[0]!.tokenHash).not.toContain(token);
    const newPassword = 'reset-to-something-new';
    await refused(server, 'BAD_USER_INPUT', ResetPasswordDocument, { input: { token: 'not-a-token', newPassword } });
    await refused(server, 'BAD_USER_INPUT', ResetPasswordDocument, { input: { token, newPassword: 'password' } });
    const { resetPassword } = await ok(server, ResetPasswordDocument, { input: { token, newPassword } });
    expect(resetPassword.user.id).toBe(ann.id);
    await refused(server, 'UNAUTHENTICATED', MeDocument, {}, ann.token);
    await ok(server, MeDocument, {}, resetPassword.token);
    await refused(server, 'BAD_USER_INPUT', ResetPasswordDocument, { input: { token, newPassword: 'and-once-more-please' } });
    await logIn(ann, newPassword);
  });

  it('refuses an expired reset token', async () => {
    const bob = await signUpUser(server, 'bob');
    await ok(server, RequestPasswordResetDocument, { email: bob.email });
    const mail = await mailbox.to(bob.email, 15_000);
    const token = /token: (\S+)/.exec(mail.text ?? '')![1]!;
    await server.app.runtime.prisma.passwordReset.updateMany({ where: { userId: decodeId(bob.id).id }, data: { expiresAt: new Date(Date.now() - 1000) } });
    await refused(server, 'BAD_USER_INPUT', ResetPasswordDocument, { input: { token, newPassword: 'a-fine-new-password' } });
    await logIn(bob);
  });
});

describe(`deleting an account (${backendName})`, () => {
  it('keeps messages under an anonymised "Deleted user", ends sessions and memberships, frees the email', async () => {
    const [ann, bob] = await signUpUsers(server, 'ann', 'bob');
    const workspaceId = await workspaceWith(server, ann, [bob]);
    const channelId = await channelWith(server, workspaceId, ann, [bob]);
    const message = await sendText(server, bob.token, channelId, 'something worth keeping');
    await refused(server, 'FORBIDDEN', DeleteAccountDocument, { password: 'not-my-password' }, bob.token);
    // The last owner of a workspace with others in it hands it over first.
    await refused(server, 'CONFLICT', DeleteAccountDocument, { password: ann.password }, ann.token);
    expect((await ok(server, DeleteAccountDocument, { password: bob.password }, bob.token)).deleteAccount).toBe(true);
    await refused(server, 'UNAUTHENTICATED', MeDocument, {}, bob.token);
    await refused(server, 'UNAUTHENTICATED', LogInDocument, { input: { email: bob.email, password: bob.password } });
    const { node } = await ok(server, AuthorOfDocument, { id: message.id }, ann.token);
    expect(node).toMatchObject({ text: 'something worth keeping', author: { id: bob.id, name: 'Deleted user', deleted: true } });
    const { channel } = await ok(server, ChannelDocument, { id: channelId }, ann.token);
    expect(channel!.members.edges.map((e) => e.node.user.id)).toEqual([ann.id]);
    // The email is free again.
    await ok(server, SignUpDocument, { input: { email: bob.email, password: 'a-fresh-start-pw', name: 'Bob', handle: bob.handle } });
  });

  it('deletes a workspace whose only member deletes their account', async () => {
    const ann = await signUpUser(server, 'ann');
    const workspaceId = await workspaceWith(server, ann);
    await ok(server, DeleteAccountDocument, { password: ann.password }, ann.token);
    expect(await server.app.runtime.prisma.workspace.findUnique({ where: { id: decodeId(workspaceId).id } })).toBeNull();
  });
});
