#!/usr/bin/env bash
# shellcheck disable=SC2015,SC2016 # ok and bad always succeed (A && ok || bad is if-then-else here); the single-quoted commands run inside the container
# systemd-check.sh: deploy.sh under a real systemd. Boots a Debian 12 root
# (debootstrap, cached in /var/cache/ars-systemd/rootfs) with systemd as
# PID 1 in systemd-nspawn (private network: loopback only), installs ars
# with deploy.sh, and checks: the service and ars.socket are active and the
# daemon inherited its RTP sockets; `systemctl restart ars` with CHANNELS
# two-person channels sending loses no packet across the restart; a hung
# daemon (SIGSTOP) is killed by the watchdog, restarted, and its recordings
# resume; deploy.sh --uninstall removes the units. Run as root.
set -euo pipefail
cd "$(dirname "$0")/.."
CHANNELS=${CHANNELS:-20}
CACHE=/var/cache/ars-systemd/rootfs
ROOT=$(mktemp -d /tmp/ars-systemd.XXXXXX)
APP_ID=970ca35de60c44645bbae8a215061b33
CERT=5cfd2fd1755d40ecb72977518be15d3b
pass=0 fail=0
ok() { echo "PASS $*"; pass=$((pass + 1)); }
bad() { echo "FAIL $*"; fail=$((fail + 1)); }

command -v debootstrap >/dev/null && command -v systemd-nspawn >/dev/null ||
	{ apt-get update -q && apt-get install -y -q debootstrap systemd-container; }
if [ ! -x "$CACHE/usr/lib/systemd/systemd" ]; then
	mirror=$(grep -hoE 'https?://[^ ]+' /etc/apt/sources.list.d/* /etc/apt/sources.list 2>/dev/null | head -1)
	mkdir -p "$(dirname "$CACHE")"
	debootstrap --variant=minbase --include=systemd,systemd-sysv,dbus,cron,logrotate,ca-certificates bookworm "$CACHE" "${mirror:-http://deb.debian.org/debian}"
fi
make build >/dev/null
cp -a "$CACHE/." "$ROOT/"
mkdir -p "$ROOT/opt/src"
tar --exclude=.git --exclude=bench/media --exclude=bench/out -cf - . | tar -C "$ROOT/opt/src" -xf -
CGO_ENABLED=0 go build -o "$ROOT/usr/local/bin/sdsend" ./test/systemd/sdsend

systemd-nspawn -q -D "$ROOT" --boot --register=no --keep-unit --console=pipe --private-network >"$ROOT.log" 2>&1 &
nspawn=$!
cleanup() { kill "$nspawn" 2>/dev/null || true; wait "$nspawn" 2>/dev/null || true; rm -rf "$ROOT" "$ROOT.log"; }
trap cleanup EXIT
for _ in $(seq 60); do
	pid1=$(pgrep -P "$nspawn" | head -1 || true)
	[ -n "$pid1" ] && [ "$(nsenter -t "$pid1" -a systemctl is-system-running 2>/dev/null)" = running ] && break
	sleep 1
done
inside() { nsenter -t "$pid1" -a env ARS_APP_ID=$APP_ID ARS_APP_CERTIFICATE=$CERT sh -c "$1"; }
inside 'systemctl is-system-running' | grep -qx running && ok "container boots with systemd as PID 1" || bad "container did not boot"

# 1. deploy, active, sockets inherited.
inside "cd /opt/src && ./deploy.sh --key=$APP_ID --sign=$CERT --bind=127.0.0.1 --bin-dir=/opt/src/bin" | tail -2
[ "$(inside 'systemctl is-active ars.socket ars.service' | tr '\n' ' ')" = "active active " ] && ok "ars.socket and ars.service active" || bad "units not active"
inside 'journalctl -u ars --no-pager | grep -q "inherited sockets"' && ok "the daemon took its RTP sockets from ars.socket" || bad "no inherited sockets"

# 2. planned restart under load.
inside "(sdsend -channels $CHANNELS -for 20s > /tmp/sent.txt 2>&1 &); sleep 10; systemctl restart ars; sleep 14"
sent=$(inside 'cat /tmp/sent.txt' | awk '/^sent/ {print $2}')
report=$(inside 'for f in /var/lib/ars/recordings/*/sd-*/*.tmp; do ars dump "$f"; done' |
	sed -n 's/^stream ssrc=\([0-9]*\).*seq=\([0-9]*\)\.\.\([0-9]*\) gaps=\([0-9]*\).*/\1 \2 \3 \4/p' | sort -n -k1,1 -k2,2 |
	awk '{ if ($1 == s) { miss += $2 - last - 1 } else { pre += $2; n++ } ; miss += $4; s = $1; last = $3; got += $3 - $2 + 1 - $4 }
		END { printf "%d %d %d %d", n, miss, pre, got }')
read -r streams missing before got <<<"$report"
echo "restart under load: $CHANNELS channels, $streams streams, sent $sent, recorded $got, missing across the restart $missing, not recorded before the recording started $before"
[ "$streams" -eq $((CHANNELS * 4)) ] && [ "$missing" -eq 0 ] && [ $((got + before)) -eq "$sent" ] &&
	ok "systemctl restart under load lost no packet" || bad "packets lost across systemctl restart"
inside 'grep -l resumed /var/lib/ars/recordings/*/sd-*/Metadata.txt | wc -l' | grep -qx "$CHANNELS" &&
	ok "every recording resumed in its directory" || bad "recordings not resumed"

# 3. watchdog: a hung daemon is killed and restarted, its recordings resume.
inside "(sdsend -channels 5 -for 50s > /tmp/sent2.txt 2>&1 &); sleep 5; kill -STOP \$(systemctl show ars -p MainPID --value)"
restarted=0
for _ in $(seq 60); do
	[ "$(inside 'systemctl show ars -p NRestarts --value')" -ge 1 ] && inside 'systemctl is-active ars' >/dev/null && { restarted=1; break; }
	sleep 1
done
[ $restarted -eq 1 ] && ok "the watchdog restarted a hung daemon" || bad "no watchdog restart"
sleep 3
inside 'journalctl -u ars --no-pager | grep -q "clean_shutdown=false"' && ok "after the watchdog kill the recordings resumed (interrupted,resumed)" || bad "no resume after the watchdog"
sleep 45

# 4. uninstall.
inside 'cd /opt/src && ./deploy.sh --uninstall' | tail -1
inside 'test ! -e /etc/systemd/system/ars.socket && test ! -e /etc/systemd/system/ars.service && ls /var/lib/ars/recordings/*/ >/dev/null' &&
	ok "--uninstall removed the units and kept the recordings" || bad "uninstall"

echo "systemd check: $pass passed, $fail failed"
[ $fail -eq 0 ]
