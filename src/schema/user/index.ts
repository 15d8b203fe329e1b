import { builder } from '../../builder.ts';
import { DomainError } from '../../errors.ts';
import type { User } from '../../generated/prisma/client.ts';
import { changePassword, currentStatus, deleteAccount, requestPasswordReset, resetPassword, updateProfile } from '../../services/account.ts';
import { logIn, logOut, logOutEverywhere, signUp } from '../../services/auth.ts';
import { parseId } from '../ids.ts';

export const UserRef = builder.prismaNode('User', {
  id: { field: 'id' },
  fields: (t) => ({
    name: t.exposeString('name'),
    handle: t.exposeString('handle'),
    email: t.string({
      nullable: true,
      description: 'Only visible to the user themself.',
      resolve: (user, _args, ctx) => (user.id === ctx.viewer?.userId ? user.email : null),
    }),
    createdAt: t.expose('createdAt', { type: 'DateTime' }),
    timeZone: t.exposeString('timeZone', { nullable: true, description: 'An IANA time zone name, e.g. "Europe/Paris".' }),
    statusText: t.string({
      nullable: true,
      description: 'Null when unset or past statusExpiresAt.',
      resolve: (user) => currentStatus(user),
    }),
    statusExpiresAt: t.field({
      type: 'DateTime',
      nullable: true,
      resolve: (user) => (currentStatus(user) === null ? null : user.statusExpiresAt),
    }),
    avatar: t.relation('avatar', { nullable: true, description: 'The profile picture (its thumbnailUrl is a small square-ish version).' }),
    deleted: t.boolean({
      description: 'The account was deleted: its messages stay, shown as by "Deleted user".',
      resolve: (user) => user.deletedAt !== null,
    }),
  }),
});

const AuthPayload = builder.objectRef<{ token: string; user: User }>('AuthPayload').implement({
  fields: (t) => ({
    token: t.exposeString('token', { description: 'Send as "Authorization: Bearer <token>"; valid for 30 days unless revoked.' }),
    user: t.field({ type: UserRef, resolve: (payload) => payload.user }),
  }),
});

const SignUpInput = builder.inputType('SignUpInput', {
  fields: (t) => ({
    email: t.string({ required: true }),
    password: t.string({ required: true, description: 'At least 8 characters.' }),
    name: t.string({ required: true }),
    handle: t.string({ required: true, description: '2 to 30 letters, digits, "_", "." or "-"; unique.' }),
  }),
});

const LogInInput = builder.inputType('LogInInput', {
  fields: (t) => ({
    email: t.string({ required: true }),
    password: t.string({ required: true }),
  }),
});

const UpdateProfileInput = builder.inputType('UpdateProfileInput', {
  fields: (t) => ({
    name: t.string(),
    handle: t.string({ description: '2 to 30 letters, digits, "_", "." or "-"; unique.' }),
    timeZone: t.string({ description: 'An IANA time zone name; null clears it.' }),
    statusText: t.string({ description: 'At most 100 characters; "" or null clears it.' }),
    statusExpiresAt: t.field({ type: 'DateTime', description: 'When the status stops showing (in the future); null: until changed.' }),
    avatarAttachmentId: t.id({ description: 'One of your own image uploads (uploadFile or createUpload), not sent with a message; null removes the picture.' }),
  }),
});

const ChangePasswordInput = builder.inputType('ChangePasswordInput', {
  fields: (t) => ({
    currentPassword: t.string({ required: true }),
    newPassword: t.string({ required: true, description: 'At least 10 characters, not a common password.' }),
  }),
});

const ResetPasswordInput = builder.inputType('ResetPasswordInput', {
  fields: (t) => ({
    token: t.string({ required: true, description: 'The token from the reset email.' }),
    newPassword: t.string({ required: true }),
  }),
});

builder.queryField('me', (t) =>
  t.withAuth({ loggedIn: true }).prismaField({
    type: 'User',
    description: 'The signed-in user. UNAUTHENTICATED without a valid token.',
    resolve: (query, _root, _args, ctx) => ctx.rt.prisma.user.findUniqueOrThrow({ ...query, where: { id: ctx.viewer.userId } }),
  }),
);

