-- AlterTable
ALTER TABLE "Mention" ADD COLUMN     "replyNumber" INTEGER,
ADD COLUMN     "threadRootId" UUID;

-- AlterTable
ALTER TABLE "Message" ADD COLUMN     "replyNumber" INTEGER;

-- CreateTable
CREATE TABLE "ThreadMembership" (
    "rootId" UUID NOT NULL,
    "userId" UUID NOT NULL,
    "lastReadReplyNumber" INTEGER NOT NULL DEFAULT 0,
    "createdAt" TIMESTAMPTZ(3) NOT NULL DEFAULT CURRENT_TIMESTAMP,

    CONSTRAINT "ThreadMembership_pkey" PRIMARY KEY ("rootId","userId")
);

-- CreateIndex
CREATE INDEX "ThreadMembership_userId_idx" ON "ThreadMembership"("userId");

-- CreateIndex
CREATE INDEX "Mention_userId_threadRootId_replyNumber_idx" ON "Mention"("userId", "threadRootId", "replyNumber");

-- AddForeignKey
ALTER TABLE "ThreadMembership" ADD CONSTRAINT "ThreadMembership_rootId_fkey" FOREIGN KEY ("rootId") REFERENCES "Message"("id") ON DELETE CASCADE ON UPDATE CASCADE;

-- AddForeignKey
ALTER TABLE "ThreadMembership" ADD CONSTRAINT "ThreadMembership_userId_fkey" FOREIGN KEY ("userId") REFERENCES "User"("id") ON DELETE CASCADE ON UPDATE CASCADE;
