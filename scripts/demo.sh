#!/usr/bin/env bash
# A local demonstration, no cloud account needed: builds the job, starts Azurite
# (in memory) and the sandbox Microsoft Graph on free loopback ports, runs the job
# twice (a first run over the last 30 days, then an incremental run), lists what
# landed, and ends with a short summary of both runs and one DuckDB query over the
# Parquet files they wrote.
# The servers are stopped on exit.
set -euo pipefail
cd "$(dirname "$0")/.."
repo=$PWD

scripts/install-deps.sh

build=${TA_BUILD_DIR:-build}
echo "== build ($build)"
buildlog=$(mktemp "${TMPDIR:-/tmp}/ta-demo-build.XXXXXX")
if ! { cmake -S . -B "$build" && cmake --build "$build" -j"$(nproc 2>/dev/null || echo 2)"; } >"$buildlog" 2>&1; then
  cat "$buildlog" >&2; rm -f "$buildlog"; exit 1
fi
rm -f "$buildlog"
bin=${TA_BIN:-$repo/$build/teams-attendance}

work=$(mktemp -d "${TMPDIR:-/tmp}/ta-demo.XXXXXX")
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${pids[@]}"; do wait "$p" 2>/dev/null || true; done
  rm -rf "$work"
}
trap cleanup EXIT INT TERM

# Waits until FILE holds a line matching REGEX (or the process PID dies).
wait_for() {
  local file=$1 regex=$2 pid=$3 i
  for i in $(seq 1 200); do
    if grep -Eq "$regex" "$file" 2>/dev/null; then return 0; fi
    if ! kill -0 "$pid" 2>/dev/null; then echo "process $pid exited:" >&2; cat "$file" >&2; return 1; fi
    sleep 0.1
  done
  echo "timed out waiting for $regex in $file" >&2
  return 1
}

echo "== start Azurite (in memory) and the sandbox Graph"
(cd "$work" && exec "$repo/node_modules/.bin/azurite-blob" --blobHost 127.0.0.1 --blobPort 0 \
  --inMemoryPersistence --silent --disableTelemetry --skipApiVersionCheck >"$work/azurite.log" 2>&1) &
pids+=($!)
wait_for "$work/azurite.log" 'successfully listens on' "${pids[-1]}"
blob_port=$(sed -nE 's/.*successfully listens on https?:\/\/[^:]+:([0-9]+).*/\1/p' "$work/azurite.log" | head -1)

node tests/sandbox/graph.js --port 0 --seed 1 --mailboxes 3 --truth "$work/truth.json" >"$work/sandbox.json" 2>"$work/sandbox.err" &
pids+=($!)
wait_for "$work/sandbox.json" '"url"' "${pids[-1]}"

field() { node -e 'const j=JSON.parse(require("fs").readFileSync(process.argv[1],"utf8").split("\n")[0]); const v=j[process.argv[2]]; console.log(Array.isArray(v)?v.join(","):v)' "$work/sandbox.json" "$1"; }
graph_url=$(field url)
echo "   Azurite blob  http://127.0.0.1:$blob_port/devstoreaccount1"
echo "   sandbox Graph $graph_url (ground truth: $work/truth.json)"

export AZURE_TENANT_ID AZURE_CLIENT_ID AZURE_CLIENT_SECRET ATTENDANCE_USERS
AZURE_TENANT_ID=$(field tenantId)
AZURE_CLIENT_ID=$(field clientId)
AZURE_CLIENT_SECRET=$(field clientSecret)
ATTENDANCE_USERS=$(field users)
export AZURE_AUTHORITY_HOST="$graph_url" GRAPH_ENDPOINT="$graph_url"
export AZURE_STORAGE_CONNECTION_STRING="DefaultEndpointsProtocol=http;AccountName=devstoreaccount1;AccountKey=Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw==;BlobEndpoint=http://127.0.0.1:$blob_port/devstoreaccount1;"
export LOG_FORMAT="${LOG_FORMAT:-text}"
echo "   mailboxes: $ATTENDANCE_USERS"

# run_of LOG: the run id that the job's log names on its first line.
run_of() { sed -nE 's/.*run started.*run_id=([0-9TZ]+-[0-9a-f]+).*/\1/p; s/.*"msg":"run started".*"run_id":"([^"]+)".*/\1/p' "$1" | head -1; }

status=0
echo "== first run (the last ${ATTENDANCE_FIRST_RUN_DAYS:-30} days)"
"$bin" run 2> >(tee "$work/run1.log" >&2) || status=$?
echo "   exit status $status"

echo "== incremental run (from each mailbox's watermark minus the overlap)"
status2=0
"$bin" run 2> >(tee "$work/run2.log" >&2) || status2=$?
echo "   exit status $status2"
sleep 0.2 # let tee finish writing the logs

echo "== what landed (container ${ATTENDANCE_CONTAINER:-teams-attendance})"
node --input-type=module -e '
import { BlobServiceClient } from "@azure/storage-blob";
const svc = BlobServiceClient.fromConnectionString(process.env.AZURE_STORAGE_CONNECTION_STRING);
const cc = svc.getContainerClient(process.env.ATTENDANCE_CONTAINER || "teams-attendance");
if (!(await cc.exists())) { console.log("   (no container: nothing was written)"); process.exit(0); }
for await (const b of cc.listBlobsFlat()) console.log(`   ${String(b.properties.contentLength).padStart(9)}  ${b.name}`);
'

node scripts/demo-summary.mjs $(run_of "$work/run1.log") $(run_of "$work/run2.log")

if [ "$status" -ne 0 ] || [ "$status2" -ne 0 ]; then
  echo "== a run did not succeed (exit $status, $status2)"
  exit 1
fi
