#!/usr/bin/env bash
# Builds ippm_VERSION_amd64.deb with the standard Debian tools (dpkg-deb): the self-contained single-file ippm,
# the systemd unit, an example configuration and limits file (conffiles), and the man page.
# Usage: packaging/build-deb.sh [VERSION] [OUTDIR]
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
version=${1:-0.1.0}
out=${2:-$root/artifacts}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

dotnet publish "$root/src/Ippm.Cli" -c Release -r linux-x64 --self-contained true \
  -p:PublishSingleFile=true -p:DebugType=none -p:Version="$version" -o "$work/publish"

pkg="$work/ippm_${version}_amd64"
# ippm plot's native drawing libraries (libSkiaSharp.so, libHarfBuzzSharp.so) are not inside the single file, and .NET
# loads them from the executable's own directory: the binary lives beside them and /usr/bin/ippm is a link to it.
install -D -m 0755 "$work/publish/ippm" "$pkg/usr/lib/ippm/ippm"
for lib in "$work/publish/"*.so; do install -m 0644 "$lib" "$pkg/usr/lib/ippm/"; done
install -d "$pkg/usr/bin"
ln -s ../lib/ippm/ippm "$pkg/usr/bin/ippm"
install -D -m 0644 "$root/packaging/systemd/ippm-server.service" "$pkg/lib/systemd/system/ippm-server.service"
install -D -m 0644 "$root/packaging/systemd/ippm-agent.service" "$pkg/lib/systemd/system/ippm-agent.service"
install -D -m 0644 "$root/packaging/agent.conf" "$pkg/etc/ippm/agent.conf"
install -D -m 0644 "$root/packaging/server.conf" "$pkg/etc/ippm/server.conf"
install -D -m 0644 "$root/packaging/server.limits" "$pkg/etc/ippm/server.limits"
install -d "$pkg/usr/share/man/man8" "$pkg/usr/share/doc/ippm"
gzip -9n < "$root/packaging/ippm.8" > "$pkg/usr/share/man/man8/ippm.8.gz"
chmod 0644 "$pkg/usr/share/man/man8/ippm.8.gz"
cat > "$pkg/usr/share/doc/ippm/copyright" <<COPYRIGHT
Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/
Upstream-Name: ippm
Files: *
Copyright: the ippm authors
License: see the ippm repository
COPYRIGHT
install -d "$pkg/DEBIAN"
printf '/etc/ippm/server.conf\n/etc/ippm/server.limits\n/etc/ippm/agent.conf\n' > "$pkg/DEBIAN/conffiles"
size=$(du -sk "$pkg" | cut -f1)
cat > "$pkg/DEBIAN/control" <<CONTROL
Package: ippm
Version: $version
Architecture: amd64
Maintainer: ippm developers <ippm@localhost>
Installed-Size: $size
Depends: libc6, libgcc-s1, libstdc++6, zlib1g
Section: net
Priority: optional
Homepage: https://localhost/ippm
Description: OWAMP/TWAMP measurement server and clients (RFC 4656, 5357, 7717)
 ippm replaces owampd, twampd, owping and twping: one executable, wire-compatible
 with perfSONAR, reading perfSONAR's limits and configuration files, with a
 systemd units (ippm-server.service, ippm-agent.service for continuous
 measurement), Prometheus metrics and IKEv2-derived keys.
CONTROL
mkdir -p "$out"
dpkg-deb --root-owner-group --build "$pkg" "$out/ippm_${version}_amd64.deb"
echo "$out/ippm_${version}_amd64.deb"
