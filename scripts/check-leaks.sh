#!/usr/bin/env bash
# Run after the whole test suite: fails if any test left a kernel object or temp dir behind.
# Test objects carry "strata-test" in their names (interfaces start with "st" and are listed by tests).
set -uo pipefail
leaks=()
while read -r line; do leaks+=("mount: $line"); done < <(grep -E 'strata-test' /proc/self/mountinfo | awk '{print $5}')
while read -r line; do leaks+=("netns: $line"); done < <(ip netns list 2>/dev/null | awk '{print $1}' | grep -E '^strata-test')
while read -r line; do leaks+=("cgroup: $line"); done < <(find /sys/fs/cgroup -maxdepth 4 -type d -name '*strata-test*' 2>/dev/null)
while read -r line; do leaks+=("tmp: $line"); done < <(find "${TMPDIR:-/tmp}" -maxdepth 1 -name 'strata-test-*' 2>/dev/null)
while read -r line; do leaks+=("process: $line"); done < <(pgrep -a -f 'strata-test-' 2>/dev/null | grep -v -e check-leaks -e pgrep)
if [ "${#leaks[@]}" -gt 0 ]; then
  echo "check-leaks: the test suite left ${#leaks[@]} object(s) behind:" >&2
  printf '  %s\n' "${leaks[@]}" >&2
  exit 1
fi
echo "check-leaks: nothing left behind (mounts, netns, cgroups, temp dirs, processes)"
