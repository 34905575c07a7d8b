# Volley on CPU. Build: docker build -t volley .   Run: docker run -p 8000:8000 -p 8001:8001 volley (HTTP, gRPC)
# (Not built in CI: the development machines have no Docker engine.)
FROM node:20-bookworm-slim AS build
WORKDIR /app
COPY package.json package-lock.json .npmrc tsconfig.json ./
COPY src ./src
RUN npm ci && npm prune --omit=dev

FROM node:20-bookworm-slim
WORKDIR /app
ENV NODE_ENV=production
COPY --from=build /app/node_modules ./node_modules
COPY --from=build /app/dist ./dist
COPY package.json ./
COPY bin ./bin
COPY proto ./proto
COPY models ./models
EXPOSE 8000 8001
USER node
# The V8 flags: see README "Node flags" (a small live heap under a high allocation rate otherwise
# gets full mark-compacts as often as every ~0.2 s).
ENTRYPOINT ["node", "--initial-old-space-size=64", "--max-semi-space-size=32", "bin/volley.js", "serve"]
CMD ["--model-repository", "/app/models", "--port", "8000", "--grpc-port", "8001"]
