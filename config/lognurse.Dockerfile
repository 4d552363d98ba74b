# syntax=docker/dockerfile:1
# The lognurse host (sample_host and its plugins) as an image for
# docker-compose.infrastructure.yml. Build context: the repository root.
#   docker build -f config/lognurse.Dockerfile -t lognurse/sample_host:0.1.0 .

# Build stage: the project's own install and build scripts, tests left out.
FROM debian:12.15-slim AS build
WORKDIR /src
COPY . .
RUN scripts/install-deps.sh \
 && LOGNURSE_BUILD_DIR=/src/build scripts/build.sh -DLOGNURSE_TESTS=OFF

# Runtime stage: the shared libraries the binary and plugins link against, and
# curl for the container healthcheck (GET /ready).
FROM debian:12.15-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends \
      ca-certificates curl \
      libyaml-cpp0.7 libspdlog1.10 libfmt9 libcpp-httplib0.11 \
      libcurl4 libsqlite3-0 libre2-9 libzstd1 liblz4-1 \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10002 --home-dir /var/lib/lognurse lognurse \
 && mkdir -p /var/lib/lognurse /etc/lognurse \
 && chown lognurse:lognurse /var/lib/lognurse

# The host finds its plugins in ../plugins next to bin/, and the plugins find
# libhost_api.so through their $ORIGIN/../lib RUNPATH.
COPY --from=build /src/build/bin/sample_host /opt/lognurse/bin/sample_host
COPY --from=build /src/build/lib/libhost_api.so /opt/lognurse/lib/
COPY --from=build /src/build/plugins/ /opt/lognurse/plugins/
COPY config/host.yaml config/host-loki.yaml /etc/lognurse/

USER lognurse
ENV LOGNURSE_LISTEN=0.0.0.0:8470 \
    LOGNURSE_DATA_DIR=/var/lib/lognurse
VOLUME /var/lib/lognurse
EXPOSE 8470
ENTRYPOINT ["/opt/lognurse/bin/sample_host"]
CMD ["--config", "/etc/lognurse/host-loki.yaml", "serve"]
