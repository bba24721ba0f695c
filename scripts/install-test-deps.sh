#!/usr/bin/env bash
# Installs what the test suite needs when it is missing: Debian's ffmpeg
# (libx264, libopus) to make and judge media, Chromium for the WebRTC
# end-to-end test, janus-tools for benchmarks, and systemd/dpkg tools for
# packaging tests, redis-server for the cluster. Safe to run again; does nothing when all is present.
set -euo pipefail

need=()
command -v ffmpeg >/dev/null 2>&1 || need+=(ffmpeg)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
command -v systemd-analyze >/dev/null 2>&1 || need+=(systemd)
command -v dpkg-deb >/dev/null 2>&1 || need+=(dpkg-dev)
command -v fakeroot >/dev/null 2>&1 || need+=(fakeroot)
command -v logrotate >/dev/null 2>&1 || need+=(logrotate)
command -v lintian >/dev/null 2>&1 || need+=(lintian)
command -v shellcheck >/dev/null 2>&1 || need+=(shellcheck)
command -v janus-pp-rec >/dev/null 2>&1 || need+=(janus-tools)
command -v unshare >/dev/null 2>&1 || need+=(util-linux)
# The cluster (internal/cluster, internal/state, test/e2e) runs on Redis.
command -v redis-server >/dev/null 2>&1 || need+=(redis-server)
# The web page recorder (ars-mixer --web-recorder): Chromium headed on
# Xvfb, its sound through a private PulseAudio, captured by GStreamer's
# ximagesrc and pulsesrc.
command -v Xvfb >/dev/null 2>&1 || need+=(xvfb)
command -v pulseaudio >/dev/null 2>&1 || need+=(pulseaudio)
# Its RTMP push test receives on Debian's nginx with the RTMP module.
command -v nginx >/dev/null 2>&1 || need+=(nginx-light)
[ -f /usr/lib/nginx/modules/ngx_rtmp_module.so ] || need+=(libnginx-mod-rtmp)
[ -f /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || need+=(fonts-dejavu-core)
# The compositor (cmd/ars-mixer) builds against GStreamer 1.22 and runs
# its plugins: compositor, audiomixer, x264enc, avdec_h264/avenc_aac,
# vp8dec/vp9dec, av1parse/av1dec, videoflip, opusdec, mpegtsmux,
# splitmuxsink/mp4mux.
pkg-config --exists gstreamer-1.0 gstreamer-app-1.0 2>/dev/null || need+=(pkg-config libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev)
command -v gst-inspect-1.0 >/dev/null 2>&1 || need+=(gstreamer1.0-tools)
for plugin in compositor:gstreamer1.0-plugins-base x264enc:gstreamer1.0-plugins-ugly avdec_h264:gstreamer1.0-libav \
  mpegtsmux:gstreamer1.0-plugins-bad splitmuxsink:gstreamer1.0-plugins-good \
  vp8dec:gstreamer1.0-plugins-good videoflip:gstreamer1.0-plugins-good \
  av1dec:gstreamer1.0-plugins-bad av1parse:gstreamer1.0-plugins-bad \
  ximagesrc:gstreamer1.0-plugins-good pulsesrc:gstreamer1.0-pulseaudio \
  rtmp2sink:gstreamer1.0-plugins-bad flvmux:gstreamer1.0-plugins-good; do
  gst-inspect-1.0 "${plugin%%:*}" >/dev/null 2>&1 || need+=("${plugin#*:}")
done
/usr/bin/python3 -c 'import requests' >/dev/null 2>&1 || need+=(python3-requests)

here=$(cd "$(dirname "$0")" && pwd)
# The S3-compatible server the cloud recording tests upload to (a Go module).
if [ -x "$here/install-versitygw.sh" ]; then
  "$here/install-versitygw.sh" || echo "install-test-deps: versitygw could not be installed" >&2
fi

if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
if [ "$(id -u)" -ne 0 ]; then
  echo "install-test-deps: missing ${need[*]}; run as root or: sudo apt-get install -y ${need[*]}" >&2
  echo "install-test-deps: tests that need them will be skipped" >&2
  exit 0
fi
echo "install-test-deps: installing ${need[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
