#!/usr/bin/env bash
# shellcheck disable=SC2015,SC2016 # A && B || fail is the idiom here; single quotes are for sh -c.
# deploy.sh: install or upgrade ars on an Ubuntu/Debian host with systemd.
#
#   ./deploy.sh --key=APP_ID --sign=APP_CERTIFICATE --port=8001 --path=/srv/recordings
#
# The interface is the one of the original ARS guide. Run `./deploy.sh --help`
# for every option. The last line is `deploy successfully`, or
# `deploy failed: REASON` with a non-zero exit status.
#
# Secrets: the app certificate is written only to /etc/ars/ars.env (0640
# root:ars) and never passed on a command line nor printed. --sign=CERT is
# itself visible in `ps` while this script runs; --sign-file=FILE or the
# environment variable ARS_APP_CERTIFICATE avoid that.
set -Eeuo pipefail
umask 022

readonly SERVICE=ars.service
readonly TIMER=ars-transcode.timer
readonly SOCKET=ars.socket
readonly USER_NAME=ars
readonly STATE_DIR=/var/lib/ars
readonly ENV_FILE=/etc/ars/ars.env
readonly MANIFEST=/etc/ars/deploy-manifest
readonly HEALTH_TIMEOUT=60

src_dir=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
tmp_dir=""

