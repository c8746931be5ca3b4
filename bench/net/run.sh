#!/usr/bin/env bash
# Benchmarks N namespaces wired to a bridge: strata (sequential and --parallel 4) vs plain `ip`, `ip -batch`
# and the CNI bridge + host-local plugins. Needs root, hyperfine, iproute2, containernetworking-plugins and
# built dist of @strata/netns and @strata/veth (the script builds them). Only talks to its own namespaces.
# usage: [METHODS="ip batch cni strata strata-p4"] bench/net/run.sh [N=50] [RUNS=5]
#   -> bench/results/net-N-<method>-<phase>.json and a table on stdout
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
N=${1:-50} RUNS=${2:-5}
OUT=$ROOT/bench/results
mkdir -p "$OUT"
(cd "$ROOT" && npx tsc -p packages/netns/tsconfig.build.json && npx tsc -p packages/veth/tsconfig.build.json)

SH="$HERE/shell-net.sh" JS="node $HERE/strata-net.mjs"
declare -A UP DOWN CLEAN
for m in ip batch cni; do UP[$m]="$SH $m up $N"; DOWN[$m]="$SH $m down $N"; CLEAN[$m]="$SH $m clean $N"; done
UP[strata]="$JS up $N"; DOWN[strata]="$JS down $N"; CLEAN[strata]="$JS clean $N"
UP[strata-p4]="$JS up $N --parallel 4"; DOWN[strata-p4]="$JS down $N --parallel 4"; CLEAN[strata-p4]="$JS clean $N"
read -r -a METHODS <<<"${METHODS:-ip batch cni strata strata-p4}"

for m in "${METHODS[@]}"; do   # sanity: one traffic check per method
  bash -c "${CLEAN[$m]}"; bash -c "${UP[$m]}"
  case $m in strata*) $JS check "$N" ;; *) "$SH" "$m" check "$N" ;; esac
  bash -c "${DOWN[$m]}"
done
for m in "${METHODS[@]}"; do
  c=${CLEAN[$m]}
  hyperfine -N --runs "$RUNS" --prepare "$c" --cleanup "$c" --export-json "$OUT/net-$N-$m-cycle.json" -n "net-$N-$m-cycle" "bash -c '${UP[$m]} && ${DOWN[$m]}'"
  hyperfine -N --runs "$RUNS" --prepare "$c" --cleanup "$c" --export-json "$OUT/net-$N-$m-up.json" -n "net-$N-$m-up" "${UP[$m]}"
  hyperfine -N --runs "$RUNS" --prepare "bash -c '$c; ${UP[$m]}'" --cleanup "$c" --export-json "$OUT/net-$N-$m-down.json" -n "net-$N-$m-down" "${DOWN[$m]}"
  bash -c "$c"
done
echo "| benchmark | mean ms | min–max ms |"
echo "|---|---:|---:|"
for f in "$OUT"/net-"$N"-*.json; do
  node -e 'const r=require(process.argv[1]).results[0];const ms=x=>Math.round(x*1000);console.log(`| ${r.command} | **${ms(r.mean)}** ± ${ms(r.stddev)} | ${ms(r.min)}–${ms(r.max)} |`)' "$f"
done
