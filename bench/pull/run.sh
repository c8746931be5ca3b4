#!/usr/bin/env bash
# Pull benchmark: strata (@strata/registry-pull into an OCI layout) against
# `skopeo copy docker://… oci:…`, same registry, same image, same run, cold destination each time.
#   bench/pull/run.sh            (root; only talks to 127.0.0.1)
# Env: ROUNDS=15 KEEP=0 (keep the work dir)  WORK=/tmp/strata-bench-pull
#      BEFORE=/path/to/an/older/checkout/bench/pull/pull.mjs adds that build as "strata-before"
#      With NODE_EXTRA_CA_CERTS set, two more rows run node and strata without it (see below).
# The machine is shared and noisy, so the commands are interleaved: each round runs every command
# once (hyperfine --runs 1, order reversed every other round), after one warm-up round. Prints
# medians, the ratio of medians and the median of the per-round ratios, and peak RSS (strata and
# skopeo, /usr/bin/time, whole process) on this image and on a one-layer image of ~88 MB.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
WORK=${WORK:-/tmp/strata-bench-pull}
CACHE=${CACHE:-/tmp/strata-bench-pull-cache}
ROUNDS=${ROUNDS:-15}
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
"$HERE/make-image.sh" "$CACHE/big" big

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
BIG=127.0.0.1:$PORT/bench/big:latest
skopeo copy --quiet --dest-tls-verify=false "oci:$CACHE/image:latest" "docker://$REF"
skopeo copy --quiet --dest-tls-verify=false "oci:$CACHE/big:latest" "docker://$BIG"

# scratch on tmpfs, as in the peer benchmark (this VM's ext4 is slow and noisy at creating files)
mount -t tmpfs -o size=2g,mode=0755 strata-bench-pull "$WORK/scratch"
S=$WORK/scratch
names=(skopeo-copy strata-pull node-floor strata-import-floor)
cmds=(
  "skopeo copy --quiet --src-tls-verify=false docker://$REF oci:$S/skopeo:latest"
  "node $HERE/pull.mjs $REF $S/strata"
  "node -e 0"
  "node --input-type=module -e 'await import(\"$ROOT/packages/registry-pull/dist/index.js\")'"
)
if [[ -n ${BEFORE:-} ]]; then names+=(strata-before); cmds+=("node $BEFORE $REF $S/before"); fi
# NODE_EXTRA_CA_CERTS makes Node 20 read and parse that CA file at every start-up (~40 ms of CPU on
# this VM, where it is set to the system bundle); skopeo reads CAs only for TLS. The headline rows
# keep the environment as it is; these two rows show what a Node user without the variable gets.
if [[ -n ${NODE_EXTRA_CA_CERTS:-} ]]; then
  names+=(node-floor-no-extra-ca strata-pull-no-extra-ca)
  cmds+=("env -u NODE_EXTRA_CA_CERTS node -e 0" "env -u NODE_EXTRA_CA_CERTS node $HERE/pull.mjs $REF $S/noca")
