# Parley API image: one stateless instance. See docs/operations.md.
#
#   docker build -t parley .
#   docker run -p 4000:4000 -v parley-data:/app/data parley          # embedded PGlite
#   docker run -p 4000:4000 -e DATABASE_URL=... -e REDIS_URL=... -e JWT_SECRET=... parley
FROM node:20-bookworm-slim

WORKDIR /app

# Dependencies first, so a source change does not reinstall them. `prisma
# generate` (the postinstall script) needs the schema, prisma.config.ts and
# scripts/. Dependencies' own install scripts are skipped: the only one that
# matters, @prisma/engines', downloads a native schema engine that Parley does
# not use (migrations are applied by its own runner).
COPY package.json package-lock.json prisma.config.ts tsconfig.json ./
COPY prisma ./prisma
COPY scripts ./scripts
RUN npm ci --omit=dev --ignore-scripts --no-audit --no-fund \
 && npm run prisma:generate \
 && npm cache clean --force

COPY src ./src

# The web chat the server serves at / (src/server/web.ts): built here, from
# the SDK and its typed operations.
COPY client ./client
COPY web ./web
RUN npm run build:web

# The embedded database, the generated signing key and (without S3)
# attachments live in DATA_DIR; a named volume mounted here or at
# DATA_DIR/files inherits the ownership.
RUN mkdir -p /app/data/files && chown -R node:node /app/data

ENV NODE_ENV=production \
    HOST=0.0.0.0 \
    PORT=4000 \
    DATA_DIR=/app/data

USER node
EXPOSE 4000

# Liveness only (/healthz); orchestrators that route traffic should use /readyz.
HEALTHCHECK --interval=15s --timeout=5s --start-period=60s --retries=3 \
  CMD ["node", "-e", "fetch('http://127.0.0.1:'+(process.env.PORT||4000)+'/healthz').then(r=>process.exit(r.ok?0:1),()=>process.exit(1))"]

# What `npm start` runs, without npm, a shell and tsx's launcher in between:
# node is PID 1 and receives SIGTERM itself, so shutdown drains gracefully.
# (Sent to `npm start`, SIGTERM ends npm and its shell but never reaches the
# server, and the container would be killed without draining.)
CMD ["node", "--import", "tsx", "src/main.ts"]
