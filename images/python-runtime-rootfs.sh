#!/bin/sh
# Assemble a shell-less runtime root filesystem for a Python 3 venv from the Debian packages
# installed in the build stage (the way distroless images are made): the files of each package
# below, their copyright notices, a dpkg status entry per package (so SBOM and CVE scanners see
# them), CA certificates, /etc/passwd with the non-root user 65532, and /tmp. No shell, no
# package manager. Two coreutils programs come along because the platform execs them:
# env (Tekton runs a step `script:` through its `#!/usr/bin/env python3` line) and sleep (a
# container's preStop hook on clusters without `lifecycle.preStop.sleep`).
# Usage: python-runtime-rootfs.sh <target-dir> [extra Debian package...]
set -eu
target=$1
shift
packages="libc6 libgcc-s1 libstdc++6 zlib1g libssl3 libffi8 libexpat1 libbz2-1.0 liblzma5
  libsqlite3-0 libuuid1 libcrypt1 libncursesw6 libtinfo6 libreadline8 libdb5.3 libnsl2
  libtirpc3 libtirpc-common libgssapi-krb5-2 libkrb5-3 libk5crypto3 libkrb5support0 libkeyutils1
  libcom-err2 media-types netbase ca-certificates
  libpython3.11-minimal libpython3.11-stdlib python3.11-minimal python3-minimal $*"

mkdir -p "$target/usr/bin" "$target/usr/sbin" "$target/usr/lib" "$target/usr/lib64" \
  "$target/etc" "$target/tmp" "$target/var/lib/dpkg/status.d" "$target/home/nonroot"
# Debian bookworm is /usr-merged: keep the same links so every packaged path resolves.
for dir in bin sbin lib lib64; do ln -s "usr/$dir" "$target/$dir"; done

list=$(mktemp)
for package in $packages; do
  dpkg-query -W -f='${Status}\n' "$package" | grep -q 'install ok installed' \
    || { echo "python-runtime-rootfs: $package is not installed in the build stage" >&2; exit 1; }
  dpkg-query -L "$package" >> "$list"
  dpkg-query -s "$package" > "$target/var/lib/dpkg/status.d/$package"
done
printf '%s\n' /usr/bin/env /usr/bin/sleep /etc/ssl/certs/ca-certificates.crt \
  /usr/share/doc/coreutils/copyright >> "$list"

# Files and links only (parents are created on extraction), without manuals and translations.
sort -u "$list" | while read -r path; do
  if [ -L "$path" ] || [ -f "$path" ]; then printf '%s\n' "${path#/}"; fi
done | grep -v -E '^usr/share/(man|locale|info|lintian)/|^usr/share/doc/.*/(changelog|NEWS|README)' \
  > "$list.files"
tar -C / --no-recursion -cf - -T "$list.files" | tar -C "$target" --keep-directory-symlink -xf -
rm -f "$list" "$list.files"

cp /etc/ld.so.conf "$target/etc/"
cp -r /etc/ld.so.conf.d "$target/etc/"
printf 'root:x:0:0:root:/root:/usr/sbin/nologin\nnonroot:x:65532:65532:nonroot:/home/nonroot:/usr/sbin/nologin\n' \
  > "$target/etc/passwd"
printf 'root:x:0:\nnonroot:x:65532:\n' > "$target/etc/group"
printf 'hosts: files dns\n' > "$target/etc/nsswitch.conf"
chmod 1777 "$target/tmp"
chown 65532:65532 "$target/home/nonroot"
for shell in sh bash dash; do
  if [ -e "$target/usr/bin/$shell" ]; then echo "python-runtime-rootfs: a shell slipped in: $shell" >&2; exit 1; fi
done
