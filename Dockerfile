# syntax=docker/dockerfile:1
# ragd container image: ragd-serve (the default command) and ragd-index, with
# the all-MiniLM-L6-v2 model, on Debian bookworm.
#
#   docker build -t ragd:0.1.0 .
#   docker run -p 8080:8080 -v /srv/ragd-index:/index ragd:0.1.0
#
# The build stage is deploy/image/build.sh, which `make test` also runs
# (without Docker) and which fails if runtime-packages.txt misses a library
# the binaries load. deploy/k8s uses this image for the service and the
# reindex CronJob.

FROM debian:bookworm AS build
WORKDIR /src
COPY . .
RUN bash deploy/image/build.sh /stage

FROM debian:bookworm-slim
ARG VERSION=0.1.0
LABEL org.opencontainers.image.title="ragd" \
      org.opencontainers.image.description="Vector and hybrid search service with a RAG index builder (ragd-serve, ragd-index)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.base.name="docker.io/library/debian:bookworm-slim"
COPY deploy/image/runtime-packages.txt /tmp/runtime-packages.txt
RUN apt-get update \
 && apt-get install -y --no-install-recommends $(sed 's/#.*//' /tmp/runtime-packages.txt) \
 && rm -rf /var/lib/apt/lists/* /tmp/runtime-packages.txt \
 && groupadd --system --gid 10001 ragd \
 && useradd --system --uid 10001 --gid ragd --home-dir /nonexistent --no-create-home --shell /usr/sbin/nologin ragd
COPY --from=build /stage/opt/ragd /opt/ragd
ENV PATH=/opt/ragd/bin:$PATH
USER 10001:10001
EXPOSE 8080
VOLUME ["/index"]
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=3s --start-period=60s --retries=3 \
  CMD curl -fsS -o /dev/null http://127.0.0.1:8080/health || exit 1
ENTRYPOINT ["/opt/ragd/bin/ragd-serve"]
CMD ["--index", "/index/docs", "--bind", "0.0.0.0", "--port", "8080"]
