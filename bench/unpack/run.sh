#!/usr/bin/env bash
# Files/s of @strata/layer-unpack against GNU tar on the same large layer (a tar of /usr/share and
# /usr/include by default: ~63k entries). Needs root (both preserve owners), hyperfine, zstd, pigz.
# Usage: bench/unpack/run.sh [source dirs...]     Results: paste into bench/unpack/RESULTS.md.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
work="$(mktemp -d /var/tmp/strata-bench-unpack-XXXXXX)"
trap 'rm -rf "$work"' EXIT
sources=("$@")
[ ${#sources[@]} -eq 0 ] && sources=(/usr/share /usr/include)

echo "building @strata/layer-unpack and @strata/oci-types into $work"
# A private node_modules: the built JS of both workspace packages plus their registry deps.
mods="$work/node_modules"
mkdir -p "$mods/@strata/oci-types" "$mods/@strata/layer-unpack"
for pkg in oci-types layer-unpack; do
  cp "$repo/packages/$pkg/package.json" "$mods/@strata/$pkg/"
  (cd "$repo" && npx tsc -p "packages/$pkg/tsconfig.build.json" --outDir "$mods/@strata/$pkg/dist" \
    --noCheck --declaration false --sourceMap false) # types are checked by the package's own typecheck
done
for dep in zod fzstd zstd-napi; do ln -s "$repo/node_modules/$dep" "$mods/$dep"; done
export STRATA_UNPACK_DIST="$mods/@strata/layer-unpack/dist/index.js"

echo "making the layer from ${sources[*]}"
tar --format=pax -cf "$work/layer.tar" "${sources[@]}" 2>/dev/null || true
pigz -c "$work/layer.tar" > "$work/layer.tar.gz"
zstd -q -T0 -c "$work/layer.tar" > "$work/layer.tar.zst"
entries="$(tar -tf "$work/layer.tar" | wc -l)"
echo "layer: $entries entries, $(du -h "$work/layer.tar" | cut -f1) uncompressed"

out="$work/out"
prep="rm -rf $out && mkdir $out"
hyperfine --runs "${RUNS:-3}" --warmup 1 --export-markdown "$work/results.md" \
  --prepare "$prep" -n "GNU tar -xf (tar)" "tar -xf $work/layer.tar -C $out" \
  --prepare "$prep" -n "layer-unpack (tar)" "node $here/extract.mjs $work/layer.tar $out" \
  --prepare "$prep" -n "GNU tar -xzf (gzip)" "tar -xzf $work/layer.tar.gz -C $out" \
  --prepare "$prep" -n "layer-unpack (gzip)" "node $here/extract.mjs $work/layer.tar.gz $out" \
  --prepare "$prep" -n "GNU tar --zstd -xf (zstd)" "tar --zstd -xf $work/layer.tar.zst -C $out" \
  --prepare "$prep" -n "layer-unpack (zstd)" "node $here/extract.mjs $work/layer.tar.zst $out"
echo
echo "entries: $entries"
cat "$work/results.md"
echo
echo "files/s = entries / mean seconds:"
awk -v n="$entries" -F'|' 'NR>2 { gsub(/`/, "", $2); split($3, m, " "); printf "%-28s %8.0f files/s\n", $2, n / m[1] }' "$work/results.md"
