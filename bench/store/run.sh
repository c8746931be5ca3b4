#!/usr/bin/env bash
# Cold-pull benchmark of `strata pull` against podman pull, skopeo copy + umoci unpack, and a
# curl | pigz -dc | tar -x floor, in one run, same registry, same scratch filesystem (tmpfs, as
# /work/shared/peer-bench does: ext4 inode creation on this VM is too noisy), reported as ratios.
# Also peak RSS of strata (GNU time %M, max over all its runs).
#
# usage: run.sh            (as root; talks only to 127.0.0.1)
# Env: BENCH_DIR (/tmp/strata-bench-store)  REG_PORT (5055)  RUNS (8 rounds)
#      KEEP=1 keep the scratch tmpfs and registry data
#      BASELINE=<git rev>  also run "strata-base": the current tree with packages/layer-unpack and
#        packages/image-store as of that commit, interleaved in the same rounds (before/after in one run)
# Outputs: $BENCH_DIR/results/{times.tsv,summary.md}
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH=${BENCH_DIR:-/tmp/strata-bench-store}
PORT=${REG_PORT:-5055}
REG=127.0.0.1:$PORT
RUNS=${RUNS:-8}
S=$BENCH/scratch
RES=$BENCH/results
IMG=bench/rootfs:v1
PEERLIB=${PEERLIB:-/work/shared/peer-bench/lib}
PODMAN="podman --root $S/podman/root --runroot $S/podman/runroot --tmpdir $S/podman/tmp --storage-driver overlay --cgroup-manager cgroupfs --events-backend file"
log() { printf '\n[bench] %s\n' "$*" >&2; }
[[ $(id -u) == 0 ]] || { echo "run as root" >&2; exit 1; }
for t in skopeo umoci podman curl jq pigz docker-registry node /usr/bin/time; do
  command -v "$t" >/dev/null || { echo "missing tool: $t" >&2; exit 1; }
done
mkdir -p "$BENCH" "$RES"

REGPID=""
cleanup() {
  set +e
  findmnt -rn -o TARGET | grep -E "^$S/" | sort -r | while read -r m; do umount -l "$m"; done
  if [[ ${KEEP:-0} != 1 ]] && mountpoint -q "$S"; then umount "$S" || umount -l "$S"; fi
  [[ -n $REGPID ]] && kill "$REGPID" 2>/dev/null && wait "$REGPID" 2>/dev/null
  rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb
}
trap cleanup EXIT

# ---------------------------------------------------------------- registry (own port, blobs on disk)
mkdir -p "$BENCH/registry"
cat > "$BENCH/registry.yml" <<YML
version: 0.1
log: { level: warn, accesslog: { disabled: true } }
storage: { filesystem: { rootdirectory: $BENCH/registry }, delete: { enabled: true } }
http: { addr: $REG }
YML
docker-registry serve "$BENCH/registry.yml" >"$BENCH/registry.log" 2>&1 &
REGPID=$!
for _ in $(seq 1 100); do curl -fsS "http://$REG/v2/" >/dev/null 2>&1 && break; sleep 0.1; done
curl -fsS "http://$REG/v2/" >/dev/null || { cat "$BENCH/registry.log"; exit 1; }
BENCH_DIR=$BENCH REG=$REG "$HERE/make-image.sh"

