#!/usr/bin/env bash
# Files/s of @strata/layer-unpack against GNU tar on the same large layer (default: a PAX tar of
# /usr/share and /usr/include, ~63k entries, ~750 MB). Runs are interleaved (tar, unpack, tar, unpack…)
# so that load bursts from other processes hit both tools alike; the median and the best run are
# reported. Targets: a directory on disk (/var/tmp) and on tmpfs (/dev/shm, no disk noise).
# Needs root (both tools preserve owners), node, GNU tar, zstd and pigz.
# Usage: RUNS=3 bench/unpack/run.sh [source dirs...]
#   CASES="tmpfs:tar tmpfs:gzip"  measure only these (default: all five target:format cases)
#   BASELINE=<git rev>            also measure layer-unpack as of that commit, interleaved in the same
#                                 runs (before/after from one run, the only fair comparison here)
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"
runs="${RUNS:-3}"
work="$(mktemp -d /var/tmp/strata-bench-unpack-XXXXXX)"
shm="$(mktemp -d /dev/shm/strata-bench-unpack-XXXXXX)"
trap 'rm -rf "$work" "$shm"' EXIT
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
baseline="${BASELINE:-}"
if [ -n "$baseline" ]; then
  echo "building layer-unpack and oci-types as of $baseline"
  mkdir -p "$work/base-src" "$work/base/node_modules/@strata"
  git -C "$repo" archive "$baseline" packages/oci-types packages/layer-unpack tsconfig.base.json | tar -x -C "$work/base-src"
  ln -s "$repo/node_modules" "$work/base-src/node_modules" # type roots for the build
  for pkg in oci-types layer-unpack; do
    mkdir -p "$work/base/node_modules/@strata/$pkg"
    cp "$work/base-src/packages/$pkg/package.json" "$work/base/node_modules/@strata/$pkg/"
    (cd "$repo" && npx tsc -p "$work/base-src/packages/$pkg/tsconfig.build.json" \
      --outDir "$work/base/node_modules/@strata/$pkg/dist" --noCheck --declaration false --sourceMap false \
      --rootDir "$work/base-src/packages/$pkg/src")
  done
  for dep in zod fzstd zstd-napi; do ln -s "$repo/node_modules/$dep" "$work/base/node_modules/$dep"; done
fi

echo "making the layer from ${sources[*]}"
tar --format=pax -cf "$work/layer.tar" "${sources[@]}" 2>/dev/null || true
pigz -c "$work/layer.tar" > "$work/layer.tar.gz"
zstd -q -T0 -c "$work/layer.tar" > "$work/layer.tar.zst"
entries="$(tar -tf "$work/layer.tar" | wc -l)"
echo "layer: $entries entries, $(du -h "$work/layer.tar" | cut -f1) uncompressed, $(nproc) CPUs, load $(cut -d' ' -f1-3 /proc/loadavg)"

# seconds <command...>: "wall,cpu" of one run; cpu is user+sys of all its threads and children (GNU
# time), which shows work moved to other threads that the wall time alone hides; "-" without /usr/bin/time
seconds() {
  local t0 t1 cpu="-" tf
  tf="$(mktemp "$work/time.XXXXXX")"
  t0=$(date +%s.%N)
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -f "%U %S" -o "$tf" "$@" >/dev/null
    cpu="$(awk '{ printf "%.3f", $1 + $2 }' "$tf")"
  else
    "$@" >/dev/null
  fi
  t1=$(date +%s.%N)
  rm -f "$tf"
  awk -v a="$t0" -v b="$t1" -v c="$cpu" 'BEGIN { printf "%.3f,%s", b - a, c }'
}

declare -A times
measure() { # measure <where> <format> <file> <tar flags>
  local where="$1" fmt="$2" file="$3" flags="$4" base out
  [ "$where" = disk ] && base="$work" || base="$shm"
  out="$base/out"
  echo "measuring $where $fmt ($runs interleaved runs each)" >&2
  for ((i = 0; i < runs; i++)); do
    rm -rf "$out" && mkdir "$out" && sync
    times["$where $fmt tar"]+="$(seconds tar $flags "$file" -C "$out") "
    rm -rf "$out" && mkdir "$out" && sync
    times["$where $fmt unpack"]+="$(seconds node "$here/extract.mjs" "$file" "$out") "
    if [ -n "$baseline" ]; then
      rm -rf "$out" && mkdir "$out" && sync
      times["$where $fmt base"]+="$(STRATA_UNPACK_DIST="$work/base/node_modules/@strata/layer-unpack/dist/index.js" \
        seconds node "$here/extract.mjs" "$file" "$out") "
    fi
  done
  rm -rf "$out"
}

cases="${CASES:-tmpfs:tar tmpfs:gzip tmpfs:zstd disk:tar disk:gzip}"
declare -A file=([tar]="$work/layer.tar" [gzip]="$work/layer.tar.gz" [zstd]="$work/layer.tar.zst")
declare -A flags=([tar]="-xf" [gzip]="-xzf" [zstd]="--zstd -xf")
for c in $cases; do
  measure "${c%%:*}" "${c##*:}" "${file[${c##*:}]}" "${flags[${c##*:}]}"
done

echo
echo "entries: $entries, runs: $runs (interleaved), load after: $(cut -d' ' -f1-3 /proc/loadavg)"
echo
echo "| target | layer | tool | median s | best s | files/s (median) | files/s (best) | cpu s (median) |"
echo "|---|---|---|---|---|---|---|---|"
tools="tar unpack"
[ -n "$baseline" ] && tools="tar base unpack"
for c in $cases; do
  key="${c%%:*} ${c##*:}"
  for tool in $tools; do
    read -r -a runs_ <<<"${times["$key $tool"]}"
    sorted=($(printf '%s\n' "${runs_[@]}" | cut -d, -f1 | sort -g))
    cpus=($(printf '%s\n' "${runs_[@]}" | cut -d, -f2 | sort -g))
    median="${sorted[$(((${#sorted[@]} - 1) / 2))]}"
    best="${sorted[0]}"
    cpu="${cpus[$(((${#cpus[@]} - 1) / 2))]}"
    name="GNU tar"
    [ "$tool" = unpack ] && name="layer-unpack"
    [ "$tool" = base ] && name="layer-unpack @ $baseline"
    printf '| %s | %s | %s | %.2f | %.2f | %.0f | %.0f | %s |\n' ${key} "$name" "$median" "$best" \
      "$(awk -v n="$entries" -v t="$median" 'BEGIN { print n / t }')" \
      "$(awk -v n="$entries" -v t="$best" 'BEGIN { print n / t }')" "$cpu"
  done
done
