#!/usr/bin/env bash
# The runtime tree of the one-container image (deploy/container/Dockerfile copies it onto
# debian:12-slim): the binary, every shared library it loads (as ldd resolves them, the dynamic
# loader included), CA certificates, a non-root user (uid 10001) owning the working directory
# /var/lib/pg2iceberg, and /tmp. Enough on its own to run the entrypoint under chroot, which is
# how tests/deploy/container_test proves the image without a Docker engine.
#
#   scripts/container_rootfs.sh BINARY DIR
set -euo pipefail
BINARY=$1
DIR=$2
[[ -x "$BINARY" ]] || { echo "container_rootfs.sh: $BINARY is not an executable" >&2; exit 2; }
mkdir -p "$DIR/usr/local/bin" "$DIR/etc/ssl/certs" "$DIR/tmp" "$DIR/var/lib/pg2iceberg"
cp -L "$BINARY" "$DIR/usr/local/bin/pg2iceberg"
# Libraries: "name => /path (addr)" lines, and the loader's own "/lib64/ld-linux… (addr)".
ldd "$BINARY" | awk '$2 == "=>" && $3 ~ /^\// { print $3 } $1 ~ /^\// { print $1 }' | sort -u | while read -r lib; do
  mkdir -p "$DIR$(dirname "$lib")"
  cp -L "$lib" "$DIR$lib"
done
if [[ -f /etc/ssl/certs/ca-certificates.crt ]]; then
  cp -L /etc/ssl/certs/ca-certificates.crt "$DIR/etc/ssl/certs/ca-certificates.crt"
fi
cat > "$DIR/etc/passwd" <<'PASSWD'
root:x:0:0:root:/root:/usr/sbin/nologin
pg2iceberg:x:10001:10001:pg2iceberg:/var/lib/pg2iceberg:/usr/sbin/nologin
PASSWD
cat > "$DIR/etc/group" <<'GROUP'
root:x:0:
pg2iceberg:x:10001:
GROUP
echo "hosts: files dns" > "$DIR/etc/nsswitch.conf"
chmod 1777 "$DIR/tmp"
chown -R 10001:10001 "$DIR/var/lib/pg2iceberg" 2>/dev/null || chmod 0777 "$DIR/var/lib/pg2iceberg"
echo "container_rootfs.sh: $(find "$DIR" -type f | wc -l) files, $(du -sh "$DIR" | cut -f1) in $DIR"
