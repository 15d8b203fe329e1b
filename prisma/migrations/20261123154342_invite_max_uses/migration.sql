-- AlterTable
ALTER TABLE "WorkspaceInvite" ADD COLUMN     "maxUses" INTEGER;
