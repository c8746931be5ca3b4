#!/usr/bin/env bash
# Cold-pull benchmark of `strata pull` against podman pull, skopeo copy + umoci unpack, and a
# curl | pigz -dc | tar -x floor, in one run, same registry, same scratch filesystem (tmpfs, as
# /work/shared/peer-bench does: ext4 inode creation on this VM is too noisy), reported as ratios.
# Also peak RSS of strata (GNU time %M, max over RSS_RUNS runs).
#
# usage: run.sh            (as root; talks only to 127.0.0.1)
# Env: BENCH_DIR (/tmp/strata-bench-store)  REG_PORT (5055)  RUNS (5)  WARMUP (1)  RSS_RUNS (3)
#      KEEP=1 keep the scratch tmpfs and registry data
# Outputs: $BENCH_DIR/results/{*.json,summary.md}
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO=$(cd "$HERE/../.." && pwd)
BENCH=${BENCH_DIR:-/tmp/strata-bench-store}
PORT=${REG_PORT:-5055}
REG=127.0.0.1:$PORT
RUNS=${RUNS:-5} WARMUP=${WARMUP:-1} RSS_RUNS=${RSS_RUNS:-3}
S=$BENCH/scratch
RES=$BENCH/results
IMG=bench/rootfs:v1
PEERLIB=${PEERLIB:-/work/shared/peer-bench/lib}
PODMAN="podman --root $S/podman/root --runroot $S/podman/runroot --tmpdir $S/podman/tmp --storage-driver overlay --cgroup-manager cgroupfs --events-backend file"
log() { printf '\n[bench] %s\n' "$*" >&2; }
[[ $(id -u) == 0 ]] || { echo "run as root" >&2; exit 1; }
for t in hyperfine skopeo umoci podman curl jq pigz docker-registry node /usr/bin/time; do
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

hf() { local name=$1; shift; log "$name"; hyperfine --style basic --warmup "$WARMUP" --runs "$RUNS" --export-json "$RES/$name.json" "$@"; }
hf strata --prepare "$S/reset strata" "$STRATA pull -q $REG/$IMG"
hf podman --prepare "$S/reset podman" "$PODMAN pull -q --tls-verify=false $REG/$IMG"
hf skopeo-umoci --prepare "$S/reset skopeo" \
  "skopeo copy --quiet --src-tls-verify=false docker://$REG/$IMG oci:$S/oci:tag && umoci unpack --image $S/oci:tag $S/bundle"
hf curl-pigz-tar --prepare "$S/reset curl" "$PEERLIB/pull-curl-tar.sh $REG ${IMG%%:*} ${IMG##*:} $S/curl/rootfs pigz"

log "peak RSS of strata pull"
rss=0
for _ in $(seq 1 "$RSS_RUNS"); do
  "$S/reset" strata
  m=$( { /usr/bin/time -f '%M' $STRATA pull -q "$REG/$IMG" >/dev/null; } 2>&1 | tail -n1 )
  (( m > rss )) && rss=$m
done
echo "$rss" > "$RES/strata-rss-kb"

med() { jq -r '.results[0].median' "$RES/$1.json"; }
ratio() { jq -n --argjson a "$(med "$1")" --argjson b "$(med "$2")" '$a / $b * 1000 | round / 1000'; }
{
  echo "| benchmark | median ms | min ms | max ms |"
  echo "|---|---:|---:|---:|"
  for n in strata podman skopeo-umoci curl-pigz-tar; do
    jq -r --arg n "$n" '.results[0] | "| \($n) | \(.median*1000|round) | \(.min*1000|round) | \(.max*1000|round) |"' "$RES/$n.json"
  done
  echo
  echo "- strata / podman: $(ratio strata podman) (target <= 0.5)"
  echo "- strata / skopeo+umoci: $(ratio strata skopeo-umoci)"
  echo "- strata / curl|pigz|tar floor: $(ratio strata curl-pigz-tar) (target <= 1.25)"
  echo "- strata peak RSS: $((rss / 1024)) MiB (max of $RSS_RUNS runs; target <= 150 MB)"
  echo "- load average at end: $(cut -d' ' -f1-3 /proc/loadavg)"
} | tee "$RES/summary.md"
"$S/reset" strata podman skopeo curl
