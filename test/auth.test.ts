import { SignJWT } from 'jose';
import { beforeAll, describe, expect, it } from 'vitest';
import { LogInDocument, LogOutDocument, MeDocument, SignUpDocument } from '../client/generated/graphql.ts';
import { decodeId } from '../src/schema/ids.ts';
import { ok, refused, request } from './support/client.ts';
import { backendName, startServer, TEST_JWT_SECRET, until, type TestServer } from './support/server.ts';
import { signUpUser } from './support/world.ts';

let server: TestServer;
beforeAll(async () => {
  server = await startServer();
});

const sign = (claims: Record<string, unknown>, subject: string, exp: number, secret = TEST_JWT_SECRET) =>
  new SignJWT(claims)
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(subject)
    .setExpirationTime(exp)
    .sign(new TextEncoder().encode(secret));

describe(`accounts and tokens (${backendName})`, () => {
  it('signs up, then answers me with the token, email included', async () => {
    const { signUp } = await ok(server, SignUpDocument, {
      input: { email: 'Ada@Example.com', password: 'correct horse', name: 'Ada', handle: 'Ada_L' },
    });
    expect(signUp.token).toMatch(/^[\w-]+\.[\w-]+\.[\w-]+$/);
    expect(signUp.user).toMatchObject({ name: 'Ada', handle: 'ada_l', email: 'ada@example.com' });
    const { me } = await ok(server, MeDocument, {}, signUp.token);
    expect(me.id).toBe(signUp.user.id);
  });

  it('logs in with the password and case-insensitive email', async () => {
    const user = await signUpUser(server, 'grace');
    const { logIn } = await ok(server, LogInDocument, { input: { email: user.email.toUpperCase(), password: user.password } });
    expect(logIn.user.id).toBe(user.id);
    const { me } = await ok(server, MeDocument, {}, logIn.token);
    expect(me.handle).toBe(user.handle);
  });

  it('refuses a second account with the same email or handle (CONFLICT) and creates nothing', async () => {
    const user = await signUpUser(server, 'dup');
    const sameEmail = await refused(server, 'CONFLICT', SignUpDocument, {
      input: { email: user.email, password: 'another-password', name: 'X', handle: 'fresh-handle-1' },
    });
    expect(sameEmail.message).toMatch(/email/i);
    const sameHandle = await refused(server, 'CONFLICT', SignUpDocument, {
      input: { email: 'fresh@example.com', password: 'another-password', name: 'X', handle: user.handle },
    });
    expect(sameHandle.message).toMatch(/handle/i);
    // The refused sign-ups left nothing behind: the email is still free.
    await ok(server, SignUpDocument, { input: { email: 'fresh@example.com', password: 'another-password', name: 'X', handle: 'fresh-handle-1' } });
  });

  it.each([
    ['a malformed email', { email: 'not-an-email', password: 'long enough', name: 'N', handle: 'valid-h1' }, /email/],
    ['a short password', { email: 'p@example.com', password: 'short', name: 'N', handle: 'valid-h2' }, /password/],
    ['a blank name', { email: 'n@example.com', password: 'long enough', name: '   ', handle: 'valid-h3' }, /name/],
    ['a handle with spaces', { email: 'h@example.com', password: 'long enough', name: 'N', handle: 'has space' }, /handle/],
  ])('refuses sign-up with %s (BAD_USER_INPUT)', async (_what, input, field) => {
    const error = await refused(server, 'BAD_USER_INPUT', SignUpDocument, { input });
    expect(error.message).toMatch(field);
  });

  it('refuses a wrong password and an unknown email alike (UNAUTHENTICATED)', async () => {
    const user = await signUpUser(server, 'wrongpw');
    const wrong = await refused(server, 'UNAUTHENTICATED', LogInDocument, { input: { email: user.email, password: 'not-the-password' } });
    const unknown = await refused(server, 'UNAUTHENTICATED', LogInDocument, { input: { email: 'nobody@example.com', password: 'whatever-pw' } });
    expect(wrong.message).toBe(unknown.message);
  });

  it('answers me without a token with UNAUTHENTICATED', async () => {
    await refused(server, 'UNAUTHENTICATED', MeDocument, {});
  });

  it('refuses forged, garbage and expired tokens (UNAUTHENTICATED)', async () => {
    const user = await signUpUser(server, 'forge');
    const { logIn } = await ok(server, LogInDocument, { input: { email: user.email, password: user.password } });
    const sid = JSON.parse(Buffer.from(logIn.token.split('.')[1]!, 'base64url').toString()).sid as string;
    const now = Math.floor(Date.now() / 1000);

    const forged = await sign({ sid }, user.id, now + 3600, 'some-other-secret-of-enough-length-xxxxxxxx');
    await refused(server, 'UNAUTHENTICATED', MeDocument, {}, forged);
    await refused(server, 'UNAUTHENTICATED', MeDocument, {}, 'garbage');
    const expired = await sign({ sid }, user.id, now - 10);
    const error = await refused(server, 'UNAUTHENTICATED', MeDocument, {}, expired);
    expect(error.message).toMatch(/expired/i);
    // A correctly signed token naming a session of another user is refused too.
    const other = await signUpUser(server, 'other');
    await refused(server, 'UNAUTHENTICATED', MeDocument, {}, await sign({ sid }, other.id, now + 3600));
  });

  it('refuses a token it accepted before once the token expires', async () => {
    const user = await signUpUser(server, 'expiring');
    const { logIn } = await ok(server, LogInDocument, { input: { email: user.email, password: user.password } });
    const sid = JSON.parse(Buffer.from(logIn.token.split('.')[1]!, 'base64url').toString()).sid as string;
    const soon = await sign({ sid }, decodeId(user.id).id, Math.floor(Date.now() / 1000) + 2);
    expect((await ok(server, MeDocument, {}, soon)).me?.id).toBe(user.id);
    let answer = await request(server, MeDocument, {}, soon);
    await until(async () => (answer = await request(server, MeDocument, {}, soon)).errors !== undefined, 'the token to expire', 10_000);
    expect(answer.errors?.[0]?.extensions?.code).toBe('UNAUTHENTICATED');
    expect(answer.errors?.[0]?.message).toMatch(/expired/i);
  });

  it('revokes the session on logOut: the token stops working, other sessions go on', async () => {
    const user = await signUpUser(server, 'logout');
    const { logIn } = await ok(server, LogInDocument, { input: { email: user.email, password: user.password } });
    expect((await ok(server, LogOutDocument, {}, logIn.token)).logOut).toBe(true);
    const error = await refused(server, 'UNAUTHENTICATED', MeDocument, {}, logIn.token);
    expect(error.message).toMatch(/logged out/i);
    await ok(server, MeDocument, {}, user.token);
  });

  it('still allows signing up and logging in when a bad token is sent along', async () => {
    const result = await request(
      server,
      SignUpDocument,
      { input: { email: 'badtoken@example.com', password: 'long enough', name: 'B', handle: 'badtoken' } },
      'garbage',
    );
    expect(result.errors).toBeUndefined();
  });
});
