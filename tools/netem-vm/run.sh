#!/usr/bin/env bash
# Proves the kernel netem backend on a kernel that has sch_netem: boots
# Debian's kernel (linux-image-amd64, not installed, only unpacked) in a
# throwaway QEMU guest under TCG with an initramfs holding busybox, the
# needed modules and the netem package's test binary, and runs the link
# conformance suite there against every backend (netem and userspace), plus
# the netem codec tests against the real kernel.
#
#   tools/netem-vm/run.sh            # from a fresh machine: apt, download, build, boot
#   KEEP=1 tools/netem-vm/run.sh     # reuse the downloaded kernel in $W
#
# The guest has no network device at all (-nic none) and the host's
# namespaces are never touched. Exit 0 only if the guest's go test passed
# and the netem backend's conformance tests ran (not skipped).
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
W=${W:-/tmp/tcplab-netem-vm}
TIMEOUT=${TIMEOUT:-600}
RUN=${RUN:-'TestConformance|TestNetemInKernel|TestBuildConnectClose|TestWireObserver'}
# Under TCG the userspace link is far too slow to be faithful (measured: a
# 25 ms delay read 36 ms): it is proven on the host; the guest proves netem.
BACKEND=${BACKEND:-netem}
MODS="sch_netem sch_tbf veth tun"
export DEBIAN_FRONTEND=noninteractive PATH=/usr/local/go/bin:$PATH
T0=$(date +%s)
say() { echo "[netem-vm +$(( $(date +%s) - T0 ))s] $*"; }
mkdir -p "$W"

need=()
command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
[ -x /bin/busybox ] && file -L /bin/busybox 2>/dev/null | grep -q static || dpkg -s busybox-static >/dev/null 2>&1 || need+=(busybox-static)
for c in cpio:cpio depmod:kmod xz:xz-utils zstd:zstd; do command -v "${c%%:*}" >/dev/null || need+=("${c#*:}"); done
if [ ${#need[@]} -gt 0 ]; then
  say "installing ${need[*]}"
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi

if [ "${KEEP:-0}" != 1 ] || [ ! -d "$W/kernel/lib/modules" ]; then
  rm -rf "$W/dl" "$W/kernel"; mkdir -p "$W/dl"; chown _apt "$W/dl" 2>/dev/null || true
  apt-get update -qq
  KPKG=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/{print $2; exit}')
  say "downloading $KPKG"
  (cd "$W/dl" && apt-get download -qq "$KPKG")
  dpkg-deb -x "$W"/dl/linux-image-*.deb "$W/kernel"
fi
KVER=$(ls "$W/kernel/lib/modules" | head -1)
MD=$W/kernel/lib/modules/$KVER
[ -f "$MD/modules.dep" ] || depmod -b "$W/kernel" "$KVER"
say "kernel $KVER"

say "building the netem test binary (static)"
CGO_ENABLED=0 go test -c -trimpath -o "$W/netem.test" ./netem

R=$W/initramfs; rm -rf "$R"
mkdir -p "$R"/{bin,dev,proc,sys,run,tmp,mod}
BB=$(command -v busybox || echo /bin/busybox)
cp "$BB" "$R/bin/busybox"
cp "$W/netem.test" "$R/bin/netem.test"
mknod -m 600 "$R/dev/console" c 5 1
mknod -m 666 "$R/dev/null" c 1 3
order=()
add_mod() {
  local p=$1 d
  for d in $(awk -F': *' -v m="$p" '$1==m{print $2}' "$MD/modules.dep"); do add_mod "$d"; done
  [[ " ${order[*]:-} " == *" $p "* ]] || order+=("$p")
}
for m in $MODS; do
  p=$(awk -F: -v m="$m" '{n=$1; sub(/.*\//,"",n); sub(/\.ko(\.(xz|zst|gz))?$/,"",n); if(n==m){print $1; exit}}' "$MD/modules.dep")
  [ -n "$p" ] || { echo "module $m not in $KVER" >&2; exit 2; }
  add_mod "$p"
done
: > "$R/mod/order"
for p in "${order[@]}"; do
  b=$(basename "$p"); b=${b%.xz}; b=${b%.zst}; b=${b%.gz}
  case $p in *.xz) xz -dc "$MD/$p";; *.zst) zstd -qdc "$MD/$p";; *.gz) gzip -dc "$MD/$p";; *) cat "$MD/$p";; esac > "$R/mod/$b"
  echo "$b" >> "$R/mod/order"
done
cat > "$R/init" <<INIT
#!/bin/busybox sh
/bin/busybox --install -s /bin
export PATH=/bin
mount -t proc proc /proc; mount -t sysfs sys /sys; mount -t devtmpfs dev /dev; mount -t tmpfs run /run; mount -t tmpfs tmp /tmp
for m in \$(cat /mod/order); do insmod /mod/\$m || echo "insmod \$m FAILED"; done
echo "GUEST kernel \$(uname -r), modules: \$(cut -d' ' -f1 /proc/modules | tr '\n' ' ')"
cd /tmp
TCPLAB_CONFORMANCE_EMULATED=1 TCPLAB_CONFORMANCE_BACKEND=$BACKEND /bin/netem.test -test.v -test.count=1 -test.timeout=500s -test.run '$RUN'
echo "GUEST-DONE rc=\$?"
poweroff -f
INIT
chmod 755 "$R/init"
(cd "$R" && find . -print0 | cpio --null -o -H newc --quiet | gzip -1 > "$W/initrd.gz")
say "initramfs $(du -h "$W/initrd.gz" | cut -f1), modules: $(tr '\n' ' ' < "$R/mod/order")"

LOG=$W/console.log
say "booting under TCG"
timeout "$TIMEOUT" qemu-system-x86_64 -accel tcg,thread=multi -cpu max -m 2048 -smp 2 -nic none \
  -kernel "$W/kernel/boot/vmlinuz-$KVER" -initrd "$W/initrd.gz" \
  -append "console=ttyS0 quiet panic=-1" -nographic -no-reboot </dev/null 2>&1 | tr -d '\r' > "$LOG" || true
grep -E '^(GUEST|=== RUN|--- |PASS|FAIL|ok)|conformance_test|netem_kernel_test' "$LOG" || true
say "guest finished"
grep -q '^GUEST-DONE rc=0' "$LOG" || { echo "NETEM-VM: FAIL (see $LOG)"; exit 1; }
grep -q -- '--- PASS: TestConformance/netem' "$LOG" || { echo "NETEM-VM: FAIL: the netem backend's conformance tests did not run"; exit 1; }
echo "NETEM-VM: PASS"
