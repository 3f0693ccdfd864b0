# The container that an Azure Container Apps job (or a Kubernetes job) runs.
# Build: docker build -t teams-attendance .   Run: docker run --env-file job.env teams-attendance
FROM debian:12-slim AS build
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      build-essential cmake pkg-config libcurl4-openssl-dev libssl-dev libnghttp2-dev \
      libjansson-dev libsnappy-dev libzstd-dev ca-certificates \
 && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY CMakeLists.txt ./
COPY src ./src
COPY docs/teams-attendance.1.txt ./docs/
COPY scripts/cli-doc.awk ./scripts/
COPY tests/fuzz/replay_main.c ./tests/fuzz/replay_main.c
RUN cmake -S . -B build -DCMAKE_BUILD_TYPE=Release -DTA_TESTS=OFF && cmake --build build -j"$(nproc)" --target teams-attendance

FROM debian:12-slim
RUN apt-get update && DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends \
      libcurl4 libjansson4 libsnappy1v5 libzstd1 ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --uid 10001 attendance
COPY --from=build /src/build/teams-attendance /usr/local/bin/teams-attendance
USER 10001
ENTRYPOINT ["/usr/local/bin/teams-attendance"]
CMD ["run"]