fi
for round in $(seq 0 "$ROUNDS"); do   # round 0 is the warm-up, not counted
  args=()
  order=($(seq 0 $(( ${#names[@]} - 1 )))); (( round % 2 )) && order=($(seq $(( ${#names[@]} - 1 )) -1 0))
  for i in "${order[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
  hyperfine -N --style none --runs 1 \
    --prepare "sh -c 'rm -rf $S/skopeo $S/strata $S/before $S/noca /var/lib/containers/cache/blob-info-cache-v1.boltdb; sync'" \
    --export-json "$WORK/round-$round.json" "${args[@]}" >/dev/null 2>&1
  echo -n "." >&2
done
echo >&2
jq -s '[.[1:][] | .results | map({(.command): {t: .times[0], user, system}}) | add]' \
  $(for r in $(seq 0 "$ROUNDS"); do echo "$WORK/round-$r.json"; done) > "$WORK/rounds.json"

# peak RSS (largest of 5 runs, whole process, /usr/bin/time) for strata and skopeo on both images,
# and strata's in-process pull time (median of 5, without node start-up and imports)
rss() { /usr/bin/time -f %M "$@" 2>&1 >/dev/null | tail -1; }
peak() { local m=0 r; for _ in 1 2 3 4 5; do rm -rf "$S/p"; r=$(rss "$@"); (( r > m )) && m=$r; done; echo "$m"; }
: > "$WORK/inproc.txt"
for _ in 1 2 3 4 5; do
  rm -rf "$S/strata"
  STRATA_BENCH_REPORT=1 node "$HERE/pull.mjs" "$REF" "$S/strata" | jq .ms >> "$WORK/inproc.txt"
done
inproc=$(sort -n "$WORK/inproc.txt" | sed -n 3p)
strata_rss=$(peak node "$HERE/pull.mjs" "$REF" "$S/p")
skopeo_rss=$(peak skopeo copy --quiet --src-tls-verify=false "docker://$REF" "oci:$S/p:latest")
strata_big=$(peak node "$HERE/pull.mjs" "$BIG" "$S/p")
if [[ -n ${BEFORE:-} ]]; then
  echo "before: peak RSS $(( $(peak node "$BEFORE" "$REF" "$S/p") / 1024 )) MiB, big image $(( $(peak node "$BEFORE" "$BIG" "$S/p") / 1024 )) MiB" > "$WORK/before-rss.txt"
fi
skopeo_big=$(peak skopeo copy --quiet --src-tls-verify=false "docker://$BIG" "oci:$S/p:latest")
size=$(find "$CACHE/image/blobs" -type f -printf '%s\n' | awk '{s+=$1} END {print s}')
layer=$(find "$CACHE/image/blobs" -type f -printf '%s\n' | sort -n | tail -1)
big=$(find "$CACHE/big/blobs" -type f -printf '%s\n' | sort -n | tail -1)

jq -r --arg inproc "$inproc" --arg size "$size" --arg layer "$layer" --arg big "$big" \
  --arg srss "$strata_rss" --arg krss "$skopeo_rss" --arg sbig "$strata_big" --arg kbig "$skopeo_big" --arg rounds "$ROUNDS" '
  def median: sort | if length % 2 == 1 then .[length / 2 | floor] else (.[length / 2 - 1] + .[length / 2]) / 2 end;
  def ms: . * 1000 | round;
  . as $r
  | ($r | map(.["strata-pull"].t / .["skopeo-copy"].t)) as $ratios
  | (["skopeo-copy", "strata-pull", "node-floor", "strata-import-floor", "strata-before", "node-floor-no-extra-ca", "strata-pull-no-extra-ca"] | map(select($r[0][.] != null)) | map(. as $c | {
      c: $c, med: ($r | map(.[$c].t) | median), min: ($r | map(.[$c].t) | min), max: ($r | map(.[$c].t) | max),
      user: ($r | map(.[$c].user) | median), sys: ($r | map(.[$c].system) | median) })) as $s
  | "image: \($size | tonumber / 1e6 | floor) MB in 2 gzip layers (largest \($layer | tonumber / 1e6 | floor) MB); big image: one \($big | tonumber / 1e6 | floor) MB layer",
    "\($rounds) interleaved rounds; medians (min-max), median user / system CPU:",
    ($s[] | "  \(.c): \(.med | ms) ms (\(.min | ms)-\(.max | ms)), cpu \(.user | ms) / \(.sys | ms) ms"),
    "ratio strata/skopeo: of medians \(($s[1].med / $s[0].med) * 100 | round / 100); median of per-round ratios \($ratios | median * 100 | round / 100) (per-round min \($ratios | min * 100 | round / 100), max \($ratios | max * 100 | round / 100))  (target <= 1.0)",
    ($s | map(select(.c == "strata-before"))[0] // empty | "strata-before/skopeo: of medians \((.med / $s[0].med) * 100 | round / 100); median of per-round ratios \($r | map(.["strata-before"].t / .["skopeo-copy"].t) | median * 100 | round / 100)"),
    ($s | map(select(.c == "strata-pull-no-extra-ca"))[0] // empty | "strata (without NODE_EXTRA_CA_CERTS)/skopeo: of medians \((.med / $s[0].med) * 100 | round / 100); median of per-round ratios \($r | map(.["strata-pull-no-extra-ca"].t / .["skopeo-copy"].t) | median * 100 | round / 100)"),
    "strata in-process pull (no start-up, median of 5): \($inproc) ms",
    "peak RSS (max of 5): strata \($srss | tonumber / 1024 | floor) MiB, skopeo \($krss | tonumber / 1024 | floor) MiB; big image: strata \($sbig | tonumber / 1024 | floor) MiB, skopeo \($kbig | tonumber / 1024 | floor) MiB  (target <= 100 MiB)"
' "$WORK/rounds.json" | tee "$WORK/summary.txt"
[[ -f $WORK/before-rss.txt ]] && tee -a "$WORK/summary.txt" < "$WORK/before-rss.txt"
true