usage() {
	cat <<'EOF'
usage: deploy.sh --key=APP_ID --sign=APP_CERTIFICATE [--port=PORT] [--path=DIR] [options]
       deploy.sh --uninstall [--purge] [--destdir=DIR]

Installs ars (the recording daemon and the hourly transcoder), its systemd
units, the hourly cron job, logrotate and sysctl files, creates the `ars`
user, writes /etc/ars/ars.env, starts the service and waits until it answers.
Running it again upgrades in place: recordings and configuration are kept,
and only the settings given on the command line change.

  --key=ID           Agora app ID (the guide's vendor key), 32 hex characters
  --sign=CERT        Agora app certificate (the guide's sign key). Visible in
                     `ps` while deploy runs; prefer one of:
  --sign-file=FILE   read the certificate from FILE (first line)
                     or set the environment: ARS_APP_CERTIFICATE=... ./deploy.sh
  --port=PORT        HTTP API port (default 8001)
  --path=DIR         recording root, AGORA_FILE_ROOT (default /var/lib/ars/recordings)
  --rtp-ports=A-B    UDP ports for plain RTP ingest (default 4001-4010)
  --webrtc-port=N    UDP port shared by WebRTC sessions (default 8000, 0 = off)
  --bind=ADDR        listen on this address only (default: all)
  --prefix=DIR       where programs go (default /usr/local)
  --bin-dir=DIR      install the prebuilt `ars` and `transcoder` from DIR
                     (default: build them when run from a source checkout with
                     Go, else use ./bin next to this script)
  --destdir=DIR      staging: install into DIR, record intended owners in
                     DIR/etc/ars/deploy-manifest, create no user, start nothing
  --uninstall        stop and remove what deploy installed; keeps
                     /etc/ars/ars.env, the ars user and every recording
  --purge            with --uninstall: also remove /etc/ars and the ars user
                     (recordings are never removed)
  -h, --help         this text
EOF
}

say() { printf 'deploy: %s\n' "$*"; }
warn() { printf 'deploy: warning: %s\n' "$*" >&2; }
fail() {
	printf 'deploy failed: %s\n' "$*" >&2
	exit 1
}
cleanup() { [ -z "$tmp_dir" ] || rm -rf "$tmp_dir"; }
trap cleanup EXIT
# $BASH_COMMAND is the unexpanded command text, so it never holds a secret.
trap 'fail "line $LINENO: $BASH_COMMAND"' ERR

# ---------------------------------------------------------------- arguments

opt_key="" opt_sign="" opt_sign_set=0 opt_sign_file="" opt_port="" opt_path=""
opt_rtp_ports="" opt_webrtc_port="" opt_bind="" opt_bind_set=0
prefix=/usr/local bin_dir="" destdir="" uninstall=0 purge=0

need_value() { [ -n "${2-}" ] || fail "$1 needs a value"; }

parse_args() {
	while [ $# -gt 0 ]; do
		local arg=$1 name value has_value=0
		shift
		case $arg in
		-h | --help)
			usage
			exit 0
			;;
		--uninstall) uninstall=1; continue ;;
		--purge) purge=1; continue ;;
		--*=*) name=${arg%%=*} value=${arg#*=} has_value=1 ;;
		--*) name=$arg ;;
		*) fail "unexpected argument '$arg' (see --help)" ;;
		esac
		case $name in
		--key | --sign | --sign-file | --port | --path | --rtp-ports | --webrtc-port | --bind | --prefix | --bin-dir | --destdir) ;;
		*) fail "unknown option $name (see --help)" ;;
		esac
		if [ $has_value -eq 0 ]; then
			[ $# -gt 0 ] || fail "$name needs a value"
			value=$1
			shift
		fi
		case $name in
		--key) opt_key=$value ;;
		--sign) opt_sign=$value opt_sign_set=1 ;;
		--sign-file) opt_sign_file=$value ;;
		--port) opt_port=$value ;;
		--path) opt_path=$value ;;
		--rtp-ports) opt_rtp_ports=$value ;;
		--webrtc-port) opt_webrtc_port=$value ;;
		--bind) opt_bind=$value opt_bind_set=1 ;;
		--prefix) prefix=$value ;;
		--bin-dir) bin_dir=$value ;;
		--destdir) destdir=$value ;;
		esac
	done
	if [ -n "$destdir" ]; then
		case $destdir in /*) ;; *) destdir=$(pwd)/$destdir ;; esac
		destdir=${destdir%/}
		[ -n "$destdir" ] || fail "--destdir=/ is the real system: leave --destdir out"
	fi
}

staging() { [ -n "$destdir" ]; }

# ---------------------------------------------------------------- validation

is_hex32() { [[ $1 =~ ^[0-9a-fA-F]{32}$ ]]; }
is_port() { [[ $1 =~ ^[0-9]{1,5}$ ]] && [ "$1" -ge 1 ] && [ "$1" -le 65535 ]; }
# Paths end up in systemd ReadWritePaths= and an EnvironmentFile, which
# split on whitespace and interpret quotes and backslashes.
is_safe_path() { [[ $1 =~ ^/[A-Za-z0-9._/+@:-]*$ ]] && [[ $1 != *//* ]] && [[ /$1/ != */../* ]]; }

# env_get FILE KEY prints the last value of KEY in an EnvironmentFile.
env_get() {
	local file=$1 key=$2 line value=""
	[ -f "$file" ] || return 0
	while IFS= read -r line || [ -n "$line" ]; do
		line=${line#"${line%%[![:space:]]*}"}
		case $line in "$key="*) value=${line#"$key="} ;; esac
	done <"$file"
	printf '%s' "$value"
}

# Final settings: the command line, else the installed file, else defaults.
app_id="" cert="" port="" path="" rtp_ports="" webrtc_port="" bind_addr=""

resolve_settings() {
	local env_path="$destdir$ENV_FILE" sources=0
	[ $opt_sign_set -eq 1 ] && sources=$((sources + 1))
	[ -n "$opt_sign_file" ] && sources=$((sources + 1))
	[ $sources -le 1 ] || fail "give the certificate once: --sign or --sign-file"
	if [ $opt_sign_set -eq 1 ]; then
		cert=$opt_sign
	elif [ -n "$opt_sign_file" ]; then
		[ -r "$opt_sign_file" ] || fail "--sign-file $opt_sign_file is not readable"
		IFS= read -r cert <"$opt_sign_file" || [ -n "$cert" ] || fail "--sign-file $opt_sign_file is empty"
		cert=${cert//[[:space:]]/}
	elif [ -n "${ARS_APP_CERTIFICATE:-}" ]; then
		cert=$ARS_APP_CERTIFICATE
	else
		cert=$(env_get "$env_path" ARS_APP_CERTIFICATE)
	fi
	app_id=${opt_key:-${ARS_APP_ID:-$(env_get "$env_path" ARS_APP_ID)}}
	port=${opt_port:-$(env_get "$env_path" PORT)}
	port=${port:-8001}
	path=${opt_path:-$(env_get "$env_path" AGORA_FILE_ROOT)}
	path=${path:-$STATE_DIR/recordings}
	rtp_ports=${opt_rtp_ports:-$(env_get "$env_path" ARS_RTP_PORTS)}
	rtp_ports=${rtp_ports:-4001-4010}
	webrtc_port=${opt_webrtc_port:-$(env_get "$env_path" ARS_WEBRTC_PORT)}
	webrtc_port=${webrtc_port:-8000}
	if [ $opt_bind_set -eq 1 ]; then
		bind_addr=$opt_bind
	else
		bind_addr=$(env_get "$env_path" ARS_BIND)
	fi

	[ -n "$app_id" ] || fail "--key (the Agora app ID) is required on a first install"
	[ -n "$cert" ] || fail "--sign, --sign-file or ARS_APP_CERTIFICATE (the app certificate) is required on a first install"
	is_hex32 "$app_id" || fail "--key must be 32 hexadecimal characters (the app ID from the Agora console)"
	is_hex32 "$cert" || fail "the app certificate must be 32 hexadecimal characters"
	is_port "$port" || fail "--port $port is not a TCP port (1-65535)"
	is_safe_path "$path" && [ "$path" != / ] ||
		fail "--path must be an absolute directory path of letters, digits and ._/+@:- (got '$path')"
	[[ $rtp_ports =~ ^([0-9]{1,5})(-([0-9]{1,5}))?$ ]] || fail "--rtp-ports $rtp_ports is not a range like 4001-4010"
	rtp_first=${BASH_REMATCH[1]}
	rtp_last=${BASH_REMATCH[3]:-$rtp_first}
	is_port "$rtp_first" && is_port "$rtp_last" && [ "$rtp_first" -le "$rtp_last" ] ||
		fail "--rtp-ports $rtp_ports is not a valid port range"
	[[ $webrtc_port =~ ^[0-9]{1,5}$ ]] && [ "$webrtc_port" -le 65535 ] ||
		fail "--webrtc-port $webrtc_port is not a UDP port"
	if [ "$webrtc_port" -ne 0 ] && [ "$webrtc_port" -ge "$rtp_first" ] && [ "$webrtc_port" -le "$rtp_last" ]; then
		fail "--webrtc-port $webrtc_port lies inside --rtp-ports $rtp_ports"
	fi
	[[ $bind_addr =~ ^[0-9a-fA-F.:]*$ ]] || fail "--bind $bind_addr is not an IP address"
	is_safe_path "$prefix" || fail "--prefix must be an absolute path"
}

# ---------------------------------------------------------------- checks

# listeners prints "proto port process" for every bound TCP listener and UDP
# socket; process is "-" when unknown.
listeners() {
	if command -v ss >/dev/null 2>&1; then
		local netid local_addr users owner
		ss -H -l -n -p -t -u 2>/dev/null | while read -r netid _ _ _ local_addr _ users; do
			owner=$(sed -n 's/^users:(("\([^"]*\)".*/\1/p' <<<"${users:-}")
			printf '%s %s %s\n' "$netid" "${local_addr##*:}" "${owner:--}"
		done
		return 0
	fi
	local proto file pr hex
	for proto in tcp udp; do
		for file in "/proc/net/$proto" "/proc/net/${proto}6"; do
			[ -r "$file" ] || continue
			# Field 2 is ADDR:PORT in hex; a TCP listener has state 0A.
			awk -v p="$proto" 'NR > 1 && (p == "udp" || $4 == "0A") { n = split($2, a, ":"); print p, a[n] }' "$file" |
				while read -r pr hex; do printf '%s %d -\n' "$pr" "$((16#$hex))"; done
		done
	done
}

