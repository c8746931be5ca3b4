#!/usr/bin/env bash
# Create and tear down the networks of N containers: strata (@strata/network) vs the CNI bridge +
# host-local plugins doing the same (netns, veth on a bridge, address, gateway route, masquerade), in
# the same run, with hyperfine. Needs root, hyperfine, iproute2, iptables, containernetworking-plugins.
# Only talks to namespaces it made. Restores net.ipv4.ip_forward.
# The machine is shared, so besides hyperfine (all runs of one method back to back) the cycle is also
# measured in paired rounds: each round runs every method once, in a rotating order, and the ratio is
# taken within the round; the median of those ratios is the headline number.
# usage: bench/network/run.sh [N=50] [RUNS=5]  -> bench/network/results/*.json, paired.tsv and tables
set -euo pipefail
HERE=$(cd "$(dirname "$0")" && pwd)
ROOT=$(cd "$HERE/../.." && pwd)
N=${1:-50} RUNS=${2:-5}
OUT=$HERE/results
WORK=$(mktemp -d /tmp/strata-bench-network.XXXXXX)
export STATE_DIR=$WORK
mkdir -p "$OUT"
FORWARD=$(cat /proc/sys/net/ipv4/ip_forward)
(cd "$ROOT" && node "$HERE/build.mjs" "$HERE/strata.ts" "$WORK/strata.mjs")

JS="node $WORK/strata.mjs --state $WORK/state" CNI="$HERE/cni.sh"
declare -A UP DOWN CLEAN CHECK
UP[strata]="$JS up $N"; DOWN[strata]="$JS down $N"; CLEAN[strata]="$JS clean $N"; CHECK[strata]="$JS check $N"
UP[strata-p2]="$JS up $N --parallel 2"; DOWN[strata-p2]="$JS down $N --parallel 2"; CLEAN[strata-p2]="$JS clean $N"; CHECK[strata-p2]="$JS check $N"
for v in full min; do
  UP[cni-$v]="$CNI $v up $N"; DOWN[cni-$v]="$CNI $v down $N"; CLEAN[cni-$v]="$CNI $v clean $N"; CHECK[cni-$v]="$CNI $v check $N"
done
METHODS=(cni-full cni-min strata strata-p2)
cleanup() {
  for m in "${METHODS[@]}"; do bash -c "${CLEAN[$m]}" >/dev/null 2>&1 || true; done
  echo "$FORWARD" > /proc/sys/net/ipv4/ip_forward
  rm -rf "$WORK"
}
trap cleanup EXIT

for m in "${METHODS[@]}"; do   # sanity: one traffic check per method
  bash -c "${CLEAN[$m]}"; bash -c "${UP[$m]}"; bash -c "${CHECK[$m]}"; bash -c "${DOWN[$m]}"
done
for m in "${METHODS[@]}"; do
  c=${CLEAN[$m]}
  hyperfine -N --runs "$RUNS" --prepare "$c" --cleanup "$c" --export-json "$OUT/net-$N-$m-cycle.json" \
    -n "net-$N-$m-cycle" "bash -c '${UP[$m]} && ${DOWN[$m]}'"
  hyperfine -N --runs "$RUNS" --prepare "$c" --cleanup "$c" --export-json "$OUT/net-$N-$m-up.json" -n "net-$N-$m-up" "${UP[$m]}"
  hyperfine -N --runs "$RUNS" --prepare "bash -c '$c; ${UP[$m]}'" --cleanup "$c" --export-json "$OUT/net-$N-$m-down.json" \
    -n "net-$N-$m-down" "${DOWN[$m]}"
  bash -c "$c"
done
(cd "$ROOT" && npx biome format --write "$OUT" >/dev/null)   # hyperfine's JSON, in the repo's style
PAIRED=$OUT/net-$N-paired.tsv
: > "$PAIRED"
for ((r = 0; r < RUNS; r++)); do
  for ((k = 0; k < ${#METHODS[@]}; k++)); do
    m=${METHODS[$(( (k + r) % ${#METHODS[@]} ))]}
    bash -c "${CLEAN[$m]}"
    t0=$(date +%s%N); bash -c "${UP[$m]} && ${DOWN[$m]}"; t1=$(date +%s%N)
    echo -e "$r\t$m\t$(( (t1 - t0) / 1000000 ))" >> "$PAIRED"
  done
done
node - "$OUT" "$N" <<'JS'
const [dir, n] = process.argv.slice(2);
const { readFileSync } = require("node:fs");
const mean = (m, p) => JSON.parse(readFileSync(`${dir}/net-${n}-${m}-${p}.json`, "utf8")).results[0];
const ms = (x) => Math.round(x * 1000);
console.log("| method | cycle mean ms (± sd) | up ms | down ms | cycle ÷ cni-full | cycle ÷ cni-min |");
console.log("|---|---:|---:|---:|---:|---:|");
const full = mean("cni-full", "cycle").mean, min = mean("cni-min", "cycle").mean;
for (const m of ["cni-full", "cni-min", "strata", "strata-p2"]) {
  const c = mean(m, "cycle");
  console.log(`| ${m} | **${ms(c.mean)}** ± ${ms(c.stddev)} | ${ms(mean(m, "up").mean)} | ${ms(mean(m, "down").mean)} | ${(c.mean / full).toFixed(2)}× | ${(c.mean / min).toFixed(2)}× |`);
}
const rows = readFileSync(`${dir}/net-${n}-paired.tsv`, "utf8").trim().split("\n").map((l) => l.split("\t"));
const rounds = {};
for (const [r, m, t] of rows) (rounds[r] ??= {})[m] = Number(t);
const median = (xs) => { const s = [...xs].sort((a, b) => a - b); return s.length % 2 ? s[(s.length - 1) / 2] : (s[s.length / 2 - 1] + s[s.length / 2]) / 2; };
console.log("");
console.log("| paired rounds (cycle) | median ms | median ratio ÷ cni-full | median ratio ÷ cni-min |");
console.log("|---|---:|---:|---:|");
for (const m of ["cni-full", "cni-min", "strata", "strata-p2"]) {
  const rs = Object.values(rounds);
  console.log(`| ${m} | ${median(rs.map((x) => x[m]))} | ${median(rs.map((x) => x[m] / x["cni-full"])).toFixed(2)}× | ${median(rs.map((x) => x[m] / x["cni-min"])).toFixed(2)}× |`);
}
JS
