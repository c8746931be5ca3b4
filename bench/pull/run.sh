#!/usr/bin/env bash
# Pull benchmark: strata (@strata/registry-pull into an OCI layout) against
# `skopeo copy docker://… oci:…`, same registry, same image, same run, cold destination each time.
#   bench/pull/run.sh            (root; only talks to 127.0.0.1)
# Env: RUNS=10 WARMUP=1 KEEP=0 (keep the work dir)  WORK=/tmp/strata-bench-pull
# Prints the hyperfine table, the strata/skopeo ratio of medians, and strata's peak RSS.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-/tmp/strata-bench-pull}
CACHE=${CACHE:-/tmp/strata-bench-pull-cache}
RUNS=${RUNS:-10} WARMUP=${WARMUP:-1}
[[ $(id -u) == 0 ]] || { echo "run as root (tmpfs scratch)" >&2; exit 1; }
for t in hyperfine skopeo docker-registry jq pigz node; do command -v "$t" >/dev/null || { echo "missing $t" >&2; exit 1; }; done

REG_PID=
cleanup() {
  [[ -n $REG_PID ]] && kill "$REG_PID" 2>/dev/null && wait "$REG_PID" 2>/dev/null || true
  mountpoint -q "$WORK/scratch" && umount "$WORK/scratch"
  [[ ${KEEP:-0} == 1 ]] || rm -rf "$WORK"
}
trap cleanup EXIT
rm -rf "$WORK"; mkdir -p "$WORK/scratch" "$WORK/registry"

echo "[bench] building @strata/oci-types and @strata/registry-pull (dist)" >&2
(cd "$ROOT" && npm run build --silent -w @strata/oci-types -w @strata/registry-pull >/dev/null)

echo "[bench] test image (cached in $CACHE)" >&2
"$HERE/make-image.sh" "$CACHE/image"

PORT=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
cat > "$WORK/registry.yml" <<YML
version: 0.1
log:
  level: error
  accesslog:
    disabled: true
storage:
  filesystem:
    rootdirectory: $WORK/registry
  cache:
    blobdescriptor: inmemory
http:
  addr: 127.0.0.1:$PORT
health:
  storagedriver:
    enabled: false
YML
docker-registry serve "$WORK/registry.yml" >"$WORK/registry.log" 2>&1 &
REG_PID=$!
for _ in $(seq 100); do curl -fsS "http://127.0.0.1:$PORT/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
REF=127.0.0.1:$PORT/bench/usr:latest
skopeo copy --quiet --dest-tls-verify=false "oci:$CACHE/image:latest" "docker://$REF"

# scratch on tmpfs, as in the peer benchmark (this VM's ext4 is slow and noisy at creating files)
mount -t tmpfs -o size=2g,mode=0755 strata-bench-pull "$WORK/scratch"
S=$WORK/scratch
hyperfine --style basic --warmup "$WARMUP" --runs "$RUNS" \
  --prepare "rm -rf $S/skopeo $S/strata /var/lib/containers/cache/blob-info-cache-v1.boltdb; sync" \
  --export-json "$WORK/hyperfine.json" \
  -n skopeo-copy "skopeo copy --quiet --src-tls-verify=false docker://$REF oci:$S/skopeo:latest" \
  -n strata-pull "node $HERE/pull.mjs $REF $S/strata" \
  -n node-floor "node -e 0" \
  -n strata-import-floor "node --input-type=module -e 'await import(\"$ROOT/packages/registry-pull/dist/index.js\")'"

# peak RSS (largest of 5 runs) and the in-process pull time (median of 5, without node start-up and imports)
rss=0
: > "$WORK/inproc.txt"
for _ in 1 2 3 4 5; do
  rm -rf "$S/strata"
  line=$(STRATA_BENCH_REPORT=1 node "$HERE/pull.mjs" "$REF" "$S/strata")
  r=$(jq .maxRssKiB <<<"$line")
  jq .ms <<<"$line" >> "$WORK/inproc.txt"
  (( r > rss )) && rss=$r
done
inproc=$(sort -n "$WORK/inproc.txt" | sed -n 3p)
skopeo_rss=$( { /usr/bin/time -v skopeo copy --quiet --src-tls-verify=false "docker://$REF" "oci:$S/skopeo-rss:latest" >/dev/null; } 2>&1 | awk -F: '/Maximum resident/ {gsub(/ /,"",$2); print $2}')
size=$(find "$CACHE/image/blobs" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
layer=$(find "$CACHE/image/blobs" -type f -printf '%s\n' | sort -n | tail -1)

jq -r --arg rss "$rss" --arg inproc "$inproc" --arg srss "$skopeo_rss" --arg size "$size" --arg layer "$layer" '
  (.results | map({(.command): .}) | add) as $r
  | ($r["strata-pull"].median / $r["skopeo-copy"].median) as $ratio
  | "image: \($size | tonumber / 1e6 | floor) MB in 2 gzip layers (largest \($layer | tonumber / 1e6 | floor) MB)",
    "skopeo-copy median \($r["skopeo-copy"].median * 1000 | floor) ms (min \($r["skopeo-copy"].min * 1000 | floor), max \($r["skopeo-copy"].max * 1000 | floor))",
    "strata-pull median \($r["strata-pull"].median * 1000 | floor) ms (min \($r["strata-pull"].min * 1000 | floor), max \($r["strata-pull"].max * 1000 | floor))",
    "ratio strata/skopeo (medians): \($ratio * 100 | floor / 100)  (target <= 1.0)",
    "floors: node -e 0 median \($r["node-floor"].median * 1000 | floor) ms; node + import of registry-pull (zod, undici) \($r["strata-import-floor"].median * 1000 | floor) ms",
    "strata in-process pull (no start-up, median of 5): \($inproc) ms; ratio to skopeo copy: \(($inproc | tonumber) / ($r["skopeo-copy"].median * 1000) * 100 | floor / 100)",
    "peak RSS: strata \($rss | tonumber / 1024 | floor) MiB (target <= 100), skopeo \($srss | tonumber / 1024 | floor) MiB"
' "$WORK/hyperfine.json" | tee "$WORK/summary.txt"
