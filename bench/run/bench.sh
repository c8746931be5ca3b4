#!/usr/bin/env bash
# Warm-start benchmark of `run --rm busybox /bin/true` (see README.md). Root only; talks to 127.0.0.1 only.
#   bench/run/bench.sh            (STRATA_BENCH_ROUNDS=30 STRATA_BENCH_WARMUP=3 by default)
# Needs: packages built (npx turbo run build), crun, podman, docker-registry, busybox-static.
set -euo pipefail
HERE=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
[[ $(id -u) == 0 ]] || { echo "run as root" >&2; exit 1; }
if [[ ${1:-} != --inner ]]; then
  # scratch on a tmpfs (ext4 on this VM creates small files slowly and noisily; see peer-bench)
  SCRATCH=$(mktemp -d /tmp/strata-bench-run-scratch-XXXXXX)
  mount -t tmpfs -o size=2g,mode=0755 strata-bench-run "$SCRATCH"
  trap 'umount -l "$SCRATCH"; rmdir "$SCRATCH"' EXIT
  # crun 1.8 refuses hybrid cgroups whose v2 mount lists controllers: hide them in a private mount ns
  STRATA_BENCH_DIR=$SCRATCH unshare --mount --propagation private -- "$0" --inner
  exit
fi
if [[ -n $(cat /sys/fs/cgroup/unified/cgroup.controllers 2>/dev/null) ]]; then
  : > "$STRATA_BENCH_DIR/empty-controllers"
  mount --bind "$STRATA_BENCH_DIR/empty-controllers" /sys/fs/cgroup/unified/cgroup.controllers
fi
exec node "$HERE/bench.mjs"
