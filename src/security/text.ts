import { z } from 'zod';
import { LONE_SURROGATE } from './input.ts';

/**
 * Characters that show nothing on their own: white space, format characters
 * (zero-width spaces and joiners, bidi controls, soft hyphens: \p{Cf}),
 * combining marks without a base, and the letters that render blank (Hangul
 * fillers, the braille blank).
 */
const INVISIBLE = /^[\s\p{Z}\p{Cf}\p{Mn}\p{Me}\u115F\u1160\u3164\uFFA0\u2800]*$/u;
/** Bidi embeddings, overrides and isolates: in a name they reorder what others see around it. */
const BIDI_CONTROL = /[\u202A-\u202E\u2066-\u2069]/;
/** C0 and C1 controls other than tab, line feed and carriage return. */
const CONTROL = /[\u0000-\u0008\u000B\u000C\u000E-\u001F\u007F-\u009F]/;

/** Whether the text shows anything at all. */
export const isVisible = (text: string) => !INVISIBLE.test(text);

/** Counts characters as people do (code points), not UTF-16 units. */
export const characterCount = (text: string) => {
  let count = 0;
  for (const _ of text) count++;
  return count;
};

/**
 * A string schema whose checks run cheapest first and stop at the first
 * failure: its size in UTF-16 units (every character is at least one, so
 * more than 2 × `max` units is over `max` characters before anything is
 * counted), then characters, then what it contains. No pattern ever runs over
 * a string too long to accept.
 */
function checkedText(options: { max: number; name: boolean; trim: boolean }) {
  const { max, name, trim } = options;
  return z
    .string()
    .transform((value, ctx) => {
      const fail = (message: string) => {
        ctx.addIssue({ code: 'custom', message });
        return z.NEVER;
      };
      const limit = `must be at most ${max.toLocaleString('en')} characters`;
      if (value.length > max * 2) return fail(limit);
      const text = trim ? value.trim() : value;
      if (characterCount(text) > max) return fail(limit);
      if (LONE_SURROGATE.test(text)) return fail('must be valid Unicode text (it has a lone surrogate)');
      if (name ? CONTROL.test(text) || /[\n\r\t]/.test(text) : CONTROL.test(text)) {
        return fail(name ? 'must not contain control characters or line breaks' : 'must not contain control characters');
      }
      if (text.trim().length === 0) return fail('must not be empty or only white space');
      if (!isVisible(text)) return fail('must contain visible characters');
      if (name && BIDI_CONTROL.test(text)) return fail('must not contain bidirectional override or isolate characters');
      return text;
    });
}

/** A name people see (user, workspace, channel): trimmed, one line, visible, no bidi controls. */
export const displayName = (max: number) => checkedText({ max, name: true, trim: true });

/** Free text (a message): kept as written, visible, no control characters other than tab and line breaks. */
export const bodyText = (max: number) => checkedText({ max, name: false, trim: false });
