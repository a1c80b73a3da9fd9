# Builds the single binary, then ships it alone on a small base image.
FROM oven/bun:1.4 AS build
WORKDIR /src
COPY package.json bun.lock ./
RUN bun install --frozen-lockfile
COPY tsconfig.json bunfig.toml ./
COPY src ./src
RUN bun run build

FROM debian:bookworm-slim
WORKDIR /app
COPY --from=build /src/dist/sendbuddy-chat /app/sendbuddy-chat
USER nobody
ENV NODE_ENV=production HOST=0.0.0.0 PORT=8000
EXPOSE 8000
ENTRYPOINT ["/app/sendbuddy-chat"]
CMD ["serve"]
