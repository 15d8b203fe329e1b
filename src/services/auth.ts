import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';
import { promisify } from 'node:util';
import { jwtVerify, SignJWT, errors as joseErrors } from 'jose';
import { z } from 'zod';
import type { Config } from '../config.ts';
import { prisma } from '../db.ts';
import { pubsub, topics, type Listening, type RevocationPayload } from '../pubsub.ts';
import { conflict, isUniqueViolation, parseInput, unauthenticated } from '../errors.ts';
import type { User } from '../generated/prisma/client.ts';

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

async function hashPassword(password: string): Promise<string> {
  const salt = crypto.randomBytes(16);
  const hash = await scrypt(password, salt, KDF.keylen, { N: KDF.N, r: KDF.r, p: KDF.p, maxmem: 128 * KDF.N * KDF.r * 2 });
  return `scrypt$${KDF.N}$${KDF.r}$${KDF.p}$${salt.toString('base64')}$${hash.toString('base64')}`;
}

async function verifyPassword(password: string, stored: string): Promise<boolean> {
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

let signingKey: Uint8Array;
let tokenTtlSeconds = 30 * 24 * 3600;

/**
 * Loads the token signing key: JWT_SECRET, or one generated once and kept in
 * DATA_DIR (fine for a single instance; several instances must share JWT_SECRET).
 */
export function configureTokens(config: Config): void {
  tokenTtlSeconds = config.tokenTtlSeconds;
  if (config.jwtSecret) {
    signingKey = new TextEncoder().encode(config.jwtSecret);
    return;
  }
  const file = path.join(config.dataDir, 'jwt-secret');
  fs.mkdirSync(config.dataDir, { recursive: true });
  try {
    fs.writeFileSync(file, crypto.randomBytes(48).toString('base64url'), { flag: 'wx', mode: 0o600 });
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code !== 'EEXIST') throw error;
  }
  signingKey = new TextEncoder().encode(fs.readFileSync(file, 'utf8').trim());
}

const signUpSchema = z.object({
  email: z.string().trim().toLowerCase().pipe(z.email({ message: 'must be an email address' })).pipe(z.string().max(254)),
  password: z.string().min(8, 'must be at least 8 characters').max(1024, 'must be at most 1024 characters'),
  name: z.string().trim().min(1, 'must not be empty').max(100, 'must be at most 100 characters'),
  handle: z
    .string()
    .trim()
    .toLowerCase()
    .regex(/^[a-z0-9][a-z0-9_.-]{1,29}$/, 'must be 2 to 30 letters, digits, "_", "." or "-", starting with a letter or digit'),
});

export interface AuthResult {
  token: string;
  user: User;
  /** The new session: the rest of this request may act as it. */
  viewer: Viewer;
}

async function issueToken(user: User): Promise<AuthResult> {
  const expiresAt = new Date(Date.now() + tokenTtlSeconds * 1000);
  const session = await prisma.session.create({ data: { userId: user.id, expiresAt } });
  cacheSession(session.id, user.id, expiresAt);
  const token = await new SignJWT({ sid: session.id })
    .setProtectedHeader({ alg: 'HS256' })
    .setSubject(user.id)
    .setIssuedAt()
    .setExpirationTime(Math.floor(expiresAt.getTime() / 1000))
    .sign(signingKey);
  return { token, user, viewer: { userId: user.id, sessionId: session.id } };
}

/** Creates an account and signs it in. Email and handle are unique (CONFLICT). */
export async function signUp(input: unknown): Promise<AuthResult> {
  const { email, password, name, handle } = parseInput(signUpSchema, input);
  const passwordHash = await hashPassword(password);
  let user: User;
  try {
    user = await prisma.user.create({ data: { email, name, handle, passwordHash } });
  } catch (error) {
    if (!isUniqueViolation(error)) throw error;
    const taken = await prisma.user.findFirst({ where: { email }, select: { id: true } });
    throw taken
      ? conflict('An account with this email already exists; log in instead.', 'email')
      : conflict(`The handle "${handle}" is taken; choose another.`, 'handle');
  }
  return issueToken(user);
}

const logInSchema = z.object({
  email: z.string().trim().toLowerCase().min(1, 'must not be empty'),
  password: z.string().min(1, 'must not be empty').max(1024),
});

/** Signs in with email and password; a wrong pair is UNAUTHENTICATED, whichever half is wrong. */
export async function logIn(input: unknown): Promise<AuthResult> {
  const { email, password } = parseInput(logInSchema, input);
  const user = await prisma.user.findUnique({ where: { email } });
  const ok = await verifyPassword(password, user?.passwordHash ?? (await dummyHash));
  if (!user || !ok) throw unauthenticated('Wrong email or password.');
  return issueToken(user);
}

