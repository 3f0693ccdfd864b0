# The container that an Azure Container Apps job (or a Kubernetes job) runs.
#   podman build -t teams-attendance .        (or docker build)
#   podman run --read-only --tmpfs /tmp --env-file job.env teams-attendance
# The root file system may be read-only: the job writes only under TMPDIR (the Parquet
# tables of a run, before they are uploaded), so mount something writable there.
# scripts/image-test.sh builds this image and runs it against Azurite and the sandbox Graph.

ARG BASE=debian:12-slim

FROM ${BASE} AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      gcc libc6-dev make cmake pkg-config libcurl4-openssl-dev libssl-dev libnghttp2-dev \
      libjansson-dev libsnappy-dev libzstd-dev \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY src ./src
COPY docs/teams-attendance.1.txt ./docs/
COPY scripts/cli-doc.awk ./scripts/
COPY tests/fuzz/replay_main.c ./tests/fuzz/replay_main.c
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DTA_TESTS=OFF \
 && cmake --build build -j"$(nproc)" --target teams-attendance \
 && strip build/teams-attendance

FROM ${BASE}
ARG BASE
ARG VERSION=0.1.0
ARG REVISION=
# Empty unless the build passes the repository's public address.
ARG SOURCE=
LABEL org.opencontainers.image.title="teams-attendance" \
      org.opencontainers.image.description="Batch job that lands Microsoft Teams meeting attendance from Microsoft Graph in Azure Blob Storage as JSON snapshots and Parquet tables" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE}" \
      org.opencontainers.image.base.name="${BASE}"
# ca-certificates: Graph, Entra ID and Blob Storage are reached over HTTPS. The user
# has no home: the job needs none, it reads only the files its settings name and
# writes only under TMPDIR.
# --no-log-init: a uid this high would otherwise grow /var/log/lastlog by megabytes.
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcurl4 libjansson4 libsnappy1v5 libzstd1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* /var/cache/apt/*.bin /var/log/apt /var/log/dpkg.log \
 && groupadd --gid 10001 attendance \
 && useradd --uid 10001 --gid 10001 --no-log-init --home-dir /nonexistent --no-create-home \
      --shell /usr/sbin/nologin attendance
COPY --from=build /src/build/teams-attendance /usr/local/bin/teams-attendance
# The only place the job writes to; with a read-only root file system, mount a tmpfs
# or a volume here (or point TMPDIR at another writable mount).
ENV TMPDIR=/tmp
# Numeric, so that a runAsNonRoot policy can check it without reading /etc/passwd.
USER 10001:10001
ENTRYPOINT ["/usr/local/bin/teams-attendance"]
CMD ["run"]