# installed_ports prints "proto port" for every port the running
# installation holds: those of the installed ars.env while ars.service is
# active, and the RTP ports of ars.socket while it is active (systemd, not
# ars, owns those sockets; without ss no owner is known at all).
installed_ports() {
	staging && return 0
	command -v systemctl >/dev/null 2>&1 || return 0
	if systemctl --quiet is-active "$SERVICE" 2>/dev/null; then
		local p r first last
		p=$(env_get "$ENV_FILE" PORT)
		echo "tcp ${p:-8001}"
		p=$(env_get "$ENV_FILE" ARS_WEBRTC_PORT)
		echo "udp ${p:-8000}"
		r=$(env_get "$ENV_FILE" ARS_RTP_PORTS)
		if [[ ${r:-4001-4010} =~ ^([0-9]{1,5})(-([0-9]{1,5}))?$ ]]; then
			first=${BASH_REMATCH[1]} last=${BASH_REMATCH[3]:-${BASH_REMATCH[1]}}
			for ((p = first; p <= last && p <= 65535; p++)); do echo "udp $p"; done
		fi
	fi
	if systemctl --quiet is-active "$SOCKET" 2>/dev/null; then
		sed -n 's/^ListenDatagram=\(.*:\)\{0,1\}\([0-9]*\)$/udp \2/p' "/etc/systemd/system/$SOCKET" 2>/dev/null || true
	fi
}

