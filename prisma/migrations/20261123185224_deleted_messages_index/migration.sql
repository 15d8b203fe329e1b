-- CreateIndex
CREATE INDEX "Message_channelId_deletedAt_idx" ON "Message"("channelId", "deletedAt");
