#!/usr/bin/env bash
# shellcheck disable=SC2015,SC2016 # ok and bad always succeed (A && ok || bad is if-then-else here); the single-quoted commands run inside the container
# systemd-check.sh: deploy.sh and the .deb under a real systemd. Boots a
# Debian 12 root (debootstrap, cached in /var/cache/ars-systemd/rootfs) with
# systemd as PID 1 in systemd-nspawn (private network: loopback only).
#
# deploy.sh: installs ars and checks that the service and ars.socket are
# active and the daemon inherited its RTP sockets; that the hourly job (run
# as cron runs it) converts a finished recording to an MP4 that decodes;
# that `systemctl restart ars` with CHANNELS two-person channels sending
# loses no packet; that running deploy.sh again (an upgrade) under the same
# load keeps the configuration, the old recordings and the live recordings'
# directories and loses no packet; that a hung daemon (SIGSTOP) is killed by
# the watchdog, restarted, and its recordings resume; that --uninstall
# removes the units.
#
# The .deb (`make deb`), in a fresh container whose root also holds the
# package's dependencies (cached in /var/cache/ars-systemd/rootfs-deb):
# dpkg -i, ars.socket written from ars.env, the service active, hardened,
# recording; `systemctl restart ars` and `dpkg -i` of the package again
# (an upgrade) under load lose no packet and keep configuration and
# recordings; dpkg -r stops and disables both units, --purge removes the
# configuration, never a recording. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
CHANNELS=${CHANNELS:-20}
CACHE=/var/cache/ars-systemd/rootfs
DEB_CACHE=/var/cache/ars-systemd/rootfs-deb
APP_ID=970ca35de60c44645bbae8a215061b33
CERT=5cfd2fd1755d40ecb72977518be15d3b
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

command -v debootstrap >/dev/null && command -v systemd-nspawn >/dev/null ||
	{ apt-get update -q && apt-get install -y -q debootstrap systemd-container; }
