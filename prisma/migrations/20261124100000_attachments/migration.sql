-- CreateTable
CREATE TABLE "Attachment" (
    "id" UUID NOT NULL,
    "workspaceId" UUID NOT NULL,
    "uploaderId" UUID NOT NULL,
    "name" TEXT NOT NULL,
    "contentType" TEXT NOT NULL,
    "size" INTEGER NOT NULL,
    "width" INTEGER,
    "height" INTEGER,
    "storageKey" TEXT NOT NULL,
    "thumbnailKey" TEXT,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,
    "uploadedAt" TIMESTAMPTZ(3),
    "messageId" UUID,
    "channelId" UUID,
    "position" INTEGER,
    "sharedAt" TIMESTAMPTZ(3),
    "deletedAt" TIMESTAMPTZ(3),

    CONSTRAINT "Attachment_pkey" PRIMARY KEY ("id")
);

-- CreateIndex
CREATE UNIQUE INDEX "Attachment_storageKey_key" ON "Attachment"("storageKey");

-- CreateIndex
CREATE INDEX "Attachment_messageId_createdAt_idx" ON "Attachment"("messageId", "createdAt");

-- CreateIndex
CREATE INDEX "Attachment_channelId_sharedAt_id_idx" ON "Attachment"("channelId", "sharedAt", "id");

-- CreateIndex
CREATE INDEX "Attachment_uploaderId_idx" ON "Attachment"("uploaderId");

-- CreateIndex
CREATE INDEX "Attachment_workspaceId_idx" ON "Attachment"("workspaceId");

-- AddForeignKey
ALTER TABLE "Attachment" ADD CONSTRAINT "Attachment_workspaceId_fkey" FOREIGN KEY ("workspaceId") REFERENCES "Workspace"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Attachment" ADD CONSTRAINT "Attachment_uploaderId_fkey" FOREIGN KEY ("uploaderId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Attachment" ADD CONSTRAINT "Attachment_messageId_fkey" FOREIGN KEY ("messageId") REFERENCES "Message"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "Attachment" ADD CONSTRAINT "Attachment_channelId_fkey" FOREIGN KEY ("channelId") REFERENCES "Channel"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- CreateFunction
-- sendMessage with attachments, still in one statement (see the
-- send_messages migration): locks the attachments the batch names (in id
-- order, before send_messages locks channels), refuses each item that names
-- one it may not attach, hands the rest to send_messages and attaches the
-- files of the messages it wrote. An item is refused (outcome
-- 'bad_attachment', nothing written) when one of its attachments does not
-- exist, was uploaded by someone else or to another workspace than the
-- channel's, has no bytes yet, was deleted, or was already sent with another
-- message. A file already sent with the author's message of the same
-- clientMessageId is a retry, not a refusal: send_messages answers it with
-- that message ('duplicate') and nothing is attached twice.
CREATE FUNCTION send_messages_with_attachments(items jsonb)
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
    v_refused int[];
    v_item jsonb;
BEGIN
    IF NOT EXISTS (
        SELECT 1 FROM jsonb_array_elements(items) e
         WHERE jsonb_array_length(coalesce(e->'attachmentIds', '[]'::jsonb)) > 0
    ) THEN
        RETURN QUERY SELECT * FROM send_messages(items);
        RETURN;
    END IF;

    PERFORM 1
       FROM "Attachment" a
      WHERE a.id IN (SELECT x.id::uuid
                       FROM jsonb_array_elements(items) e,
                            jsonb_array_elements_text(coalesce(e->'attachmentIds', '[]'::jsonb)) x(id))
      ORDER BY a.id
        FOR UPDATE;

    WITH claims AS (
        SELECT (e->>'i')::int AS i, (e->>'channelId')::uuid AS channel_id, (e->>'authorId')::uuid AS author_id,
               e->>'clientMessageId' AS client_id, x.id::uuid AS attachment_id
          FROM jsonb_array_elements(items) e,
               jsonb_array_elements_text(coalesce(e->'attachmentIds', '[]'::jsonb)) x(id)
    )
    SELECT coalesce(array_agg(DISTINCT c.i), ARRAY[]::int[]) INTO v_refused
      FROM claims c
      LEFT JOIN "Attachment" a ON a.id = c.attachment_id
      LEFT JOIN "Channel" ch ON ch.id = c.channel_id
      LEFT JOIN "Message" m ON m.id = a."messageId"
     WHERE a.id IS NULL
        OR ch.id IS NULL
        OR a."uploaderId" <> c.author_id
        OR a."workspaceId" <> ch."workspaceId"
        OR a."uploadedAt" IS NULL
        OR a."deletedAt" IS NOT NULL
        OR (a."messageId" IS NOT NULL
            AND (c.client_id IS NULL OR m."authorId" <> c.author_id OR m."clientMessageId" IS DISTINCT FROM c.client_id))
        -- An earlier item of this batch claims it too (and is not the same send retried).
        OR EXISTS (SELECT 1 FROM claims c2
                    WHERE c2.attachment_id = c.attachment_id AND c2.i < c.i
                      AND (c.client_id IS NULL OR c2.client_id IS DISTINCT FROM c.client_id OR c2.author_id <> c.author_id));

    FOR item IN SELECT unnest(v_refused) LOOP
        outcome := 'bad_attachment';
        message_seq := NULL;
        message_number := NULL;
        thread_root := NULL;
        reply_number := NULL;
        created_at := NULL;
        mentioned := ARRAY[]::text[];
        new_followers := ARRAY[]::text[];
        first_message := NULL;
        RETURN NEXT;
    END LOOP;

    FOR item, outcome, message_seq, message_number, thread_root, reply_number, created_at, mentioned, new_followers, first_message IN
        SELECT *
          FROM send_messages((SELECT coalesce(jsonb_agg(e), '[]'::jsonb)
                                FROM jsonb_array_elements(items) e
                               WHERE NOT ((e->>'i')::int = ANY (v_refused))))
    LOOP
        IF outcome = 'sent' THEN
            SELECT e INTO v_item FROM jsonb_array_elements(items) e WHERE (e->>'i')::int = item;
            UPDATE "Attachment" a
               SET "messageId" = (v_item->>'id')::uuid,
                   "channelId" = (v_item->>'channelId')::uuid,
                   position = x.ord - 1,
                   "sharedAt" = created_at
              FROM jsonb_array_elements_text(coalesce(v_item->'attachmentIds', '[]'::jsonb)) WITH ORDINALITY x(id, ord)
             WHERE a.id = x.id::uuid;
        END IF;
        RETURN NEXT;
    END LOOP;
END
$$;
