-- AlterTable
ALTER TABLE "Membership" ADD COLUMN     "lastReadAt" TIMESTAMPTZ(3);

-- CreateTable
CREATE TABLE "ReadMark" (
    "channelId" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "number" INTEGER NOT NULL,
    "readAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ReadMark_pkey" PRIMARY KEY ("channelId","userId","number")
);

-- AddForeignKey
ALTER TABLE "ReadMark" ADD CONSTRAINT "ReadMark_channelId_userId_fkey" FOREIGN KEY ("channelId", "userId") REFERENCES "Membership"("channelId", "userId") ON DELETE CASCADE ON UPDATE CASCADE;

-- Every forward move of a member's channel read position (markRead, posting,
-- joining with history marked read) is recorded with its time, whichever
-- code path moved it: read receipts ask when a member's position first reached
-- a message. BEFORE: stamps Membership.lastReadAt; AFTER: writes the ReadMark.
CREATE FUNCTION parley_read_position() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NEW."lastReadNumber" <= 0 OR (TG_OP = 'UPDATE' AND NEW."lastReadNumber" <= OLD."lastReadNumber") THEN
        RETURN NEW;
    END IF;
    IF TG_WHEN = 'BEFORE' THEN
        NEW."lastReadAt" := now();
        RETURN NEW;
    END IF;
    INSERT INTO "ReadMark" ("channelId", "userId", "number", "readAt")
    VALUES (NEW."channelId", NEW."userId", NEW."lastReadNumber", NEW."lastReadAt")
    ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;

CREATE TRIGGER "Membership_read_at" BEFORE INSERT OR UPDATE OF "lastReadNumber" ON "Membership"
    FOR EACH ROW EXECUTE FUNCTION parley_read_position();
CREATE TRIGGER "Membership_read_mark" AFTER INSERT OR UPDATE OF "lastReadNumber" ON "Membership"
    FOR EACH ROW EXECUTE FUNCTION parley_read_position();

-- Positions reached before receipts existed: when the member last marked the
-- channel read, or else when they joined.
UPDATE "Membership" m SET "lastReadAt" = coalesce(
    (SELECT max(e."createdAt") FROM "ChannelEvent" e
      WHERE e."channelId" = m."channelId" AND e."userId" = m."userId" AND e."type" = 'READ'),
    m."joinedAt")
 WHERE m."lastReadNumber" > 0;
INSERT INTO "ReadMark" ("channelId", "userId", "number", "readAt")
SELECT "channelId", "userId", "lastReadNumber", "lastReadAt" FROM "Membership" WHERE "lastReadNumber" > 0;
