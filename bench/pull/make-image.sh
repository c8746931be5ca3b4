#!/usr/bin/env bash
# Build the benchmark image as an OCI layout: two gzip layers cut from this machine's /usr
# (binaries and libraries, then /usr/share), ~50 MB compressed in total. Cached in $1.
# With "big", one layer of ~88 MB compressed (the peak-RSS target is stated for a layer of >= 50 MB).
#   make-image.sh OUT_DIR [big]
set -euo pipefail
OUT=$1
[[ -f $OUT/index.json ]] && exit 0
TMP=$(mktemp -d /tmp/strata-bench-pull-img.XXXXXX)
trap 'rm -rf "$TMP"' EXIT
mkdir -p "$OUT/blobs/sha256"

# list LIMIT DIR...: regular files (paths relative to /), sorted, until LIMIT bytes of content
list() { # LIMIT DIR...
  local limit=$1; shift
  find "$@" -xdev -type f -printf '%s %p\n' 2>/dev/null | sort -k2 |
    awk -v lim="$limit" '{ s += $1; if (s > lim) exit; sub(/^[0-9]+ \//, ""); print }'  || true   # awk stops early: SIGPIPE upstream is expected
}
if [[ ${2:-} == big ]]; then
  list 260000000 /usr/bin /usr/lib /usr/libexec /usr/sbin > "$TMP/l1.list"
  layers=(l1)
else
  list 100000000 /usr/bin /usr/lib/x86_64-linux-gnu > "$TMP/l1.list"
  list 30000000 /usr/share > "$TMP/l2.list"
  layers=(l1 l2)
fi

descs=()
diffs=()
for l in "${layers[@]}"; do
  tar -C / --numeric-owner --sort=name --mtime=@1700000000 -cf "$TMP/$l.tar" -T "$TMP/$l.list"
  pigz -6 -n -c "$TMP/$l.tar" > "$TMP/$l.tar.gz"
  dgz=$(sha256sum "$TMP/$l.tar.gz" | cut -d' ' -f1)
  dtar=$(sha256sum "$TMP/$l.tar" | cut -d' ' -f1)
  size=$(stat -c %s "$TMP/$l.tar.gz")
  mv "$TMP/$l.tar.gz" "$OUT/blobs/sha256/$dgz"
  descs+=("{\"mediaType\":\"application/vnd.oci.image.layer.v1.tar+gzip\",\"digest\":\"sha256:$dgz\",\"size\":$size}")
  diffs+=("\"sha256:$dtar\"")
done
IFS=,
config="{\"architecture\":\"amd64\",\"os\":\"linux\",\"created\":\"2023-11-14T22:13:20Z\",\"config\":{\"Env\":[\"PATH=/usr/bin\"]},\"rootfs\":{\"type\":\"layers\",\"diff_ids\":[${diffs[*]}]}}"
printf '%s' "$config" > "$TMP/config"
cd_=$(sha256sum "$TMP/config" | cut -d' ' -f1)
mv "$TMP/config" "$OUT/blobs/sha256/$cd_"
manifest="{\"schemaVersion\":2,\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"config\":{\"mediaType\":\"application/vnd.oci.image.config.v1+json\",\"digest\":\"sha256:$cd_\",\"size\":${#config}},\"layers\":[${descs[*]}]}"
printf '%s' "$manifest" > "$TMP/manifest"
md=$(sha256sum "$TMP/manifest" | cut -d' ' -f1)
ms=$(stat -c %s "$TMP/manifest")
mv "$TMP/manifest" "$OUT/blobs/sha256/$md"
printf '{"imageLayoutVersion":"1.0.0"}' > "$OUT/oci-layout"
printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"latest"}}]}' "$md" "$ms" > "$OUT/index.json"