command -v ffmpeg >/dev/null && command -v ffprobe >/dev/null || { apt-get update -q && apt-get install -y -q ffmpeg; }
if [ ! -x "$CACHE/usr/lib/systemd/systemd" ]; then
	# The first mirror apt uses: a URIs: line (deb822) or a deb line, not a comment.
	mirror=$( (grep -hE '^(URIs:|deb) ' /etc/apt/sources.list.d/*.sources /etc/apt/sources.list.d/*.list /etc/apt/sources.list 2>/dev/null || true) |
		grep -oE 'https?://[^ ]+' | head -1 || true)
	mkdir -p "$(dirname "$CACHE")"
	debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,cron,logrotate,ca-certificates bookworm "$CACHE" "${mirror:-http://deb.debian.org/debian}"
fi
# The .deb's root: the same plus the package's Depends, installed once (the
# containers themselves have no network).
deps=$(sed -n 's/^Depends: //p' packaging/debian/control.in | tr -d ' ' | tr ',' '\n' | sed 's/(.*//' | tr '\n' ' ')
if [ "$(cat "$DEB_CACHE/.ars-deps" 2>/dev/null)" != "$deps" ]; then
	rm -rf "$DEB_CACHE" "$DEB_CACHE.new"
	cp -a "$CACHE" "$DEB_CACHE.new"
	systemd-nspawn -q -D "$DEB_CACHE.new" --register=no --keep-unit --pipe sh -c \
		"apt-get update -q && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $deps && apt-get clean" >/dev/null
	printf '%s' "$deps" >"$DEB_CACHE.new/.ars-deps"
	mv "$DEB_CACHE.new" "$DEB_CACHE"
fi
make build >/dev/null
work=$(mktemp -d /tmp/ars-systemd-work.XXXXXX)
CGO_ENABLED=0 go build -o "$work/sdsend" ./test/systemd/sdsend
"$work/sdsend" -make-media "$work/media.rtp"
deb=$(DEB_COMPRESS=gzip make -s deb | tail -1)
[ -f "$deb" ] || { echo "make deb did not give a package ($deb)"; exit 1; }

ROOT="" nspawn=""
# boot CACHE_DIR: boots a fresh copy of CACHE_DIR; sets ROOT, nspawn, pid1.
boot() {
	ROOT=$(mktemp -d /tmp/ars-systemd.XXXXXX)
	cp -a "$1/." "$ROOT/"
	cp "$work/sdsend" "$ROOT/usr/local/bin/sdsend"
	cp "$work/media.rtp" "$ROOT/opt/media.rtp"
	systemd-nspawn -q -D "$ROOT" --boot --register=no --keep-unit --console=pipe --private-network >"$ROOT.log" 2>&1 &
	nspawn=$!
	for _ in $(seq 60); do
		pid1=$(pgrep -P "$nspawn" | head -1 || true)
		[ -n "$pid1" ] && [ "$(nsenter -t "$pid1" -a systemctl is-system-running 2>/dev/null)" = running ] && break
		sleep 1
	done
}
halt() {
	[ -z "$nspawn" ] || { kill "$nspawn" 2>/dev/null || true; wait "$nspawn" 2>/dev/null || true; }
	[ -z "$ROOT" ] || rm -rf "$ROOT" "$ROOT.log"
	ROOT="" nspawn=""
}
cleanup() { halt; rm -rf "$work"; }
trap cleanup EXIT
inside() { nsenter -t "$pid1" -a env ARS_APP_ID=$APP_ID ARS_APP_CERTIFICATE=$CERT sh -c "$1"; }

# load PREFIX SECONDS: CHANNELS channels PREFIX-NNN send for SECONDS in the
# background; their count goes to /tmp/sent-PREFIX.txt.
load() { inside "(sdsend -prefix $1 -channels $CHANNELS -for ${2}s > /tmp/sent-$1.txt 2>&1 &)"; }
# load_done PREFIX waits for the sender to finish.
load_done() {
	for _ in $(seq 90); do inside "grep -q '^sent' /tmp/sent-$1.txt" && break; sleep 1; done
	sleep 1
}

# loss PREFIX WHAT: what the captures of PREFIX-* hold against what was
# sent; passes when every stream is there and none missed a packet across
# the restart. Sets lost.
loss() {
	loss_counts "$@"
	[ "$streams" -eq $((CHANNELS * 4)) ] && [ "$missing" -eq 0 ] && [ $((got + before)) -eq "${sent:-0}" ] &&
		ok "$2 under load lost no packet" || bad "packets lost across $2 ($missing missing)"
}
# loss_counts PREFIX WHAT: the figures of loss, printed, not judged. Sets
# sent, streams, missing, before, got and lost.
loss_counts() {
	local report
	sent=$(inside "cat /tmp/sent-$1.txt" | awk '/^sent/ {print $2}')
	report=$(inside "for f in /var/lib/ars/recordings/*/$1-*/*.tmp; do ars dump \"\$f\"; done" |
		sed -n 's/^stream ssrc=\([0-9]*\).*seq=\([0-9]*\)\.\.\([0-9]*\) gaps=\([0-9]*\).*/\1 \2 \3 \4/p' | sort -n -k1,1 -k2,2 |
		awk '{ if ($1 == s) { miss += $2 - last - 1 } else { pre += $2; n++ } ; miss += $4; s = $1; last = $3; got += $3 - $2 + 1 - $4 }
			END { printf "%d %d %d %d", n, miss, pre, got }')
	read -r streams missing before got <<<"$report"
	lost=$missing
	echo "$2 under load: $CHANNELS channels, $streams streams, sent ${sent:-?}, recorded $got, missing across the restart $missing, not recorded before the recording started $before"
	if [ "$streams" -ne $((CHANNELS * 4)) ]; then
		# Which streams have no record anywhere, and what the daemon said.
		inside "for f in /var/lib/ars/recordings/*/$1-*/*.tmp; do echo \"== \$f \$(stat -c %s \$f)\"; ars dump \"\$f\" 2>&1 | grep -E '^records|torn|rror' | head -3; done" | head -200
		inside "journalctl -u ars --no-pager | grep -E 'level=(WARN|ERROR)' | tail -20"
	fi
}
# resumed PREFIX WHAT: each recording of PREFIX-* went on in its directory.
resumed() {
	[ "$(inside "ls -d /var/lib/ars/recordings/*/$1-* | wc -l; grep -l resumed /var/lib/ars/recordings/*/$1-*/Metadata.txt | wc -l" | tr '\n' ' ')" = "$CHANNELS $CHANNELS " ] &&
		ok "$2: every live recording went on in its directory" || bad "$2: recordings not resumed in their directories"
}
# snapshot FILE: the configuration's and socket unit's hashes and every
# recorded file (the captures of live recordings only grow).
snapshot() {
	inside 'sha256sum /etc/ars/ars.env /etc/systemd/system/ars.socket; cd /var/lib/ars/recordings && find . -path ./.ars -prune -o -type f ! -name "*.transcoding" -print | sort' >"$1"
}
# kept BEFORE AFTER: configuration unchanged, no recorded file gone.
kept() {
	local gone
	gone=$(comm -23 <(tail -n +3 "$1") <(tail -n +3 "$2"))
	[ -z "$gone" ] || echo "gone: $gone"
	[ "$(head -2 "$1")" = "$(head -2 "$2")" ] || echo "configuration changed: $(diff <(head -2 "$1") <(head -2 "$2") | tr '\n' ' ')"
	[ "$(head -2 "$1")" = "$(head -2 "$2")" ] && [ -z "$gone" ]
}
declare -A losses=()

# ================================================================ deploy.sh
boot "$CACHE"
mkdir -p "$ROOT/opt/src"
tar --exclude=.git --exclude=bench/media --exclude=bench/out --exclude=dist -cf - . | tar -C "$ROOT/opt/src" -xf -
inside 'systemctl is-system-running' | grep -qx running && ok "container boots with systemd as PID 1" || bad "container did not boot"

# 1. deploy, active, sockets inherited.
inside "cd /opt/src && ./deploy.sh --key=$APP_ID --sign=$CERT --bind=127.0.0.1 --bin-dir=/opt/src/bin" | tail -2 || true
[ "$(inside 'systemctl is-active ars.socket ars.service' | tr '\n' ' ')" = "active active " ] && ok "ars.socket and ars.service active" || bad "units not active"
inside 'journalctl -u ars --no-pager | grep -q "inherited sockets"' && ok "the daemon took its RTP sockets from ars.socket" || bad "no inherited sockets"

# 2. the hourly job, run as cron runs it (/etc/crontab's PATH and command),
# converts a finished recording. The daemon converts on stop
# (ARS_TRANSCODE_ON_STOP): its MP4s go first, so the job has work.
inside 'sdsend -prefix md -channels 1 -media /opt/media.rtp -stop > /tmp/sent-md.txt 2>&1'
for _ in $(seq 30); do
	[ "$(inside 'ls /var/lib/ars/recordings/*/md-000_*/*.mp4 2>/dev/null | wc -l')" -eq 2 ] &&
		! inside 'ls /var/lib/ars/recordings/*/md-000_*/ | grep -q transcoding' && break
	sleep 1
done
inside 'rm -f /var/lib/ars/recordings/*/md-000_*/*.mp4'
rc=0
inside 'cd / && env -i SHELL=/bin/sh "$(grep "^PATH=" /etc/crontab)" HOME=/root LOGNAME=root sh -c "cd / && run-parts --report /etc/cron.hourly"' || rc=$?
echo "hourly job: exit status $rc; $(inside 'tail -1 /var/log/agora_hourly.log')"
mp4s=0 decoded=0
for f in "$ROOT"/var/lib/ars/recordings/*/md-000_*/*.mp4; do
	[ -f "$f" ] || continue
	mp4s=$((mp4s + 1))
	errs=$(ffmpeg -nostdin -v error -xerror -i "$f" -f null - 2>&1)
	frames=$(ffprobe -v error -count_frames -select_streams v:0 -show_entries stream=nb_read_frames -of csv=p=0 "$f")
	echo "  $(basename "$f"): $frames video frames${errs:+, ffmpeg: $errs}"
	[ -z "$errs" ] && [ "${frames:-0}" -gt 0 ] && decoded=$((decoded + 1))
done
[ "$rc" -eq 0 ] && [ "$mp4s" -eq 2 ] && [ "$decoded" -eq 2 ] &&
	ok "the hourly job converted the finished captures to MP4s that decode (ffmpeg -xerror) with frames" ||
	bad "hourly job: exit status $rc, $mp4s MP4s, $decoded decode"

# 3. planned restart under load.
load sd 20
sleep 10
inside 'systemctl restart ars'
load_done sd
loss sd "systemctl restart"
losses[deploy.sh: systemctl restart]=$lost
resumed sd "systemctl restart"

# 4. upgrade: deploy.sh again (settings from the installed ars.env) under load.
snapshot "$work/before"
load up 25
sleep 8
inside 'cd /opt/src && env -u ARS_APP_ID -u ARS_APP_CERTIFICATE ./deploy.sh --bin-dir=/opt/src/bin 2>&1' | tail -1 || true
load_done up
snapshot "$work/after"
kept "$work/before" "$work/after" && ok "deploy.sh upgrade kept ars.env, ars.socket and every recorded file" || bad "deploy.sh upgrade changed the configuration or lost a file"
loss up "deploy.sh upgrade"
losses[deploy.sh: upgrade]=$lost
resumed up "deploy.sh upgrade"

# 5. watchdog: a hung daemon is killed and restarted, its recordings resume.
# What it loses is reported, not judged: the hang (up to WatchdogSec, 30 s)
# can outlast what the receive buffers hold; what the daemon had received
# is in its crash buffers (/run/ars) and goes back into the captures.
saved_channels=$CHANNELS
CHANNELS=5
load wd 50
inside "sleep 5; kill -STOP \$(systemctl show ars -p MainPID --value)"
restarted=0
for _ in $(seq 60); do
	[ "$(inside 'systemctl show ars -p NRestarts --value')" -ge 1 ] && inside 'systemctl is-active ars' >/dev/null && { restarted=1; break; }
	sleep 1
done
[ $restarted -eq 1 ] && ok "the watchdog restarted a hung daemon" || bad "no watchdog restart"
sleep 3
inside 'journalctl -u ars --no-pager | grep -q "clean_shutdown=false"' && ok "after the watchdog kill the recordings resumed (interrupted,resumed)" || bad "no resume after the watchdog"
load_done wd
inside 'journalctl -u ars --no-pager | grep "capture completed from its crash buffer" | tail -3' || true
loss_counts wd "watchdog kill (reported, not judged)"
losses["deploy.sh: watchdog kill, not judged"]=$lost
CHANNELS=$saved_channels

# 6. uninstall.
inside 'cd /opt/src && ./deploy.sh --uninstall' | tail -1 || true
inside 'test ! -e /etc/systemd/system/ars.socket && test ! -e /etc/systemd/system/ars.service && ls /var/lib/ars/recordings/*/ >/dev/null' &&
	ok "--uninstall removed the units and kept the recordings" || bad "uninstall"
halt

# ================================================================ the .deb
boot "$DEB_CACHE"
cp "$deb" "$ROOT/opt/ars.deb"
inside 'systemctl is-system-running' | grep -qx running && ok "deb: container boots with systemd as PID 1" || bad "deb: container did not boot"

# 7. install, configure (credentials, ARS_BIND), active, hardened.
inside 'dpkg -i /opt/ars.deb 2>&1' | tail -1 || true
inside 'grep -c "^ListenDatagram=4[0-9]*$" /etc/systemd/system/ars.socket' | grep -qx 10 &&
	ok "deb: dpkg -i wrote ars.socket from ars.env (10 RTP ports)" || bad "deb: no ars.socket after dpkg -i"
inside "sed -i -e 's/^ARS_APP_ID=.*/ARS_APP_ID=$APP_ID/' -e 's/^ARS_APP_CERTIFICATE=.*/ARS_APP_CERTIFICATE=$CERT/' -e 's/^#ARS_BIND=.*/ARS_BIND=127.0.0.1/' /etc/ars/ars.env && dpkg-reconfigure ars 2>&1" || true
inside 'grep -c "^ListenDatagram=127.0.0.1:4[0-9]*$" /etc/systemd/system/ars.socket' | grep -qx 10 &&
	ok "deb: dpkg-reconfigure rewrote ars.socket for ARS_BIND=127.0.0.1" || bad "deb: ars.socket not on ARS_BIND"
[ "$(inside 'systemctl is-active ars.socket ars.service; systemctl is-enabled ars.socket ars.service' | tr '\n' ' ')" = "active active enabled enabled " ] &&
	ok "deb: ars.socket and ars.service enabled and active" || bad "deb: units not enabled and active"
[ "$(inside 'systemctl show ars -p User -p ProtectSystem -p NoNewPrivileges --value' | tr '\n' ' ')" = "ars strict yes " ] &&
	inside 'systemctl show ars -p Requires --value | grep -qw ars.socket' &&
	inside 'journalctl -u ars --no-pager | grep -q "inherited sockets"' &&
	ok "deb: the hardened daemon (User=ars, ProtectSystem=strict) requires ars.socket and took its sockets" || bad "deb: not hardened or no inherited sockets"

# 8. planned restart under load.
load dk 20
sleep 10
inside 'systemctl restart ars'
load_done dk
loss dk "deb: systemctl restart"
losses[deb: systemctl restart]=$lost
resumed dk "deb: systemctl restart"

# 9. upgrade: dpkg -i of the package again under load.
snapshot "$work/before"
load du 25
sleep 8
inside 'dpkg -i /opt/ars.deb 2>&1' | tail -1 || true
load_done du
snapshot "$work/after"
kept "$work/before" "$work/after" && ok "deb: dpkg -i upgrade kept ars.env, ars.socket and every recorded file" || bad "deb: upgrade changed the configuration or lost a file"
loss du "deb: dpkg -i upgrade"
losses[deb: dpkg -i upgrade]=$lost
resumed du "deb: dpkg -i upgrade"

# 10. other RTP ports: dpkg-reconfigure rewrites and restarts ars.socket.
inside "sed -i 's/^ARS_RTP_PORTS=.*/ARS_RTP_PORTS=4001-4011/' /etc/ars/ars.env && dpkg-reconfigure ars 2>&1 | grep -v 'apply at next boot'" || true
inside 'grep -c "^ListenDatagram=127.0.0.1:4[0-9]*$" /etc/systemd/system/ars.socket' | grep -qx 11 &&
	[ "$(inside 'systemctl is-active ars.socket ars.service' | tr '\n' ' ')" = "active active " ] &&
	inside 'grep -q ":0FAB " /proc/net/udp' &&
	ok "deb: dpkg-reconfigure after ARS_RTP_PORTS changed restarted ars.socket on the new ports" || bad "deb: ars.socket not restarted on the new ports"

# 11. remove, purge.
inside 'dpkg -r ars 2>&1' | tail -1 || true
# Port 4001 is 0FA1 in /proc/net/udp.
[ "$(inside 'systemctl is-active ars.socket ars.service' | tr '\n' ' ')" = "inactive inactive " ] &&
	inside 'test ! -e /etc/systemd/system/ars.socket && test ! -e /etc/systemd/system/sockets.target.wants/ars.socket &&
		! grep -q ":0FA1 " /proc/net/udp && test -f /etc/ars/ars.env && ls /var/lib/ars/recordings/*/dk-000_*/ >/dev/null' &&
	ok "deb: dpkg -r stopped and disabled ars.socket and ars.service, kept ars.env and the recordings" || bad "deb: dpkg -r"
inside 'dpkg --purge ars 2>&1' | tail -1 || true
inside '! getent passwd ars >/dev/null && test ! -e /etc/ars && test ! -e /etc/systemd/system/ars.socket && ls /var/lib/ars/recordings/*/du-000_*/ >/dev/null' &&
	ok "deb: dpkg --purge removed the configuration and the user, kept the recordings" || bad "deb: purge"
halt

for k in "${!losses[@]}"; do echo "packets lost: $k: ${losses[$k]}"; done | sort
echo "systemd check: $pass passed, $fail failed, ${SECONDS}s"
[ $fail -eq 0 ]