# check_ports refuses ports another program holds. A port held by ars itself
# (or by ars.socket for it) is fine: that is the installation this run
# upgrades.
check_ports() {
	local table ours p
	table=$(listeners)
	ours=" $(installed_ports | tr ' \n' ': ')"
	check_one() {
		local proto=$1 want=$2 p_proto p_port p_owner
		[[ $ours != *" $proto:$want "* ]] || return 0
		while read -r p_proto p_port p_owner; do
			[ "$p_proto" = "$proto" ] && [ "$p_port" = "$want" ] || continue
			[ "$p_owner" = ars ] && continue
			[ "$p_owner" != - ] || p_owner="another program"
			fail "port $want/$proto is in use by $p_owner; free it or choose another (--port, --rtp-ports, --webrtc-port)"
		done <<<"$table"
	}
	check_one tcp "$port"
	for ((p = rtp_first; p <= rtp_last; p++)); do check_one udp "$p"; done
	[ "$webrtc_port" -eq 0 ] || check_one udp "$webrtc_port"
}

check_host() {
	staging && return 0
	[ "$(id -u)" -eq 0 ] || fail "must be run as root (sudo ./deploy.sh ...)"
	[ -d /run/systemd/system ] || fail "systemd is not running on this host; use --destdir to stage the files, or install on a systemd host"
	if dpkg-query -W -f='${Status}' ars 2>/dev/null | grep -q 'install ok installed'; then
		fail "the ars Debian package is installed; upgrade it with apt or dpkg instead, or remove it first"
	fi
	local tool
	for tool in useradd runuser flock systemctl install; do
		command -v "$tool" >/dev/null 2>&1 || fail "$tool is missing"
	done
}

# ---------------------------------------------------------------- binaries

find_binaries() {
	if [ -n "$bin_dir" ]; then
		[ -x "$bin_dir/ars" ] && [ -x "$bin_dir/transcoder" ] || fail "--bin-dir $bin_dir lacks ars and transcoder"
		return
	fi
	local go_bin
	go_bin=$(command -v go 2>/dev/null || true)
	# sudo resets PATH; the official Go tarball lives here.
	[ -n "$go_bin" ] || [ ! -x /usr/local/go/bin/go ] || go_bin=/usr/local/go/bin/go
	if [ -f "$src_dir/go.mod" ] && [ -d "$src_dir/cmd/ars" ] && [ -n "$go_bin" ]; then
		tmp_dir=$(mktemp -d)
		local version
		version=$(git -C "$src_dir" describe --tags --always --dirty 2>/dev/null || echo dev)
		say "building ars $version from $src_dir"
		local cmd
		for cmd in ars transcoder; do
			(cd "$src_dir" && CGO_ENABLED=0 "$go_bin" build -trimpath -buildmode=pie -ldflags "-s -w -X main.version=$version" \
				-o "$tmp_dir/$cmd" "./cmd/$cmd") || fail "go build ./cmd/$cmd failed"
		done
		# ars-mixer links GStreamer (cgo): optional, mixed recordings need it.
		[ ! -d "$src_dir/cmd/ars-mixer" ] || (cd "$src_dir" && CGO_ENABLED=1 "$go_bin" build -trimpath -buildmode=pie -ldflags "-s -w -X main.version=$version" \
			-o "$tmp_dir/ars-mixer" ./cmd/ars-mixer) || say "warning: go build ./cmd/ars-mixer failed (needs libgstreamer1.0-dev libgstreamer-plugins-base1.0-dev pkg-config); mixed recordings disabled"
		bin_dir=$tmp_dir
		return
	fi
	if [ -x "$src_dir/bin/ars" ] && [ -x "$src_dir/bin/transcoder" ]; then
		bin_dir=$src_dir/bin
		return
	fi
	fail "no binaries: run from a source checkout with Go installed, or pass --bin-dir=DIR holding ars and transcoder"
}

