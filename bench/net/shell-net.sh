#!/usr/bin/env bash
# N named namespaces wired to one bridge with plain iproute2 (or the CNI bridge plugin), the baseline for
# strata-net.mjs. Same wiring: veth host end sb<m>h<i> on bridge, other end eth0 in sb<m>ns<i>, one /16, lo up.
#
# usage: shell-net.sh ip|batch|cni up|down|cycle|clean|check [N]
#   ip    : one `ip` process per operation (8 per namespace up, 2 per namespace down)
#   batch : one `ip -batch -` for all host-side work + one `ip -n NS -batch -` per namespace; one batch down
#   cni   : `ip netns add` + CNI ADD of /usr/lib/cni/bridge with host-local IPAM; DEL + `ip netns del`
set -euo pipefail
METHOD=$1 PHASE=$2 N=${3:-50}
CNI_DIR=${CNI_PATH:-/usr/lib/cni}
IPAM_DIR=${TMPDIR:-/tmp}/strata-bench-net-ipam
case $METHOD in ip) P=sbi ;; batch) P=sbb ;; cni) P=sbc ;; *) echo "bad method" >&2; exit 2 ;; esac
BR=${P}br0
CONF='{"cniVersion":"1.0.0","name":"strata-bench","type":"bridge","bridge":"'"$BR"'","isGateway":false,"ipMasq":false,"hairpinMode":false,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.253.0.0/16"}]],"dataDir":"'"$IPAM_DIR"'"}}'

addr() { echo "10.252.$(( ($1 + 1) / 256 )).$(( ($1 + 1) % 256 ))"; }
cni() { CNI_COMMAND=$1 CNI_CONTAINERID=${P}$2 CNI_NETNS=/run/netns/${P}ns$2 CNI_IFNAME=eth0 CNI_PATH=$CNI_DIR \
  "$CNI_DIR/bridge" <<<"$CONF" >/dev/null; }
bridge_up() { ip link show "$BR" >/dev/null 2>&1 || { ip link add "$BR" type bridge; ip link set "$BR" up; }; }

ip_up() {
  bridge_up
  for ((i = 1; i <= N; i++)); do
    ip netns add ${P}ns$i
    ip -n ${P}ns$i link set lo up
    ip link add ${P}h$i type veth peer name ${P}p$i
    ip link set ${P}p$i netns ${P}ns$i name eth0
    ip link set ${P}h$i master "$BR"
    ip link set ${P}h$i up
    ip -n ${P}ns$i addr add "$(addr $i)/16" dev eth0
    ip -n ${P}ns$i link set eth0 up
  done
}
ip_down() {
  for ((i = 1; i <= N; i++)); do ip link del ${P}h$i; ip netns del ${P}ns$i; done
  ip link del "$BR"
}
batch_up() {
  bridge_up
  for ((i = 1; i <= N; i++)); do
    echo "netns add ${P}ns$i"
    echo "link add ${P}h$i type veth peer name ${P}p$i"
    echo "link set ${P}p$i netns ${P}ns$i name eth0"
    echo "link set ${P}h$i master $BR"
    echo "link set ${P}h$i up"
  done | ip -batch -
  for ((i = 1; i <= N; i++)); do
    printf 'link set lo up\naddr add %s/16 dev eth0\nlink set eth0 up\n' "$(addr $i)" | ip -n ${P}ns$i -batch -
  done
}
batch_down() {
  { for ((i = 1; i <= N; i++)); do echo "link del ${P}h$i"; echo "netns del ${P}ns$i"; done; echo "link del $BR"; } | ip -batch -
}
cni_up() { mkdir -p "$IPAM_DIR"; for ((i = 1; i <= N; i++)); do ip netns add ${P}ns$i; cni ADD $i; done; }
cni_down() { for ((i = 1; i <= N; i++)); do cni DEL $i; ip netns del ${P}ns$i; done; ip link del "$BR"; }
clean() {
  for ((i = 1; i <= N; i++)); do
    if [[ $METHOD == cni && -e /run/netns/${P}ns$i ]]; then cni DEL $i 2>/dev/null || true; fi
    ip link del ${P}h$i 2>/dev/null || true
    ip netns del ${P}ns$i 2>/dev/null || true
  done
  ip link del "$BR" 2>/dev/null || true
  rm -rf "$IPAM_DIR"
}
check() {
  local a
  a=$(ip -n ${P}ns$N -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
  ip netns exec ${P}ns1 ping -c 1 -w 5 "$a" >/dev/null
  echo "ok: ${P}ns1 -> $a (${P}ns$N) reachable over $BR" >&2
}
case $PHASE in
  up) ${METHOD}_up ;; down) ${METHOD}_down ;; cycle) ${METHOD}_up; ${METHOD}_down ;;
  clean) clean ;; check) check ;;
  *) echo "usage: $0 ip|batch|cni up|down|cycle|clean|check [N]" >&2; exit 2 ;;
esac
