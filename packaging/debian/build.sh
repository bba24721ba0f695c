#!/usr/bin/env bash
# build.sh [VERSION [OUTDIR]]: builds OUTDIR/ars_DEBVERSION_ARCH.deb (OUTDIR
# defaults to dist/) from a staged tree with dpkg-deb; no debhelper.
#
# VERSION is anything `git describe` prints; debversion.sh makes it a valid
# Debian version. ARS_BIN_DIR=DIR packages prebuilt ars and transcoder
# instead of building them; DEB_ARCH picks the architecture (default: the
# host's); DEB_COMPRESS=gzip trades size for speed (default xz);
# DEB_MAINTAINER sets the Maintainer field. The last line of output is the
# path of the package.
set -Eeuo pipefail
trap 'echo "build.sh: line $LINENO: $BASH_COMMAND failed" >&2' ERR

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
repo=$(cd "$here/../.." && pwd)
raw=${1:-$(git -C "$repo" describe --tags --always --dirty 2>/dev/null || echo dev)}
out=${2:-$repo/dist}
version=$("$here/debversion.sh" "$raw")
dpkg --validate-version "$version" >/dev/null 2>&1 || { echo "build.sh: bad version $version" >&2; exit 1; }
arch=${DEB_ARCH:-$(dpkg --print-architecture 2>/dev/null || echo amd64)}
case $arch in
amd64 | arm64 | riscv64 | ppc64el | s390x) goarch=${arch/ppc64el/ppc64le} goarm="" ;;
armhf) goarch=arm goarm=7 ;;
i386) goarch=386 goarm="" ;;
*) echo "build.sh: unsupported architecture $arch" >&2; exit 1 ;;
esac

stage=$(mktemp -d)
trap 'rm -rf "$stage"' EXIT
root=$stage/root
mkdir -p "$root"
# Permissions are set explicitly below; the builder's umask must not leak.
umask 022

bin=${ARS_BIN_DIR:-}
if [ -z "$bin" ]; then
	bin=$stage/bin
	for cmd in ars transcoder; do
		# Static and cgo-free: one package runs on every Ubuntu/Debian
		# release whatever its glibc. deploy.sh builds the same way.
		(cd "$repo" && CGO_ENABLED=0 GOOS=linux GOARCH=$goarch GOARM=$goarm go build -trimpath -buildmode=pie \
			-ldflags "-s -w -X main.version=$version" -o "$bin/$cmd" "./cmd/$cmd")
	done
	# ars-mixer links GStreamer (cgo); the daemon and transcoder find it next to them.
	(cd "$repo" && CGO_ENABLED=1 go build -trimpath -buildmode=pie -ldflags "-s -w -X main.version=$version" -o "$bin/ars-mixer" ./cmd/ars-mixer)
fi

put() { # put MODE SRC DEST
	install -D -m "$1" "$2" "$root$3"
}
put 0755 "$bin/ars" /usr/bin/ars
put 0755 "$bin/transcoder" /usr/bin/transcoder
[ ! -x "$bin/ars-mixer" ] || put 0755 "$bin/ars-mixer" /usr/bin/ars-mixer
for unit in ars.service ars-transcode.service ars-transcode.timer; do
	put 0644 "$repo/systemd/$unit" "/usr/lib/systemd/system/$unit"
done
# ars.socket is written by postinst from /etc/ars/ars.env (ARS_RTP_PORTS,
# ARS_BIND) with the generator deploy.sh uses; the drop-in makes the
# service require it.
put 0644 "$repo/systemd/ars-socket.conf" /usr/lib/systemd/system/ars.service.d/ars-socket.conf
put 0755 "$repo/packaging/ars-socket-unit" /usr/lib/ars/ars-socket-unit
put 0644 "$repo/systemd/ars.sysusers" /usr/lib/sysusers.d/ars.conf
put 0644 "$repo/packaging/sysctl/60-ars.conf" /usr/lib/sysctl.d/60-ars.conf
put 0755 "$repo/packaging/cron/agora_hourly" /etc/cron.hourly/agora_hourly
put 0644 "$repo/packaging/logrotate/ars" /etc/logrotate.d/ars
# The certificate will live here: never world-readable, not even empty.
put 0640 "$repo/packaging/ars.env" /etc/ars/ars.env
chmod 0750 "$root/etc/ars"
for doc in install.md operations.md; do
	[ ! -f "$repo/docs/$doc" ] || put 0644 "$repo/docs/$doc" "/usr/share/doc/ars/$doc"
done
put 0644 "$here/copyright" /usr/share/doc/ars/copyright
put 0644 "$here/lintian-overrides" /usr/share/lintian/overrides/ars
maintainer=${DEB_MAINTAINER:-ars maintainers <ars-project@users.noreply.github.com>}
printf 'ars (%s) unstable; urgency=medium\n\n  * Built from %s.\n\n -- %s  %s\n' \
	"$version" "$raw" "$maintainer" "$(date -R -u -d "@${SOURCE_DATE_EPOCH:-$(date +%s)}")" |
	gzip -9n >"$root/usr/share/doc/ars/changelog.gz"
chmod 0644 "$root/usr/share/doc/ars/changelog.gz"

mkdir -p "$root/DEBIAN"
size=$(du -sk --exclude=DEBIAN "$root" | cut -f1)
sed -e "s/@VERSION@/$version/" -e "s/@ARCH@/$arch/" -e "s/@SIZE@/$size/" -e "s|@MAINTAINER@|$maintainer|" "$here/control.in" >"$root/DEBIAN/control"
install -m 0644 "$here/conffiles" "$root/DEBIAN/conffiles"
for script in postinst prerm postrm; do
	install -m 0755 "$here/$script" "$root/DEBIAN/$script"
done
(cd "$root" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | sort -z | xargs -0 md5sum) >"$root/DEBIAN/md5sums"
chmod 0644 "$root/DEBIAN/md5sums"

mkdir -p "$out"
deb="$out/ars_${version}_${arch}.deb"
dpkg-deb --root-owner-group "-Z${DEB_COMPRESS:-xz}" --build "$root" "$deb" >/dev/null
echo "$deb"
