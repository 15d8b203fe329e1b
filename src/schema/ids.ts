import { decodeGlobalID, encodeGlobalID } from '@pothos/plugin-relay';
import { badInput, notFound } from '../errors.ts';
import { quote, UUID } from '../security/input.ts';

export type NodeTypename = 'User' | 'Workspace' | 'Channel' | 'Message' | 'Post' | 'Comment' | 'Notification' | 'Attachment';

/** Decodes any Parley ID: BAD_USER_INPUT when it is not one at all. */
export function decodeId(id: string): { typename: string; id: string } {
  const invalid = () => badInput(`${quote(id)} is not a valid ID.`);
  // Parley's IDs are under 60 characters; nothing longer is decoded.
  if (id.length > 200) throw invalid();
  let decoded: { typename: string; id: string };
  try {
    decoded = decodeGlobalID(id);
  } catch {
    throw invalid();
  }
  if (!UUID.test(decoded.id)) throw invalid();
  return decoded;
}

/**
 * The database id behind a global ID of the given type. An ID of another type
 * names nothing of this type: NOT_FOUND, like any id that does not exist.
 */
export function parseId(typename: NodeTypename, id: string): string {
  const decoded = decodeId(id);
  if (decoded.typename !== typename) throw notFound(typename);
  return decoded.id;
}

export function parseIds(typename: NodeTypename, ids: readonly string[]): string[] {
  return ids.map((id) => parseId(typename, id));
}

export { encodeGlobalID };