# ---------------------------------------------------------------- installing

manifest_lines=()

# record TYPE MODE OWNER GROUP PATH remembers what was installed and how it
# is meant to be owned (staging cannot chown to a user it does not create).
record() {
	local l
	for l in "${manifest_lines[@]}"; do
		[ "${l##* }" != "$5" ] || return 0
	done
	manifest_lines+=("$1 $2 $3:$4 $5")
}

apply_owner() {
	staging || chown "$2:$3" "$1"
	chmod "$4" "$1"
}

# put_dir MODE OWNER GROUP DIR
put_dir() {
	local target="$destdir$4"
	mkdir -p "$target"
	apply_owner "$target" "$2" "$3" "$1"
	record d "$1" "$2" "$3" "$4"
}

# put_file MODE OWNER GROUP SRC DEST replaces DEST by rename, so a running
# binary or a reader never sees a half-written file.
put_file() {
	local mode=$1 owner=$2 group=$3 src=$4 dest=$5 target="$destdir$5"
	mkdir -p "$(dirname "$target")"
	local new="$target.deploy-new"
	cp "$src" "$new"
	apply_owner "$new" "$owner" "$group" "$mode"
	mv -f "$new" "$target"
	record f "$mode" "$owner" "$group" "$dest"
}

# put_text MODE OWNER GROUP DEST writes stdin to DEST.
put_text() {
	local t
	t=$(mktemp "$tmp_dir/text.XXXXXX")
	cat >"$t"
	put_file "$1" "$2" "$3" "$t" "$4"
}

# localize points a packaged file at the programs under --prefix.
localize() {
	sed -e "s#/usr/bin/ars\\b#$prefix/bin/ars#g" -e "s#/usr/bin/transcoder\\b#$prefix/bin/transcoder#g" \
		-e "s#/usr/share/doc/ars#$prefix/share/doc/ars#g" "$1"
}

# write_env writes ars.env: the installed file (or the template) with the
# managed settings replaced and everything else kept. The certificate only
# ever goes through shell builtins into a file created with mode 0600, which
# becomes 0640 root:ars before it is renamed into place.
write_env() {
	local target="$destdir$ENV_FILE" base new line key
	base=$target
	[ -f "$base" ] || base=$src_dir/packaging/ars.env
	[ -f "$base" ] || fail "missing $base"
	local -A want=(
		[ARS_APP_ID]=$app_id [ARS_APP_CERTIFICATE]=$cert [AGORA_FILE_ROOT]=$path [PORT]=$port
		[ARS_RTP_PORTS]=$rtp_ports [ARS_WEBRTC_PORT]=$webrtc_port
	)
	[ -z "$bind_addr" ] && [ $opt_bind_set -eq 0 ] || want[ARS_BIND]=$bind_addr
	local -A done_keys=()
	new=$(umask 077 && mktemp "$(dirname "$target")/.ars.env.XXXXXX")
	{
		while IFS= read -r line || [ -n "$line" ]; do
			key=${line%%=*}
			if [[ $line == *=* ]] && [[ $key =~ ^[A-Z_][A-Z0-9_]*$ ]] && [ -n "${want[$key]+set}" ]; then
				if [ -z "${done_keys[$key]+set}" ]; then
					printf '%s=%s\n' "$key" "${want[$key]}"
					done_keys[$key]=1
				fi
				continue
			fi
			printf '%s\n' "$line"
		done <"$base"
		for key in "${!want[@]}"; do
			[ -n "${done_keys[$key]+set}" ] || printf '%s=%s\n' "$key" "${want[$key]}"
		done
	} >"$new"
	apply_owner "$new" root "$USER_NAME" 0640
	mv -f "$new" "$target"
	record f 0640 root "$USER_NAME" "$ENV_FILE"
}

