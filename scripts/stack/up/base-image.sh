# shellcheck shell=bash
# Phase of up.sh: the base image, made locally from Debian's busybox-static: nothing is ever pulled.
if ! "$DOCKER_CLI" image inspect "$BASE_IMAGE" >/dev/null 2>&1; then
  say "importing $BASE_IMAGE from /bin/busybox (busybox-static)"
  rootfs="$(mktemp -d)"
  mkdir -p "$rootfs"/{bin,sbin,usr/bin,usr/sbin,etc,tmp,root,var,proc,sys,dev}
  chmod 1777 "$rootfs/tmp"
  cp /bin/busybox "$rootfs/bin/busybox"
  for applet in $(/bin/busybox --list-full); do
    [[ -e "$rootfs/$applet" ]] || ln -s /bin/busybox "$rootfs/$applet"
  done
  printf 'root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n' >"$rootfs/etc/passwd"
  printf 'root:x:0:\nnogroup:x:65534:\n' >"$rootfs/etc/group"
  tar -C "$rootfs" --numeric-owner -cf - . | "$DOCKER_CLI" import \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["sh"]' - "$BASE_IMAGE" >/dev/null
  rm -rf "$rootfs"
fi
