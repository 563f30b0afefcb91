# The otel-flight-recorder demo: a traced HTTP service under built-in load.
# docker-compose.yml builds this and points OTEL_EXPORTER_OTLP_ENDPOINT at the collector.
FROM node:20.20.2-slim

WORKDIR /app

# Dependencies first, so source edits reuse this layer. devDependencies are
# needed: the demo runs TypeScript through tsx and uses the OpenTelemetry SDK.
COPY package.json package-lock.json ./
RUN npm ci --no-audit --no-fund && npm cache clean --force

COPY . .

# Snapshot files go here (mount a volume to keep them); the service listens on
# all interfaces so the published port reaches it.
RUN mkdir -p /app/flight-recorder-snapshots && chown node:node /app/flight-recorder-snapshots
ENV HOST=0.0.0.0 \
    PORT=8080 \
    FLIGHT_RECORDER_SNAPSHOT_DIR=/app/flight-recorder-snapshots
USER node
EXPOSE 8080

CMD ["npm","start"]