ensure_user() {
	staging && return 0
	getent passwd "$USER_NAME" >/dev/null && return 0
	say "creating system user $USER_NAME"
	useradd --system --user-group --home-dir "$STATE_DIR" --no-create-home \
		--shell /usr/sbin/nologin --comment "ars recording server" "$USER_NAME" ||
		fail "could not create user $USER_NAME"
}

# prepare_root creates the recording root for ars, or checks that ars can
# write an existing one. It never takes over a directory someone else owns.
prepare_root() {
	local target="$destdir$path"
	if [ -e "$target" ] && [ ! -d "$target" ]; then
		fail "--path $path exists and is not a directory"
	fi
	if [ ! -d "$target" ]; then
		mkdir -p "$(dirname "$target")" 2>/dev/null && mkdir "$target" 2>/dev/null ||
			fail "--path $path cannot be created (read-only or not writable)"
		apply_owner "$target" "$USER_NAME" "$USER_NAME" 0750
		record d 0750 "$USER_NAME" "$USER_NAME" "$path"
	else
		# An existing root keeps its owner and mode; the manifest says so
		# (a root an earlier deploy created keeps that deploy's entry).
		local mode owner group prev
		prev=$(awk -v p="$path" '$1 == "d" && $4 == p { print; exit }' "$destdir$MANIFEST" 2>/dev/null || true)
		if [ -n "$prev" ]; then
			manifest_lines+=("$prev")
		else
			read -r mode owner group < <(stat -c '%a %U %G' "$target")
			record d "$(printf '%04o' "0$mode")" "$owner" "$group" "$path"
		fi
	fi
	if staging; then
		[ -w "$target" ] && [ -x "$target" ] || fail "--path $path is not writable"
		# Root passes -w on a read-only mount; a probe file does not lie.
		local probe
		probe=$(mktemp "$target/.deploy-probe.XXXXXX" 2>/dev/null) || fail "--path $path is not writable"
		rm -f "$probe"
	else
		runuser -u "$USER_NAME" -- sh -c 'p=$(mktemp "$1/.deploy-probe.XXXXXX") && rm -f "$p"' sh "$target" \
			>/dev/null 2>&1 || fail "--path $path is not writable by user $USER_NAME (chown $USER_NAME:$USER_NAME it or choose another --path)"
	fi
}

# socket_unit is ars.socket: systemd holds the RTP sockets of
# ARS_RTP_PORTS on ARS_BIND, and passes them to every start of ars.service,
# so that the kernel queues what arrives while the daemon restarts. The
# generator is the Debian package's too (packaging/ars-socket-unit); it
# reads the ars.env write_env has just written.
socket_unit() {
	[ -f "$src_dir/packaging/ars-socket-unit" ] || fail "missing $src_dir/packaging/ars-socket-unit"
	bash "$src_dir/packaging/ars-socket-unit" --by deploy.sh "$destdir$ENV_FILE"
}

