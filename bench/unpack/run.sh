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

echo "building @strata/layer-unpack into $work/dist"
(cd "$repo" && npx tsc -p packages/layer-unpack/tsconfig.build.json --outDir "$work/dist" --declaration false --sourceMap false)
# The built files import their workspace deps by name; resolve them from the repo's node_modules.
ln -s "$repo/node_modules" "$work/node_modules"
export STRATA_UNPACK_DIST="$work/dist/index.js"

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