# ---------------------------------------------------------------- scratch tmpfs + strata bundle
mkdir -p "$S"
mountpoint -q "$S" || mount -t tmpfs -o size=8g,mode=0755 strata-bench-store "$S"
log "bundling strata (rolldown, from sources)"
STRATA="node $(node "$HERE/bundle.mjs") --root $S/strata"
STRATA_BASE=""
if [[ -n ${BASELINE:-} ]]; then
  log "bundling strata-base: the current tree with layer-unpack and image-store at $BASELINE"
  B=$BENCH/baseline-src
  rm -rf "$B" && mkdir -p "$B/node_modules/@strata"
  (cd "$REPO" && tar -c --exclude=node_modules --exclude=.git apps packages bench tsconfig.base.json package.json) | tar -x -C "$B"
  for pkg in layer-unpack image-store; do
    rm -rf "$B/packages/$pkg/src"
    git -C "$REPO" archive "$BASELINE" "packages/$pkg/src" | tar -x -C "$B"
  done
  for e in "$REPO"/node_modules/* "$REPO"/node_modules/.bin; do
    [[ $(basename "$e") == @strata ]] || ln -s "$e" "$B/node_modules/"
  done
  for l in "$REPO"/node_modules/@strata/*; do
    ln -s "$B/$(readlink "$l" | sed 's|^\.\./\.\./||')" "$B/node_modules/@strata/$(basename "$l")"
  done
  STRATA_BASE="node $(STRATA_BUNDLE_OUT="$B/node_modules/.cache/strata-bench-store/" node "$B/bench/store/bundle.mjs") --root $S/strata"
fi

cat > "$S/reset" <<RESET
#!/usr/bin/env bash
for w in "\$@"; do case \$w in
  strata) rm -rf "$S/strata" ;;
  podman) findmnt -rn -o TARGET | grep -E '^$S/podman/' | sort -r | while read -r m; do umount -l "\$m"; done
          rm -rf "$S/podman" ;;
  skopeo) rm -rf "$S/oci" "$S/bundle"; rm -f /var/lib/containers/cache/blob-info-cache-v1.boltdb ;;
  curl)   rm -rf "$S/curl" ;;
esac; done
sync
RESET
chmod +x "$S/reset"

# sanity: each tool pulls once (the tests check that strata's merged view equals umoci's tree)
"$S/reset" strata podman skopeo curl
$STRATA pull -q "$REG/$IMG" >/dev/null
$PODMAN pull -q --tls-verify=false "$REG/$IMG" >/dev/null

# Interleaved rounds: every round runs each tool once (cold, after its reset), so load changes on this
# shared machine hit all tools alike; hyperfine would run one tool's runs back to back.
TOOLS=(strata podman skopeo-umoci curl-pigz-tar)
[[ -n $STRATA_BASE ]] && TOOLS=(strata-base strata podman skopeo-umoci curl-pigz-tar)
declare -A CMD=(
  [strata-base]="$STRATA_BASE pull -q $REG/$IMG"
  [strata]="$STRATA pull -q $REG/$IMG"
  [podman]="$PODMAN pull -q --tls-verify=false $REG/$IMG"
  [skopeo-umoci]="skopeo copy --quiet --src-tls-verify=false docker://$REG/$IMG oci:$S/oci:tag && umoci unpack --image $S/oci:tag $S/bundle"
  [curl-pigz-tar]="$PEERLIB/pull-curl-tar.sh $REG ${IMG%%:*} ${IMG##*:} $S/curl/rootfs pigz"
)
declare -A RESET=([strata-base]=strata [strata]=strata [podman]=podman [skopeo-umoci]=skopeo [curl-pigz-tar]=curl)
printf 'round\ttool\tseconds\tmax_rss_kb\tloadavg1\n' > "$RES/times.tsv"
for round in $(seq 0 "$RUNS"); do   # round 0 is the warm-up, not recorded
  log "round $round/$RUNS"
  for tool in "${TOOLS[@]}"; do
    "$S/reset" "${RESET[$tool]}"
    out=$( { /usr/bin/time -f 'TIME %e %M' bash -c "${CMD[$tool]} >/dev/null"; } 2>&1 | grep '^TIME' )
    read -r _ secs rss <<<"$out"
    (( round > 0 )) && printf '%s\t%s\t%s\t%s\t%s\n' "$round" "$tool" "$secs" "$rss" "$(cut -d' ' -f1 /proc/loadavg)" >> "$RES/times.tsv"
  done
done

stat_of() {  # stat_of TOOL -> "median min max" (seconds)
  awk -F'\t' -v t="$1" 'NR>1 && $2==t {print $3}' "$RES/times.tsv" | sort -n |
    awk '{a[NR]=$1} END {m = NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2; print m, a[1], a[NR]}'
}
rss=$(awk -F'\t' 'NR>1 && $2=="strata" && $4>m {m=$4} END {print m+0}' "$RES/times.tsv")
med() { stat_of "$1" | cut -d' ' -f1; }
ratio() { awk -v a="$(med "$1")" -v b="$(med "$2")" 'BEGIN {printf "%.2f", a/b}'; }
{
  echo "| tool | median s | min s | max s |"
  echo "|---|---:|---:|---:|"
  for t in "${TOOLS[@]}"; do read -r m lo hi <<<"$(stat_of "$t")"; echo "| $t | $m | $lo | $hi |"; done
  echo
  [[ -n $STRATA_BASE ]] && echo "- strata-base ($BASELINE) / podman: $(ratio strata-base podman); / floor: $(ratio strata-base curl-pigz-tar); strata / strata-base: $(ratio strata strata-base)"
  echo "- strata / podman: $(ratio strata podman) (target <= 0.5)"
  echo "- strata / skopeo+umoci: $(ratio strata skopeo-umoci)"
  echo "- strata / curl|pigz|tar floor: $(ratio strata curl-pigz-tar) (target <= 1.25)"
  echo "- strata peak RSS: $((rss / 1024)) MiB (max over $RUNS runs, GNU time %M; target <= 150 MB)"
  echo "- rounds: $RUNS (+1 warm-up), interleaved; 1-min load average during the runs: $(awk -F'\t' 'NR>1 {print $5}' "$RES/times.tsv" | sort -n | sed -n '1p;$p' | paste -sd- )"
} | tee "$RES/summary.md"
"$S/reset" strata podman skopeo curl
