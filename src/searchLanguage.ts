import type { Database } from './db.ts';

/*
 * SEARCH_LANGUAGE: which language's stemming search uses. Every search index
 * and query reads the text search configuration `parley_search` (migration
 * 20261124110000_search); its comment records the language it was built
 * for. At start, when SEARCH_LANGUAGE names another, its word mappings are
 * copied from Postgres's built-in configuration of that name (keeping the
 * unaccent filter where it is installed) and the search indexes are rebuilt,
 * under a transaction-scoped advisory lock so that instances starting
 * together do it one after the other.
 */

/** The search indexes built over `parley_search`. */
const SEARCH_INDEXES = ['Message_search_idx', 'Post_search_idx', 'Comment_search_idx'];
/** Token types whose words may carry accents: unaccent runs before their stemmer. */
const ACCENTED_TOKENS = new Set(['word', 'hword', 'hword_part']);
/** Any constant of our own: "parley search" in ASCII. */
const LOCK_KEY = 0x7061_7273;

interface Mapping {
  alias: string;
  dicts: string;
}

const mappingsOf = (db: Database, config: string) =>
  db.sql<Mapping>(
    `SELECT t.alias, string_agg(m.mapdict::regdictionary::text, ', ' ORDER BY m.mapseqno) AS dicts
       FROM pg_ts_config_map m
       JOIN pg_ts_config c ON c.oid = m.mapcfg
       JOIN ts_token_type(c.cfgparser) t ON t.tokid = m.maptokentype
      WHERE m.mapcfg = $1::regconfig
      GROUP BY t.alias`,
    [config],
  );

/**
 * Makes `parley_search` stem for `language` (a built-in Postgres text search
 * configuration such as `english`, `french` or `simple`), rebuilding the
 * search indexes when it changes. Throws, naming the choices, for a
 * configuration Postgres does not have.
 */
export async function applySearchLanguage(db: Database, language: string, log: (line: string) => void): Promise<void> {
  const [current] = await db.sql<{ language: string | null }>(
    `SELECT obj_description('parley_search'::regconfig, 'pg_ts_config') AS language`,
  );
  if (current?.language === language) return;
  const builtIn = await db.sql<{ name: string }>(
    `SELECT cfgname AS name FROM pg_ts_config WHERE cfgnamespace = 'pg_catalog'::regnamespace ORDER BY cfgname`,
  );
  if (!builtIn.some((c) => c.name === language)) {
    throw new Error(
      `SEARCH_LANGUAGE=${language}: Postgres has no text search configuration of that name; choose one of ${builtIn.map((c) => c.name).join(', ')}.`,
    );
  }
  const ours = await mappingsOf(db, 'parley_search');
  const unaccent = ours.flatMap((m) => m.dicts.split(', ')).find((dict) => /(^|\.)unaccent$/.test(dict));
  const wanted = await mappingsOf(db, `pg_catalog.${language}`);
  const statements = [
    `SELECT pg_advisory_xact_lock(${LOCK_KEY})`,
    ...wanted.map(
      ({ alias, dicts }) =>
        `ALTER TEXT SEARCH CONFIGURATION parley_search ALTER MAPPING FOR ${alias} WITH ${unaccent && ACCENTED_TOKENS.has(alias) ? `${unaccent}, ` : ''}${dicts}`,
    ),
    ...ours
      .filter((m) => !wanted.some((w) => w.alias === m.alias))
      .map((m) => `ALTER TEXT SEARCH CONFIGURATION parley_search DROP MAPPING IF EXISTS FOR ${m.alias}`),
    ...SEARCH_INDEXES.map((index) => `REINDEX INDEX "${index}"`),
    `COMMENT ON TEXT SEARCH CONFIGURATION parley_search IS '${language}'`,
  ];
  log(`search: switching the search language from ${current?.language ?? 'unknown'} to ${language} and rebuilding the search indexes`);
  await db.executeSql(`BEGIN;\n${statements.join(';\n')};\nCOMMIT;`);
}
