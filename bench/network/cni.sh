#!/usr/bin/env bash
# The same N container networks with the CNI reference plugins (Debian containernetworking-plugins):
# `ip netns add` + CNI_COMMAND=ADD of /usr/lib/cni/bridge (which execs host-local) per container; DEL +
# `ip netns del`, then the bridge is deleted. Bridge cnibr0, 10.254.0.0/24.
#   cni.sh full ...  isGateway + ipMasq: gateway on the bridge, default route, masquerade (what strata does)
#   cni.sh min  ...  the peer bench's config: no gateway, no masquerade (a lower bound for CNI)
# usage: cni.sh full|min up|down|cycle|clean|check [N]
set -euo pipefail
VARIANT=$1 PHASE=$2 N=${3:-50}
CNI_DIR=${CNI_PATH:-/usr/lib/cni}
IPAM_DIR=${STATE_DIR:-/tmp/strata-bench-network}/cni-ipam
case $VARIANT in
  full) GW=true ;;
  min) GW=false ;;
  *) echo "usage: $0 full|min up|down|cycle|clean|check [N]" >&2; exit 2 ;;
esac
CONF='{"cniVersion":"1.0.0","name":"strata-bench","type":"bridge","bridge":"cnibr0","isGateway":'$GW',"isDefaultGateway":'$GW',"ipMasq":'$GW',"hairpinMode":false,"ipam":{"type":"host-local","ranges":[[{"subnet":"10.254.0.0/24"}]],"dataDir":"'"$IPAM_DIR"'"}}'

cni() {  # cni ADD|DEL <i>
  CNI_COMMAND=$1 CNI_CONTAINERID=cnic$2 CNI_NETNS=/run/netns/cnins$2 CNI_IFNAME=eth0 CNI_PATH=$CNI_DIR \
    "$CNI_DIR/bridge" <<<"$CONF" >/dev/null
}
up() {
  mkdir -p "$IPAM_DIR"
  for ((i = 1; i <= N; i++)); do ip netns add cnins$i; cni ADD $i; done
}
down() {
  for ((i = 1; i <= N; i++)); do cni DEL $i; ip netns del cnins$i; done
  ip link del cnibr0
}
clean() {
  for ((i = 1; i <= N; i++)); do
    if [[ -e /run/netns/cnins$i ]]; then cni DEL $i 2>/dev/null || true; ip netns del cnins$i 2>/dev/null || true; fi
  done
  ip link del cnibr0 2>/dev/null || true
  rm -rf "$IPAM_DIR"
}
check() {
  local a; a=$(ip -n cnins$N -4 -o addr show dev eth0 | awk '{print $4}' | cut -d/ -f1)
  ip netns exec cnins1 ping -c 1 -W 2 "$a" >/dev/null
  echo "ok: cnins1 -> $a (cnins$N) reachable over cnibr0" >&2
}
case $PHASE in
  up) up ;; down) down ;; cycle) up; down ;; clean) clean ;; check) check ;;
  *) echo "usage: $0 full|min up|down|cycle|clean|check [N]" >&2; exit 2 ;;
esac
