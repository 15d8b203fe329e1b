import fs from 'node:fs';
import { z } from 'zod';

/** The shortest password accepted. */
export const MIN_PASSWORD_LENGTH = 10;
export const MAX_PASSWORD_LENGTH = 1024;

const common = new Set(
  fs
    .readFileSync(new URL('./common-passwords.txt', import.meta.url), 'utf8')
    .split('\n')
    .map((line) => line.trim().toLowerCase())
    .filter((line) => line && !line.startsWith('#')),
);

/** Whether a password is on the shipped list of the most common ones (any case). */
export const isCommonPassword = (password: string) => common.has(password.trim().toLowerCase());

/**
 * A new password: 10 to 1,024 characters, not only white space, not one
 * character repeated, not a common password. Checked before hashing, so
 * nothing is stored for a refused one.
 */
export const newPassword = z.string().transform((password, ctx) => {
  const fail = (message: string) => {
    ctx.addIssue({ code: 'custom', message });
    return z.NEVER;
  };
  if (password.length > MAX_PASSWORD_LENGTH) return fail(`must be at most ${MAX_PASSWORD_LENGTH} characters`);
  if ([...password].length < MIN_PASSWORD_LENGTH) return fail(`must be at least ${MIN_PASSWORD_LENGTH} characters`);
  if (password.trim().length === 0) return fail('must not be only white space');
  if (new Set(password).size === 1) return fail('must not be one character repeated');
  if (isCommonPassword(password)) return fail('is one of the most common passwords; choose another');
  return password;
});
