package transcode

import (
	"encoding/binary"
	"time"
)

// senderReport is the NTP/RTP pair of an RTCP sender report.
type senderReport struct {
	ntp time.Duration // since 1900-01-01, the sender's wall clock
	rtp uint32
}

// parseSenderReports calls fn for each SR in a compound RTCP packet.
func parseSenderReports(b []byte, fn func(ssrc uint32, sr senderReport)) {
	for len(b) >= 4 {
		if b[0]>>6 != 2 {
			return
		}
		n := 4 * (int(binary.BigEndian.Uint16(b[2:])) + 1)
		if n > len(b) {
			return
		}
		if b[1] == 200 && n >= 28 {
			ntp := binary.BigEndian.Uint64(b[8:])
			secs, frac := ntp>>32, ntp&0xffffffff
			d := time.Duration(secs)*time.Second + time.Duration(frac*uint64(time.Second)>>32)
			fn(binary.BigEndian.Uint32(b[4:]), senderReport{ntp: d, rtp: binary.BigEndian.Uint32(b[16:])})
		}
		b = b[n:]
	}
}

// maxSyncCorrection bounds how far sender reports may move a track from
// where arrival times put it. Reports that disagree more come from a
// confused sender (or a damaged file) and are ignored.
const maxSyncCorrection = 5 * time.Second

// trackClock is what placing one track needs: where arrival times put its
// first sample, and the sender report of that sample's SSRC, if any.
type trackClock struct {
	arrival  time.Duration // capture time of the first sample, least-delay estimate
	firstExt int64
	clock    int64
	sr       *senderReport
}

// trackStarts returns each track's start on the capture clock. Arrival
// times alone place tracks with their own network delays; when every
// track has a sender report, the reports (one sender clock for all of a
// participant's streams) fix the offsets between tracks and the least
// delayed track anchors them all.
func trackStarts(tracks []trackClock) (starts []time.Duration, usedSR bool) {
	starts = make([]time.Duration, len(tracks))
	for i, t := range tracks {
		starts[i] = t.arrival
	}
	if len(tracks) < 2 {
		return starts, false
	}
	ntp := make([]time.Duration, len(tracks))
	var anchor time.Duration
	for i, t := range tracks {
		if t.sr == nil || t.clock <= 0 {
			return starts, false
		}
		srExt := nearest32(t.firstExt, t.sr.rtp)
		ntp[i] = t.sr.ntp + time.Duration(float64(t.firstExt-srExt)/float64(t.clock)*float64(time.Second))
		if d := t.arrival - ntp[i]; i == 0 || d < anchor {
			anchor = d
		}
	}
	corrected := make([]time.Duration, len(tracks))
	for i := range tracks {
		corrected[i] = ntp[i] + anchor
		if diff := corrected[i] - tracks[i].arrival; diff > maxSyncCorrection || diff < -maxSyncCorrection {
			return starts, false
		}
	}
	return corrected, true
}
