#!/usr/bin/env bash
# The suite's leak check. `check-leaks.sh baseline` records what already exists before the tests run
# (leftovers of an earlier, interrupted run are not this run's leaks); `check-leaks.sh` after the tests
# fails if the suite left anything new behind: mounts, named netns, cgroups, temp dirs or processes whose
# names carry "strata-test" (every test object does; interfaces are checked by each package's own tests).
set -uo pipefail
state="${TMPDIR:-/tmp}/.strata-leak-baseline"

inventory() {
  grep -E 'strata-test' /proc/self/mountinfo | awk '{print "mount: " $5}'
  ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^strata-test' | sed 's/^/netns: /'
  find /sys/fs/cgroup -maxdepth 4 -type d -name '*strata-test*' 2>/dev/null | sed 's/^/cgroup: /'
  find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'strata-test-*' 2>/dev/null | sed 's/^/tmp: /'
  pgrep -a -f 'strata-test-' 2>/dev/null | grep -v -e check-leaks -e pgrep | awk '{$1=""; print "process:" $0}'
}

if [ "${1:-}" = "baseline" ]; then
  inventory | sort > "$state"
  if [ -s "$state" ]; then
    echo "check-leaks: $(wc -l < "$state") object(s) from an earlier run exist; they are not counted:" >&2
    sed 's/^/  /' "$state" >&2
  fi
  exit 0
fi

touch "$state"
leaks=$(comm -13 "$state" <(inventory | sort))
rm -f "$state"
if [ -n "$leaks" ]; then
  echo "check-leaks: the test suite left $(echo "$leaks" | wc -l) object(s) behind:" >&2
  echo "$leaks" | sed 's/^/  /' >&2
  exit 1
fi
echo "check-leaks: nothing left behind (mounts, netns, cgroups, temp dirs, processes)"