builder.mutationFields((t) => ({
  signUp: t.field({
    type: AuthPayload,
    args: { input: t.arg({ type: SignUpInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await ctx.rt.limits.consume('signUpIp', ctx.address ?? 'unknown');
      const result = await signUp(ctx.rt, input);
      // The rest of this request speaks for the new account (e.g. may see its email).
      ctx.viewer = result.viewer;
      return result;
    },
  }),
  logIn: t.field({
    type: AuthPayload,
    args: { input: t.arg({ type: LogInInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await ctx.rt.limits.consume('loginIp', ctx.address ?? 'unknown');
      // Failed attempts per email back off a guesser, whatever addresses they come from.
      const email = input.email.trim().toLowerCase().slice(0, 254);
      await ctx.rt.limits.check('loginEmail', email);
      const result = await logIn(ctx.rt, input).catch(async (error: unknown) => {
        if (error instanceof DomainError && error.extensions.code === 'UNAUTHENTICATED') {
          await ctx.rt.limits.consume('loginEmail', email);
        }
        throw error;
      });
      ctx.viewer = result.viewer;
      return result;
    },
  }),
  updateProfile: t.withAuth({ loggedIn: true }).field({
    type: UserRef,
    description: 'Fields left out stay as they are.',
    args: { input: t.arg({ type: UpdateProfileInput, required: true }) },
    resolve: (_root, { input }, ctx) =>
      updateProfile(ctx.rt, ctx.viewer, {
        ...input,
        avatarAttachmentId: input.avatarAttachmentId ? parseId('Attachment', input.avatarAttachmentId) : input.avatarAttachmentId,
      }),
  }),
  changePassword: t.withAuth({ loggedIn: true }).field({
    type: AuthPayload,
    description: 'Every other session is revoked (this one too): use the returned token from now on.',
    args: { input: t.arg({ type: ChangePasswordInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      const { email } = await ctx.rt.prisma.user.findUniqueOrThrow({ where: { id: ctx.viewer.userId }, select: { email: true } });
      // Wrong current passwords count as failed sign-ins: a stolen token does not make guessing cheap.
      await ctx.rt.limits.check('loginEmail', email);
      const result = await changePassword(ctx.rt, ctx.viewer, input).catch(async (error: unknown) => {
        if (error instanceof DomainError && error.extensions.code === 'FORBIDDEN') await ctx.rt.limits.consume('loginEmail', email);
        throw error;
      });
      ctx.viewer = result.viewer;
      return result;
    },
  }),
  requestPasswordReset: t.boolean({
    description: 'Always true: never reveals whether the email has an account. If it has, a one-time token (valid one hour) is emailed.',
    args: { email: t.arg.string({ required: true }) },
    resolve: async (_root, { email }, ctx) => {
      await ctx.rt.limits.consume('loginIp', ctx.address ?? 'unknown');
      return requestPasswordReset(ctx.rt, email);
    },
  }),
  resetPassword: t.field({
    type: AuthPayload,
    description: 'Sets a new password with an emailed token; every session of the account is revoked.',
    args: { input: t.arg({ type: ResetPasswordInput, required: true }) },
    resolve: async (_root, { input }, ctx) => {
      await ctx.rt.limits.consume('loginIp', ctx.address ?? 'unknown');
      const result = await resetPassword(ctx.rt, input);
      ctx.viewer = result.viewer;
      return result;
    },
  }),
  deleteAccount: t.withAuth({ loggedIn: true }).boolean({
    description:
      'Deletes your account: messages stay, attributed to "Deleted user"; sessions are revoked and memberships end. The last owner of a workspace with other members must hand it over first (CONFLICT).',
    args: { password: t.arg.string({ required: true }) },
    resolve: async (_root, { password }, ctx) => {
      const { email } = await ctx.rt.prisma.user.findUniqueOrThrow({ where: { id: ctx.viewer.userId }, select: { email: true } });
      await ctx.rt.limits.check('loginEmail', email);
      return deleteAccount(ctx.rt, ctx.viewer, password).catch(async (error: unknown) => {
        if (error instanceof DomainError && error.extensions.code === 'FORBIDDEN') await ctx.rt.limits.consume('loginEmail', email);
        throw error;
      });
    },
  }),
  logOut: t.withAuth({ loggedIn: true }).boolean({
    description: "Revokes this token's session at once, on every instance.",
    resolve: (_root, _args, ctx) => logOut(ctx.rt, ctx.viewer),
  }),
  logOutEverywhere: t.withAuth({ loggedIn: true }).int({
    description: 'Revokes every session of the signed-in user; returns how many were active.',
    resolve: (_root, _args, ctx) => logOutEverywhere(ctx.rt, ctx.viewer),
  }),
}));
