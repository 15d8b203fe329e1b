import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { jwtVerify, SignJWT, errors as joseErrors, type JWTPayload } from 'jose';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { topics, type Listening, type RevocationPayload } from '../pubsub.ts';
import type { Runtime } from '../runtime.ts';
import { conflict, isUniqueViolation, parseInput, unauthenticated } from '../errors.ts';
import type { User } from '../generated/prisma/client.ts';
import { MAX_PASSWORD_LENGTH, newPassword } from '../security/passwords.ts';
import { displayName } from '../security/text.ts';

/** Who is asking: a user and the session (device) their token names. */
export interface Viewer {
  userId: string;
  sessionId: string;
}

const scrypt = promisify(crypto.scrypt) as (
  password: crypto.BinaryLike,
  salt: crypto.BinaryLike,
  keylen: number,
  options: crypto.ScryptOptions,
) => Promise<Buffer>;

// scrypt at N=2^15, r=8: 32 MiB and tens of milliseconds per hash, the OWASP floor.
const KDF = { N: 2 ** 15, r: 8, p: 1, keylen: 32 };

export async function hashPassword(password: string): Promise<string> {
  const salt = crypto.randomBytes(16);
  const hash = await scrypt(password, salt, KDF.keylen, { N: KDF.N, r: KDF.r, p: KDF.p, maxmem: 128 * KDF.N * KDF.r * 2 });
  return `scrypt$${KDF.N}$${KDF.r}$${KDF.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

export async function verifyPassword(password: string, stored: string): Promise<boolean> {
  const [scheme, n, r, p, salt, hash] = stored.split('$');
  if (scheme !== 'scrypt' || !salt || !hash) return false;
  const expected = Buffer.from(hash, 'base64');
  const N = Number(n);
  const actual = await scrypt(password, Buffer.from(salt, 'base64'), expected.length, {
    N,
    r: Number(r),
    p: Number(p),
    maxmem: 128 * N * Number(r) * 2,
  });
  return crypto.timingSafeEqual(actual, expected);
}

// Verifying against a real hash when the email is unknown keeps the response
// time the same, so sign-in cannot be used to probe which emails exist.
const dummyHash = hashPassword(crypto.randomBytes(16).toString('hex'));

/** How long a checked session is trusted without asking the database again. */
const SESSION_CACHE_MS = 60_000;
const SESSION_CACHE_MAX = 100_000;
/** How often a revocation whose broadcast failed is broadcast again. */
const REBROADCAST_MS = 1_000;

/**
 * One app's token signing key and its cache of checked sessions
 * (sessionId → owner and expiry). Revocations evict entries on every instance;
 * while this instance may be missing revocations (its pub/sub connection is
 * down), the cache is not trusted and every check asks the database.
 */
export class Tokens {
  readonly ttlSeconds: number;
  readonly signingKey: Uint8Array;
  private readonly sessions = new Map<string, { userId: string; expiresAt: number; checkedAt: number }>();
  private trusted = true;
  /**
   * Revocations this instance could not broadcast yet, and when they were
   * made: retried until every cache has forgotten them anyway.
   */
  readonly unannounced: { revocation: RevocationPayload; at: number }[] = [];
  /** Entries checked before this time (ms) predate revocations that may have been lost. */
  private trustedSince = 0;

  /**
   * The key is JWT_SECRET, or one generated once and kept in DATA_DIR (fine
   * for a single instance; several instances must share JWT_SECRET).
   */
  constructor(config: Pick<Config, 'jwtSecret' | 'dataDir' | 'tokenTtlSeconds'>) {
    this.ttlSeconds = config.tokenTtlSeconds;
    this.signingKey = new TextEncoder().encode(config.jwtSecret ?? generatedSecret(config.dataDir));
  }

  /**
   * Tokens whose signature has been verified, with their claims: a token's
   * claims never change, so each is verified once (its expiry is still
   * checked on every use, and its session by {@link recall}).
   */
  private readonly verified = new Map<string, { userId: string; sessionId: string; expiresAt: number }>();

  /** A verified token's claims, unless it has expired since. */
  verifiedClaims(token: string): { userId: string; sessionId: string; expiresAt: number } | undefined {
    const claims = this.verified.get(token);
    if (claims && claims.expiresAt <= Date.now()) {
      this.verified.delete(token);
      return undefined;
    }
    return claims;
  }

  rememberVerified(token: string, claims: { userId: string; sessionId: string; expiresAt: number }): void {
    if (this.verified.size >= SESSION_CACHE_MAX) this.verified.delete(this.verified.keys().next().value!);
    this.verified.set(token, claims);
  }

  /** Caches a session found active by a check that started at `checkedAt`. */
  remember(sessionId: string, userId: string, expiresAt: Date, checkedAt = Date.now()): void {
    // Maps keep insertion order: the first entries are the oldest.
    if (this.sessions.size >= SESSION_CACHE_MAX) this.sessions.delete(this.sessions.keys().next().value!);
    this.sessions.set(sessionId, { userId, expiresAt: expiresAt.getTime(), checkedAt });
  }

  /** The cached session if it was checked recently enough to trust. */
  recall(sessionId: string, userId: string): { expiresAt: number } | null {
    if (!this.trusted) return null;
    const cached = this.sessions.get(sessionId);
    if (!cached || cached.userId !== userId || cached.checkedAt < this.trustedSince) return null;
    if (Date.now() - cached.checkedAt >= SESSION_CACHE_MS) return null;
    return cached;
  }

  /** Drops revoked sessions (called for every revocation, from any instance). */
  forget({ userId, sessionId }: RevocationPayload): void {
    if (sessionId) this.sessions.delete(sessionId);
    else for (const [id, entry] of this.sessions) if (entry.userId === userId) this.sessions.delete(id);
  }

  /** Revocations may be getting lost (the pub/sub connection is down): check every session in the database. */
  suspend(): void {
    this.trusted = false;
  }

  /**
   * Revocations arrive again. Any published while they did not are lost, so
   * everything checked before now is checked again.
   */
  resume(): void {
    this.sessions.clear();
    this.trustedSince = Date.now();
    this.trusted = true;
  }
}

function generatedSecret(dataDir: string): string {
  const file = path.join(dataDir, 'jwt-secret');
  fs.mkdirSync(dataDir, { recursive: true });
  try {
    fs.writeFileSync(file, crypto.randomBytes(48).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  return fs.readFileSync(file, 'utf8').trim();
}

/** Emails are checked for length before any pattern runs over them. */
const email = z
  .string()
  .max(320, 'must be at most 254 characters')
  .pipe(z.string().trim().toLowerCase().max(254, 'must be at most 254 characters'));

/** A handle as people type it: stored lower-cased. */
export const handle = z
  .string()
  .max(100, 'must be 2 to 30 letters, digits, "_", "." or "-"')
  .trim()
  .toLowerCase()
  .regex(/^[a-z0-9][a-z0-9_.-]{1,29}$/, 'must be 2 to 30 letters, digits, "_", "." or "-", starting with a letter or digit');

export { email as emailAddress };

const signUpSchema = z.object({
  email: email.pipe(z.email({ message: 'must be an email address' })),
  password: newPassword,
  name: displayName(100),
  handle,
});

export interface AuthResult {
  token: string;
  user: User;
  /** The new session: the rest of this request may act as it. */
  viewer: Viewer;
}

/** Opens a new session for `user` and signs its token. */
export async function issueToken(rt: Runtime, user: User): Promise<AuthResult> {
  const expiresAt = new Date(Date.now() + rt.tokens.ttlSeconds * 1000);
  const session = await rt.prisma.session.create({ data: { userId: user.id, expiresAt } });
  rt.tokens.remember(session.id, user.id, expiresAt);
  const token = await new SignJWT({ sid: session.id })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(user.id)
    .setIssuedAt()
    .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
    .sign(rt.tokens.signingKey);
  return { token, user, viewer: { userId: user.id, sessionId: session.id } };
}

/** Creates an account and signs it in. Email and handle are unique (CONFLICT). */
export async function signUp(rt: Runtime, input: unknown): Promise<AuthResult> {
  const { email, password, name, handle } = parseInput(signUpSchema, input);
  const passwordHash = await hashPassword(password);
  let user: User;
  try {
    user = await rt.prisma.user.create({ data: { email, name, handle, passwordHash } });
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const taken = await rt.prisma.user.findFirst({ where: { email }, select: { id: true } });
    throw taken
      ? conflict('An account with this email already exists; log in instead.', 'email')
      : conflict(`The handle "${handle}" is taken; choose another.`, 'handle');
  }
  return issueToken(rt, user);
}

const logInSchema = z.object({
  email: email.pipe(z.string().min(1, 'must not be empty')),
  password: z.string().min(1, 'must not be empty').max(MAX_PASSWORD_LENGTH, `must be at most ${MAX_PASSWORD_LENGTH} characters`),
});

/** Signs in with email and password; a wrong pair is UNAUTHENTICATED, whichever half is wrong. */
export async function logIn(rt: Runtime, input: unknown): Promise<AuthResult> {
  const { email, password } = parseInput(logInSchema, input);
  const user = await rt.prisma.user.findUnique({ where: { email } });
  const ok = await verifyPassword(password, user?.passwordHash ?? (await dummyHash));
  if (!user || !ok) throw unauthenticated('Wrong email or password.');
  return issueToken(rt, user);
}

function broadcastRevocation(rt: Runtime, revocation: RevocationPayload): Promise<unknown> {
  return Promise.all([
    rt.pubsub.publish(topics.revocations(), revocation),
    rt.pubsub.publish(topics.user(revocation.userId), { type: 'SESSION_REVOKED', sessionId: revocation.sessionId }),
  ]);
}

/**
 * Tells every instance: session caches forget the session, open subscriptions
 * of it end. The revocation is already stored, so a failed broadcast is
 * logged, not thrown, and tried again every second until it gets through (or
 * until every cache has forgotten the session anyway). Instances whose own
 * pub/sub connection was down meanwhile stop trusting their caches until it is
 * back (see {@link watchRevocations}).
 */
export async function announceRevocation(rt: Runtime, revocation: RevocationPayload): Promise<void> {
  rt.tokens.forget(revocation);
  try {
    await broadcastRevocation(rt, revocation);
  } catch (error) {
    rt.log('warn', `auth: broadcasting the revocation of a session of user ${revocation.userId} failed; retrying`, error);
    rt.tokens.unannounced.push({ revocation, at: Date.now() });
  }
}

/** Broadcasts the revocations that failed before, oldest first, while that works. */
async function rebroadcast(rt: Runtime): Promise<void> {
  const pending = rt.tokens.unannounced;
  while (pending.length) {
    const { revocation, at } = pending[0]!;
    if (Date.now() - at < SESSION_CACHE_MS) {
      try {
        await broadcastRevocation(rt, revocation);
      } catch {
        return;
      }
      rt.log('info', `auth: broadcast the revocation of a session of user ${revocation.userId} after retrying`);
    }
    pending.shift();
  }
}

/** Revokes the viewer's session: its token stops working at once, everywhere. */
export async function logOut(rt: Runtime, viewer: Viewer): Promise<boolean> {
  await rt.prisma.session.updateMany({
    where: { id: viewer.sessionId, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  await announceRevocation(rt, { userId: viewer.userId, sessionId: viewer.sessionId });
  return true;
}

/** Revokes every session of the viewer's user (sign out everywhere). */
export async function logOutEverywhere(rt: Runtime, viewer: Viewer): Promise<number> {
  const { count } = await rt.prisma.session.updateMany({
    where: { userId: viewer.userId, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  await announceRevocation(rt, { userId: viewer.userId, sessionId: null });
  return count;
}

/**
 * Turns an `Authorization` value ("Bearer <token>") into a viewer. Throws
 * UNAUTHENTICATED for a malformed, forged, expired or revoked token.
 */
export async function authenticate(rt: Runtime, authorization: string): Promise<Viewer> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!match?.[1]) throw unauthenticated('The Authorization header must be "Bearer <token>".');
  const token = match[1];
  let claims = rt.tokens.verifiedClaims(token);
  if (!claims) {
    let payload: JWTPayload;
    try {
      ({ payload } = await jwtVerify(token, rt.tokens.signingKey, { algorithms: ['HS256'] }));
    } catch (error) {
      if (error instanceof joseErrors.JWTExpired) throw unauthenticated('Your token has expired; log in again.');
      throw unauthenticated('Your token is not valid; log in again.');
    }
    const { sub: userId, sid: sessionId, exp } = payload;
    if (typeof userId !== 'string' || typeof sessionId !== 'string' || typeof exp !== 'number') {
      throw unauthenticated('Your token is not valid; log in again.');
    }
    claims = { userId, sessionId, expiresAt: exp * 1000 };
    rt.tokens.rememberVerified(token, claims);
  }
  await assertSessionActive(rt, claims.sessionId, claims.userId);
  return { userId: claims.userId, sessionId: claims.sessionId };
}

/**
 * Keeps this instance's session cache in step with revocations on every
 * instance, and retries this instance's broadcasts that failed; returns the
 * listening to close on shutdown. While the pub/sub connection is down
 * revocations may be lost: the cache is bypassed, and emptied once the
 * connection is back.
 */
export function watchRevocations(rt: Runtime): Listening {
  const listening = rt.pubsub.listen(topics.revocations(), (revocation) => rt.tokens.forget(revocation), {
    onInterrupted: () => rt.tokens.suspend(),
    onResubscribed: () => rt.tokens.resume(),
  });
  let retrying: Promise<void> | null = null;
  const timer = setInterval(() => {
    if (retrying || rt.tokens.unannounced.length === 0) return;
    retrying = rebroadcast(rt).finally(() => (retrying = null));
  }, REBROADCAST_MS);
  timer.unref();
  return {
    ready: listening.ready,
    close: async () => {
      clearInterval(timer);
      await retrying;
      await listening.close();
    },
  };
}

/**
 * Throws UNAUTHENTICATED unless the session exists, is the user's, and is
 * neither revoked nor expired. Checked sessions are cached (revocations evict
 * them on every instance at once), so authenticating a request or a
 * subscription usually costs no query; while revocations cannot reach this
 * instance, it costs one.
 */
export async function assertSessionActive(rt: Runtime, sessionId: string, userId: string): Promise<void> {
  const cached = rt.tokens.recall(sessionId, userId);
  if (cached) {
    if (cached.expiresAt <= Date.now()) throw unauthenticated('Your token has expired; log in again.');
    return;
  }
  const checkedAt = Date.now();
  const session = await rt.prisma.session.findUnique({
    where: { id: sessionId },
    select: { userId: true, revokedAt: true, expiresAt: true },
  });
  if (!session || session.userId !== userId) throw unauthenticated('Your token is not valid; log in again.');
  if (session.revokedAt) throw unauthenticated('You have logged out on this device; log in again.');
  if (session.expiresAt.getTime() <= Date.now()) throw unauthenticated('Your token has expired; log in again.');
  rt.tokens.remember(sessionId, userId, session.expiresAt, checkedAt);
}
