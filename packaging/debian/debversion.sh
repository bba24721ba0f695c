#!/usr/bin/env bash
# debversion.sh RAW: prints RAW (a `git describe --tags --always --dirty`
# output, or anything `make VERSION=...` passes) as a valid Debian version
# that sorts sensibly:
#   v1.2.3               -> 1.2.3
#   v1.2.3-rc1           -> 1.2.3~rc1           (before 1.2.3)
#   v1.2.3-4-gabc1234    -> 1.2.3+git4.gabc1234 (after 1.2.3)
#   abc1234              -> 0.0.0~gitabc1234    (no tag yet: before 0.0.0)
#   ...-dirty            -> ...+dirty
#   dev, main, ...       -> 0.0.0~dev
set -euo pipefail
raw=${1:-}
v=$raw
dirty=""
if [[ $v == *-dirty ]]; then
	dirty=+dirty
	v=${v%-dirty}
fi
[[ $v =~ ^[vV][0-9] ]] && v=${v:1}

# clean keeps the characters a Debian upstream version may hold (no hyphen:
# these packages have no Debian revision).
clean() {
	local s=$1
	s=$(sed -E 's/-(alpha|beta|rc|pre|dev)/~\1/g; s/[^A-Za-z0-9.+~]+/./g; s/^[.+~]+//; s/[.+~]+$//' <<<"$s")
	printf '%s' "$s"
}

# git abbreviates hashes to 7+ hex digits, which may all be decimal; a
# dotless 7-digit number is taken as a hash too.
if [[ $v =~ ^[0-9a-f]{7,40}$ ]]; then
	out="0.0.0~git$v"
elif [[ $v =~ ^([0-9].*)-([0-9]+)-g([0-9a-f]{4,40})$ ]]; then
	out="$(clean "${BASH_REMATCH[1]}")+git${BASH_REMATCH[2]}.g${BASH_REMATCH[3]}"
elif [[ $v =~ ^[0-9] ]]; then
	out=$(clean "$v")
else
	word=$(clean "$(tr '[:upper:]' '[:lower:]' <<<"$v")")
	out="0.0.0~${word:-unknown}"
fi
printf '%s%s\n' "$out" "$dirty"
