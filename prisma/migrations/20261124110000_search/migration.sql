-- Full-text search (src/services/search.ts). schema.prisma cannot declare
-- text search configurations or expression indexes, so they live here only.

-- The text search configuration every search index and query uses: English
-- stemming, plus accent folding where the unaccent extension can be had
-- (Postgres ships it in contrib; the embedded PGlite loads it; a database
-- without it searches with accents significant). The extension goes into
-- "public" so that dropping one application schema never drops it from under
-- another; SEARCH_LANGUAGE re-maps the stemmer at start (src/searchLanguage.ts).
DO $$
DECLARE
    ext_schema text;
BEGIN
    SELECT n.nspname INTO ext_schema
      FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
     WHERE e.extname = 'unaccent';
    IF ext_schema IS NULL THEN
        BEGIN
            CREATE EXTENSION unaccent SCHEMA public;
            ext_schema := 'public';
        EXCEPTION WHEN OTHERS THEN
            -- Not available here, or another database user installed it meanwhile.
            SELECT n.nspname INTO ext_schema
              FROM pg_extension e JOIN pg_namespace n ON n.oid = e.extnamespace
             WHERE e.extname = 'unaccent';
        END;
    END IF;
    CREATE TEXT SEARCH CONFIGURATION parley_search (COPY = pg_catalog.english);
    IF ext_schema IS NOT NULL THEN
        EXECUTE format(
            'ALTER TEXT SEARCH CONFIGURATION parley_search ALTER MAPPING FOR hword, hword_part, word WITH %I.unaccent, english_stem',
            ext_schema);
    END IF;
    COMMENT ON TEXT SEARCH CONFIGURATION parley_search IS 'english';
END
$$;

-- GIN indexes over the same expression the queries use, so an edit or a
-- delete is searchable (or gone) the moment it commits.
CREATE INDEX "Message_search_idx" ON "Message" USING GIN (to_tsvector('parley_search'::regconfig, "text"));
CREATE INDEX "Post_search_idx" ON "Post" USING GIN (to_tsvector('parley_search'::regconfig, "text"));
CREATE INDEX "Comment_search_idx" ON "Comment" USING GIN (to_tsvector('parley_search'::regconfig, "text"));

-- Prefix lookups for mention pickers and channel pickers (lower(x) LIKE 'abc%'),
-- whatever the database's collation.
CREATE INDEX "User_handle_prefix_idx" ON "User" (lower("handle") text_pattern_ops);
CREATE INDEX "User_name_prefix_idx" ON "User" (lower("name") text_pattern_ops);
CREATE INDEX "Channel_name_prefix_idx" ON "Channel" ("workspaceId", lower("name") text_pattern_ops);
