-- A profile picture: one of the user's own uploads.
ALTER TABLE "User" ADD COLUMN "avatarId" UUID;

ALTER TABLE "User" ADD CONSTRAINT "User_avatarId_fkey" FOREIGN KEY ("avatarId") REFERENCES "Attachment"("id") ON DELETE SET NULL ON UPDATE CASCADE;
