import { builder } from '../../builder.ts';
import { DomainError } from '../../errors.ts';
import type { User } from '../../generated/prisma/client.ts';
import { logIn, logOut, logOutEverywhere, signUp } from '../../services/auth.ts';

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
  logOut: t.withAuth({ loggedIn: true }).boolean({
    description: "Revokes this token's session at once, on every instance.",
    resolve: (_root, _args, ctx) => logOut(ctx.rt, ctx.viewer),
  }),
  logOutEverywhere: t.withAuth({ loggedIn: true }).int({
    description: 'Revokes every session of the signed-in user; returns how many were active.',
    resolve: (_root, _args, ctx) => logOutEverywhere(ctx.rt, ctx.viewer),
  }),
}));
