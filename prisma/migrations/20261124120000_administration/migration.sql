-- AlterEnum
ALTER TYPE "WorkspaceRole" ADD VALUE 'GUEST';

-- AlterTable
ALTER TABLE "Channel" ADD COLUMN     "archivedAt" TIMESTAMPTZ(3),
ADD COLUMN     "purpose" TEXT,
ADD COLUMN     "topic" TEXT;

-- AlterTable
ALTER TABLE "User" ADD COLUMN     "deletedAt" TIMESTAMPTZ(3),
ADD COLUMN     "statusExpiresAt" TIMESTAMPTZ(3),
ADD COLUMN     "statusText" TEXT,
ADD COLUMN     "timeZone" TEXT;

-- CreateTable
CREATE TABLE "PasswordReset" (
    "id" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "tokenHash" TEXT NOT NULL,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "expiresAt" TIMESTAMPTZ(3) NOT NULL,
    "usedAt" TIMESTAMPTZ(3),

    CONSTRAINT "PasswordReset_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "PasswordReset_tokenHash_key" ON "PasswordReset"("tokenHash");

-- CreateIndex
CREATE INDEX "PasswordReset_userId_idx" ON "PasswordReset"("userId");

-- AddForeignKey
ALTER TABLE "PasswordReset" ADD CONSTRAINT "PasswordReset_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- CreateFunction
-- send_messages as in 20261123160000_send_messages, with one more outcome:
--   archived    the channel is archived (read-only); nothing is written
CREATE OR REPLACE FUNCTION send_messages(items jsonb)
RETURNS TABLE (
    item int,
    outcome text,
    message_seq int,
    message_number int,
    thread_root uuid,
    reply_number int,
    created_at timestamptz,
    mentioned text[],
    new_followers text[],
    first_message jsonb
)
LANGUAGE plpgsql
AS $$
#variable_conflict use_column
DECLARE
    r record;
    v_workspace uuid;
    v_last_seq int;
    v_message_count int;
    v_target_channel uuid;
    v_target_root uuid;
    v_root_author uuid;
    v_first "Message"%ROWTYPE;
    v_archived timestamptz;
BEGIN
    FOR r IN
        SELECT *
          FROM jsonb_to_recordset(items) AS x(
                   i int, id uuid, "channelId" uuid, "authorId" uuid, text text,
                   "clientMessageId" text, "threadRootId" uuid, handles text[])
         ORDER BY x."channelId", x.i
    LOOP
        item := r.i;
        outcome := NULL;
        message_seq := NULL;
        message_number := NULL;
        thread_root := NULL;
        reply_number := NULL;
        created_at := NULL;
        mentioned := ARRAY[]::text[];
        new_followers := ARRAY[]::text[];
        first_message := NULL;

        -- Lock first: the channel's row lock serialises its writers, so the
        -- clientMessageId lookup below cannot race a retry, and no sequence
        -- number is taken for a duplicate.
        SELECT c."workspaceId", c."lastSeq", c."messageCount", c."archivedAt"
          INTO v_workspace, v_last_seq, v_message_count, v_archived
          FROM "Channel" c
         WHERE c.id = r."channelId"
           FOR NO KEY UPDATE;
        IF NOT FOUND
           OR NOT EXISTS (SELECT 1 FROM "Membership" m WHERE m."channelId" = r."channelId" AND m."userId" = r."authorId")
           OR NOT EXISTS (SELECT 1 FROM "WorkspaceMember" w WHERE w."workspaceId" = v_workspace AND w."userId" = r."authorId")
        THEN
            outcome := 'not_member';
            RETURN NEXT;
            CONTINUE;
        END IF;
        -- Checked under the channel's row lock, which archiving also takes:
        -- no send commits after the channel was archived.
        IF v_archived IS NOT NULL THEN
            outcome := 'archived';
            RETURN NEXT;
            CONTINUE;
        END IF;

        IF r."clientMessageId" IS NOT NULL THEN
            SELECT * INTO v_first FROM "Message" m
             WHERE m."authorId" = r."authorId" AND m."clientMessageId" = r."clientMessageId";
            IF FOUND THEN
                outcome := CASE WHEN v_first."channelId" = r."channelId" THEN 'duplicate' ELSE 'conflict' END;
                first_message := to_jsonb(v_first);
                RETURN NEXT;
                CONTINUE;
            END IF;
        END IF;

        -- A reply to a reply joins the root's thread; the root's row lock
        -- numbers the thread's replies.
        IF r."threadRootId" IS NOT NULL THEN
            SELECT m."channelId", m."threadRootId" INTO v_target_channel, v_target_root
              FROM "Message" m WHERE m.id = r."threadRootId";
            IF NOT FOUND OR v_target_channel <> r."channelId" THEN
                outcome := 'no_root';
                RETURN NEXT;
                CONTINUE;
            END IF;
            thread_root := coalesce(v_target_root, r."threadRootId");
            SELECT m."replyCount" + 1, m."authorId" INTO reply_number, v_root_author
              FROM "Message" m WHERE m.id = thread_root
               FOR NO KEY UPDATE;
        ELSE
            message_number := v_message_count + 1;
        END IF;

        message_seq := v_last_seq + 1;
        created_at := clock_timestamp()::timestamptz(3);
        INSERT INTO "Message" (id, "channelId", seq, number, "authorId", text, "clientMessageId", "threadRootId", "replyNumber", "createdAt")
        VALUES (r.id, r."channelId", message_seq, message_number, r."authorId", r.text, r."clientMessageId", thread_root, reply_number, created_at)
        ON CONFLICT ("authorId", "clientMessageId") DO NOTHING;
        IF NOT FOUND THEN
            -- A retry with the same key committed first in another transaction
            -- (another batch, another instance): answer with its message.
            SELECT * INTO STRICT v_first FROM "Message" m
             WHERE m."authorId" = r."authorId" AND m."clientMessageId" = r."clientMessageId";
            outcome := CASE WHEN v_first."channelId" = r."channelId" THEN 'duplicate' ELSE 'conflict' END;
            first_message := to_jsonb(v_first);
            message_seq := NULL;
            message_number := NULL;
            thread_root := NULL;
            reply_number := NULL;
            created_at := NULL;
            RETURN NEXT;
            CONTINUE;
        END IF;

        UPDATE "Channel"
           SET "lastSeq" = message_seq, "messageCount" = coalesce(message_number, "messageCount")
         WHERE id = r."channelId";

        IF cardinality(r.handles) > 0 THEN
            WITH inserted AS (
                INSERT INTO "Mention" ("messageId", "userId", "channelId", number, "threadRootId", "replyNumber", "createdAt")
                SELECT r.id, m."userId", r."channelId", message_number, thread_root, reply_number, created_at
                  FROM "Membership" m
                  JOIN "User" u ON u.id = m."userId"
                 WHERE m."channelId" = r."channelId" AND m."userId" <> r."authorId" AND u.handle = ANY (r.handles)
                RETURNING "userId"
            )
            SELECT coalesce(array_agg("userId"::text), ARRAY[]::text[]) INTO mentioned FROM inserted;
        END IF;

        -- The same data as recordEvents writes, so replay rebuilds the same payload.
        INSERT INTO "ChannelEvent" ("channelId", seq, type, "messageId", "userId", data, "createdAt")
        VALUES (r."channelId", message_seq, 'MESSAGE_ADDED', r.id, r."authorId",
                jsonb_strip_nulls(jsonb_build_object(
                    'number', message_number,
                    'threadRootId', thread_root,
                    'replyNumber', reply_number,
                    'mentions', CASE WHEN cardinality(mentioned) > 0 THEN to_jsonb(mentioned) END)),
                created_at);

        IF thread_root IS NOT NULL THEN
            UPDATE "Message" SET "replyCount" = reply_number WHERE id = thread_root;
            -- The replier, the root's author and those mentioned follow the
            -- thread; the replier has read it up to their own reply.
            WITH fresh AS (
                INSERT INTO "ThreadMembership" ("rootId", "userId", "lastReadReplyNumber")
                SELECT thread_root, everyone.u, CASE WHEN everyone.u = r."authorId" THEN reply_number ELSE 0 END
                  FROM (SELECT DISTINCT unnest(ARRAY[r."authorId", v_root_author] || mentioned::uuid[]) AS u) AS everyone
                ON CONFLICT ("rootId", "userId") DO NOTHING
                RETURNING "userId"
            )
            SELECT coalesce(array_agg("userId"::text), ARRAY[]::text[]) INTO new_followers FROM fresh;
            UPDATE "ThreadMembership" SET "lastReadReplyNumber" = reply_number
             WHERE "rootId" = thread_root AND "userId" = r."authorId" AND "lastReadReplyNumber" < reply_number;
        ELSE
            -- Posting in a channel means having read it up to one's own message.
            UPDATE "Membership" SET "lastReadNumber" = message_number, "lastReadSeq" = message_seq
             WHERE "channelId" = r."channelId" AND "userId" = r."authorId";
        END IF;

        outcome := 'sent';
        RETURN NEXT;
    END LOOP;
END
$$;
