#!/usr/bin/env bash
# Build the store benchmark image and push it to the bench registry.
#
# The peer benchmark used a debootstrap minbase rootfs; debootstrap needs the Debian mirror, and this
# benchmark only talks to 127.0.0.1, so the base layer is a realistic slice of the host's own /usr
# (python3.11 stdlib, perl modules, the git binary, zoneinfo, gconv, i18n, locales a-e): ~6.8k
# entries, ~50 MB gzip, ~170 MB tar, a mix of small text files and larger binaries. Layer 2 is hand-made like
# peer-bench's: added files, a hardlink, a symlink, per-entry whiteouts, a whole-directory whiteout and
# two opaque directories (one hiding a large lower subtree).
#
# Env: BENCH_DIR (/tmp/strata-bench-store)  REG (127.0.0.1:5055)  SDE (1700000000)
set -euo pipefail
BENCH=${BENCH_DIR:-/tmp/strata-bench-store}
REG=${REG:-127.0.0.1:5055}
SDE=${SDE:-1700000000}
CREATED=$(date -u -d "@$SDE" +%Y-%m-%dT%H:%M:%SZ)
L=$BENCH/oci/rootfs
W=$BENCH/build
log() { printf '[make-image] %s\n' "$*" >&2; }
[[ $(id -u) == 0 ]] || { echo "run as root" >&2; exit 1; }

if [[ ! -f $L/index.json || ${FORCE:-0} == 1 ]]; then
  rm -rf "$L" "$W"; mkdir -p "$W"
  umoci init --layout "$L"
  umoci new --image "$L:v1"
  umoci unpack --image "$L:v1" "$W/bundle" >/dev/null
  R=$W/bundle/rootfs
  log "layer 1: slice of the host's /usr"
  tar -C / -cf - usr/lib/python3.11 usr/share/perl usr/lib/git-core/git usr/lib/x86_64-linux-gnu/perl \
      usr/share/zoneinfo usr/lib/x86_64-linux-gnu/gconv usr/share/i18n \
      $(cd / && ls -d usr/share/locale/[a-e]* 2>/dev/null) 2>/dev/null | tar -C "$R" -xf -
  install -d -m 0755 "$R"/{bin,etc,tmp,root,var,opt}
  chmod 1777 "$R/tmp"; chmod 0700 "$R/root"
  install -m 0755 "$(readlink -f /bin/busybox)" "$R/bin/busybox"
  ln -s busybox "$R/bin/sh"
  printf 'root:x:0:0:root:/root:/bin/sh\n' > "$R/etc/passwd"
  echo "welcome" > "$R/etc/motd"
  find "$R" -xdev -exec touch -h -d "@$SDE" {} +
  umoci repack --image "$L:v1" --history.created "$CREATED" --history.created_by "host /usr slice" "$W/bundle" >/dev/null
  log "layer 2: adds, hardlink, symlink, whiteouts, opaque dirs"
  S=$W/layer2
  install -d "$S/etc" "$S/opt/bench" "$S/usr/share/zoneinfo" "$S/usr/lib/python3.11/email" "$S/usr/share/perl"
  printf 'bench layer 2\n' > "$S/etc/bench-release"
  head -c 1048576 /dev/urandom > "$S/opt/bench/data.bin"
  ln "$S/opt/bench/data.bin" "$S/opt/bench/data-hardlink.bin"
  ln -s data.bin "$S/opt/bench/data-symlink"
  : > "$S/etc/.wh.motd"
  for e in "$R"/usr/share/zoneinfo/*; do : > "$S/usr/share/zoneinfo/.wh.$(basename "$e")"; done
  : > "$S/usr/share/.wh.i18n"
  : > "$S/usr/lib/python3.11/email/.wh..wh..opq"
  printf 'replaced\n' > "$S/usr/lib/python3.11/email/README"
  : > "$S/usr/share/perl/.wh..wh..opq"
  printf 'perl modules hidden by layer 2\n' > "$S/usr/share/perl/README"
  find "$S" -exec touch -h -d "@$SDE" {} +
  tar -C "$S" --sort=name --numeric-owner --owner=0 --group=0 --format=pax \
      --pax-option=exthdr.name=%d/PaxHeaders/%f,delete=atime,delete=ctime -cf "$W/layer2.tar" etc opt usr
  umoci raw add-layer --image "$L:v1" --history.created "$CREATED" --history.created_by "bench layer 2" "$W/layer2.tar"
  umoci config --image "$L:v1" --created "$CREATED" --author strata-bench --os linux --architecture amd64 \
    --config.env "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin" --config.cmd /bin/sh --no-history
  umoci gc --layout "$L"
  rm -rf "$W"
fi
log "pushing to $REG/bench/rootfs:v1"
skopeo copy --quiet --dest-tls-verify=false "oci:$L:v1" "docker://$REG/bench/rootfs:v1"