/** Tells every instance: session caches forget the session, open subscriptions of it end. */
async function announceRevocation(revocation: RevocationPayload): Promise<void> {
  forgetSessions(revocation);
  await Promise.all([
    pubsub.publish(topics.revocations(), revocation),
    pubsub.publish(topics.user(revocation.userId), { type: 'SESSION_REVOKED', sessionId: revocation.sessionId }),
  ]);
}

/** Revokes the viewer's session: its token stops working at once, everywhere. */
export async function logOut(viewer: Viewer): Promise<boolean> {
  await prisma.session.updateMany({
    where: { id: viewer.sessionId, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  await announceRevocation({ userId: viewer.userId, sessionId: viewer.sessionId });
  return true;
}

/** Revokes every session of the viewer's user (sign out everywhere). */
export async function logOutEverywhere(viewer: Viewer): Promise<number> {
  const { count } = await prisma.session.updateMany({
    where: { userId: viewer.userId, revokedAt: null },
    data: { revokedAt: new Date() },
  });
  await announceRevocation({ userId: viewer.userId, sessionId: null });
  return count;
}

/**
 * Turns an `Authorization` value ("Bearer <token>") into a viewer. Throws
 * UNAUTHENTICATED for a malformed, forged, expired or revoked token.
 */
export async function authenticate(authorization: string): Promise<Viewer> {
  const match = /^Bearer\s+(\S+)\s*$/i.exec(authorization);
  if (!match?.[1]) throw unauthenticated('The Authorization header must be "Bearer <token>".');
  let subject: string | undefined;
  let sessionId: unknown;
  try {
    const { payload } = await jwtVerify(match[1], signingKey, { algorithms: ['HS256'] });
    subject = payload.sub;
    sessionId = payload.sid;
  } catch (error) {
    if (error instanceof joseErrors.JWTExpired) throw unauthenticated('Your token has expired; log in again.');
    throw unauthenticated('Your token is not valid; log in again.');
  }
  if (typeof subject !== 'string' || typeof sessionId !== 'string') {
    throw unauthenticated('Your token is not valid; log in again.');
  }
  await assertSessionActive(sessionId, subject);
  return { userId: subject, sessionId };
}

/** Sessions this instance has checked recently: sessionId → owner and expiry. */
const sessionCache = new Map<string, { userId: string; expiresAt: number; checkedAt: number }>();
/** How long a checked session is trusted without asking the database again. */
const SESSION_CACHE_MS = 60_000;
const SESSION_CACHE_MAX = 100_000;

function cacheSession(sessionId: string, userId: string, expiresAt: Date): void {
  // Maps keep insertion order: the first entries are the oldest.
  if (sessionCache.size >= SESSION_CACHE_MAX) sessionCache.delete(sessionCache.keys().next().value!);
  sessionCache.set(sessionId, { userId, expiresAt: expiresAt.getTime(), checkedAt: Date.now() });
}

/** Drops revoked sessions from this instance's cache (called for every revocation, from any instance). */
export function forgetSessions({ userId, sessionId }: RevocationPayload): void {
  if (sessionId) sessionCache.delete(sessionId);
  else for (const [id, entry] of sessionCache) if (entry.userId === userId) sessionCache.delete(id);
}

/**
 * Keeps this instance's session cache in step with revocations on every
 * instance; returns the listening to close on shutdown.
 */
export function watchRevocations(): Listening {
  sessionCache.clear();
  return pubsub.listen(topics.revocations(), forgetSessions);
}

/**
 * Throws UNAUTHENTICATED unless the session exists, is the user's, and is
 * neither revoked nor expired. Checked sessions are cached (revocations evict
 * them on every instance at once), so authenticating a request or a
 * subscription usually costs no query.
 */
export async function assertSessionActive(sessionId: string, userId: string): Promise<void> {
  const cached = sessionCache.get(sessionId);
  if (cached && cached.userId === userId && Date.now() - cached.checkedAt < SESSION_CACHE_MS) {
    if (cached.expiresAt <= Date.now()) throw unauthenticated('Your token has expired; log in again.');
    return;
  }
  const session = await prisma.session.findUnique({
    where: { id: sessionId },
    select: { userId: true, revokedAt: true, expiresAt: true },
  });
  if (!session || session.userId !== userId) throw unauthenticated('Your token is not valid; log in again.');
  if (session.revokedAt) throw unauthenticated('You have logged out on this device; log in again.');
  if (session.expiresAt.getTime() <= Date.now()) throw unauthenticated('Your token has expired; log in again.');
  cacheSession(sessionId, userId, session.expiresAt);
}