# dropin lets the hardened units write the recording root.
dropin() {
	local unit=$1 extra=""
	case $path in
	"$STATE_DIR" | "$STATE_DIR"/*) ;;
	/home/* | /root | /root/* | /run/user/*) extra="ProtectHome=read-only" ;;
	esac
	put_text 0644 root root "/etc/systemd/system/$unit.d/10-deploy.conf" < <(
		printf '# Written by deploy.sh: the recording root chosen with --path.\n[Service]\n'
		printf 'ReadWritePaths=%s\n' "$path"
		[ -z "$extra" ] || printf '%s\n' "$extra"
		if [ "$unit" = "$SERVICE" ]; then
			printf '\n[Unit]\n# The RTP sockets come from ars.socket (socket activation).\nRequires=%s\nAfter=%s\n' "$SOCKET" "$SOCKET"
		fi
	)
}

install_files() {
	[ -n "$tmp_dir" ] || tmp_dir=$(mktemp -d)
	local bin=$prefix/bin doc=$prefix/share/doc/ars
	put_file 0755 root root "$bin_dir/ars" "$bin/ars"
	put_file 0755 root root "$bin_dir/transcoder" "$bin/transcoder"
	[ ! -x "$bin_dir/ars-mixer" ] || put_file 0755 root root "$bin_dir/ars-mixer" "$bin/ars-mixer"
	put_dir 0750 root "$USER_NAME" /etc/ars
	write_env
	put_dir 0750 "$USER_NAME" "$USER_NAME" "$STATE_DIR"
	local unit
	for unit in ars.service ars-transcode.service ars-transcode.timer; do
		put_text 0644 root root "/etc/systemd/system/$unit" < <(localize "$src_dir/systemd/$unit")
	done
	dropin ars.service
	dropin ars-transcode.service
	# Only the settings count: a new comment must not restart the sockets.
	socket_before=$(grep -v '^#' "$destdir/etc/systemd/system/$SOCKET" 2>/dev/null || true)
	local socket_text
	socket_text=$(socket_unit) || fail "could not write $SOCKET from $ENV_FILE"
	put_text 0644 root root "/etc/systemd/system/$SOCKET" <<<"$socket_text"
	socket_changed=0
	[ "$socket_before" = "$(grep -v '^#' "$destdir/etc/systemd/system/$SOCKET")" ] || socket_changed=1
	put_text 0755 root root /etc/cron.hourly/agora_hourly < <(localize "$src_dir/packaging/cron/agora_hourly")
	put_file 0644 root root "$src_dir/packaging/logrotate/ars" /etc/logrotate.d/ars
	put_file 0644 root root "$src_dir/packaging/sysctl/60-ars.conf" /etc/sysctl.d/60-ars.conf
	local d
	for d in install.md operations.md; do
		[ ! -f "$src_dir/docs/$d" ] || put_file 0644 root root "$src_dir/docs/$d" "$doc/$d"
	done
	record f 0640 root "$USER_NAME" "$MANIFEST"
	local m
	m=$(mktemp "$destdir/etc/ars/.manifest.XXXXXX")
	printf '%s\n' "# Written by deploy.sh: TYPE MODE OWNER:GROUP PATH of every installed path." \
		"${manifest_lines[@]}" >"$m"
	apply_owner "$m" root "$USER_NAME" 0640
	mv -f "$m" "$destdir$MANIFEST"
}

# ---------------------------------------------------------------- services

health_host() {
	case $bind_addr in
	"" | 0.0.0.0 | :: | "[::]") echo 127.0.0.1 ;;
	*) echo "$bind_addr" ;;
	esac
}

# healthy asks GET /healthz over bash's /dev/tcp: no curl needed.
healthy() {
	local host=$1 line
	(
		exec 3<>"/dev/tcp/$host/$port" || exit 1
		printf 'GET /healthz HTTP/1.0\r\nHost: %s\r\n\r\n' "$host" >&3
		IFS= read -r -t 5 line <&3 || exit 1
		[[ $line == HTTP/1.?" 200"* ]]
	) 2>/dev/null
}

start_services() {
	if sysctl -q -p "/etc/sysctl.d/60-ars.conf" >/dev/null 2>&1; then
		say "UDP receive buffers raised (/etc/sysctl.d/60-ars.conf)"
	else
		warn "could not apply /etc/sysctl.d/60-ars.conf now (container?); it applies at boot"
	fi
	systemctl daemon-reload
	if [ "$socket_changed" -eq 1 ] && systemctl --quiet is-active "$SOCKET"; then
		# The ports changed: the old sockets must go, which a restart of
		# the socket unit needs the service stopped for.
		say "RTP ports changed: restarting $SOCKET"
		systemctl stop "$SERVICE" "$SOCKET"
	fi
	systemctl enable --quiet --now "$SOCKET" || fail "systemctl start $SOCKET failed (ports in use?); see: journalctl -u $SOCKET"
	systemctl enable --quiet "$SERVICE"
	if command -v cron >/dev/null 2>&1 || [ -x /usr/sbin/cron ] || [ -x /usr/sbin/crond ]; then
		say "hourly transcode: /etc/cron.hourly/agora_hourly (cron)"
	else
		systemctl enable --quiet --now "$TIMER"
		say "hourly transcode: $TIMER (no cron on this host)"
	fi
	say "starting $SERVICE"
	# restart, not start: an upgrade must run the new binary. Open captures
	# are finalised by the old daemon before it exits.
	systemctl restart "$SERVICE" || fail "systemctl restart $SERVICE failed; see: journalctl -u ars -n 50"
	local host deadline=$((SECONDS + HEALTH_TIMEOUT))
	host=$(health_host)
	while ! healthy "$host"; do
		if [ $SECONDS -ge $deadline ] || systemctl --quiet is-failed "$SERVICE"; then
			journalctl -u ars -n 20 --no-pager >&2 2>/dev/null || true
			fail "$SERVICE did not answer on http://$host:$port/healthz; see: journalctl -u ars"
		fi
		sleep 1
	done
	say "ars answers on http://$host:$port/healthz"
}

# ---------------------------------------------------------------- uninstall

do_uninstall() {
	if ! staging; then
		[ "$(id -u)" -eq 0 ] || fail "must be run as root (sudo ./deploy.sh --uninstall)"
	fi
	local manifest="$destdir$MANIFEST"
	[ -f "$manifest" ] || fail "nothing to uninstall: $manifest is missing"
	if ! staging && [ -d /run/systemd/system ]; then
		say "stopping ars (open captures are finalised)"
		systemctl disable --quiet --now "$TIMER" "$SERVICE" "$SOCKET" 2>/dev/null || true
	fi
	local type p root_path
	root_path=$(env_get "$destdir$ENV_FILE" AGORA_FILE_ROOT)
	local -a parents=()
	# Directories in the manifest (/etc/ars, the state dir, the recording
	# root) stay; files go, and with them directories they leave empty
	# (drop-in and doc directories).
	while read -r type _ _ p; do
		[ "$type" = f ] || continue
		[ "$p" != "$ENV_FILE" ] || [ $purge -eq 1 ] || continue
		[ "$p" != "$MANIFEST" ] || continue
		rm -f "$destdir$p"
		parents+=("$(dirname "$p")")
	done < <(grep -v '^#' "$manifest")
	rm -f "$manifest"
	for p in "${parents[@]}"; do
		case $p in /etc/ars | "$STATE_DIR" | "$root_path") continue ;; esac
		rmdir "$destdir$p" 2>/dev/null || true
	done
	if [ $purge -eq 1 ]; then
		rm -rf "$destdir/etc/ars"
		rm -f "$destdir/var/log/agora_hourly.log" "$destdir/var/log/agora_hourly.log."* "$destdir$STATE_DIR/transcode.lock"
		if ! staging && getent passwd "$USER_NAME" >/dev/null; then
			userdel "$USER_NAME" 2>/dev/null || warn "could not remove user $USER_NAME"
			getent group "$USER_NAME" >/dev/null && groupdel "$USER_NAME" 2>/dev/null || true
		fi
	fi
	if ! staging && [ -d /run/systemd/system ]; then
		systemctl daemon-reload || true
	fi
	say "recordings are kept${root_path:+ in $root_path}"
	echo "uninstall successfully"
}

# ---------------------------------------------------------------- main

main() {
	parse_args "$@"
	if [ $uninstall -eq 1 ]; then
		do_uninstall
		return
	fi
	[ $purge -eq 0 ] || fail "--purge goes with --uninstall"
	check_host
	resolve_settings
	check_ports
	find_binaries
	ensure_user
	prepare_root
	install_files
	if staging; then
		say "staged into $destdir; nothing was started (owners are in $MANIFEST)"
	else
		start_services
	fi
	echo "deploy successfully"
}

main "$@"
