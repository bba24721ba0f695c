package mixfeed

import (
	"bytes"
	"cmp"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/mixproto"
	"github.com/ars-project/ars/internal/testmedia"
)

// call is one call a recTarget saw.
type call struct {
	op   string // join, leave, video, audio
	src  mixproto.Source
	id   uint32
	pts  int64
	key  bool
	meta mixproto.VideoMeta
	data []byte
}

// recTarget records every call, copying the data as a Target must.
type recTarget struct {
	mu    sync.Mutex
	calls []call
}

func (r *recTarget) Join(s mixproto.Source) {
	r.mu.Lock()
	r.calls = append(r.calls, call{op: "join", src: s, id: s.ID})
	r.mu.Unlock()
}

func (r *recTarget) Leave(id uint32) {
	r.mu.Lock()
	r.calls = append(r.calls, call{op: "leave", id: id})
	r.mu.Unlock()
}

func (r *recTarget) Video(id uint32, pts int64, v mixproto.VideoMeta, au []byte) {
	r.mu.Lock()
	r.calls = append(r.calls, call{op: "video", id: id, pts: pts, key: v.Key, meta: v, data: bytes.Clone(au)})
	r.mu.Unlock()
}

func (r *recTarget) Audio(id uint32, pts int64, pkt []byte) {
	r.mu.Lock()
	r.calls = append(r.calls, call{op: "audio", id: id, pts: pts, data: bytes.Clone(pkt)})
	r.mu.Unlock()
}

func (r *recTarget) of(op string, id uint32) []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []call
	for _, c := range r.calls {
		if c.op == op && (id == 0 || c.id == id) {
			out = append(out, c)
		}
	}
	return out
}

func (r *recTarget) sourceOf(t *testing.T, uid uint32) []mixproto.Source {
	t.Helper()
	var out []mixproto.Source
	for _, c := range r.of("join", 0) {
		if c.src.UID == strconv.FormatUint(uint64(uid), 10) {
			out = append(out, c.src)
		}
	}
	return out
}

// checkAUs checks every video unit: Annex B, keyframes flagged and led by
// SPS and PPS, the first one a keyframe; and that ffmpeg decodes them all
// without an error.
func checkAUs(t *testing.T, aus []call) {
	t.Helper()
	if len(aus) == 0 {
		t.Fatal("no video units")
	}
	if !aus[0].key {
		t.Fatal("the first unit is not a keyframe")
	}
	var all []byte
	for i, a := range aus {
		if !bytes.HasPrefix(a.data, []byte{0, 0, 0, 1}) {
			t.Fatalf("unit %d does not start with a start code: % x", i, a.data[:min(8, len(a.data))])
		}
		types := nalTypes(a.data)
		hasIDR := slices.Contains(types, 5)
		if a.key != hasIDR {
			t.Fatalf("unit %d: key flag %v but NAL types %v", i, a.key, types)
		}
		if a.key && (len(types) < 3 || types[0] != 7 || types[1] != 8) {
			t.Fatalf("keyframe %d does not start with SPS, PPS: %v", i, types)
		}
		all = append(all, a.data...)
	}
	path := filepath.Join(t.TempDir(), "units.h264")
	if err := os.WriteFile(path, all, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, "ffmpeg", "-nostdin", "-v", "error", "-xerror", "-i", path, "-f", "null", "-").CombinedOutput()
	if err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Fatalf("ffmpeg decode of the units: %v\n%s", err, out)
	}
	out, err = exec.CommandContext(ctx, "ffprobe", "-v", "error", "-count_frames", "-select_streams", "v:0",
		"-show_entries", "stream=nb_read_frames", "-of", "csv=p=0", path).Output()
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := strconv.Atoi(string(bytes.TrimSpace(out))); n != len(aus) {
		t.Fatalf("ffprobe decodes %d pictures from %d units", n, len(aus))
	}
}

// nalTypes lists the NAL unit types of an Annex B unit (4-byte start
// codes, as the feed writes them).
func nalTypes(b []byte) []int {
	var out []int
	for i := 0; i+4 < len(b); i++ {
		if b[i] == 0 && b[i+1] == 0 && b[i+2] == 0 && b[i+3] == 1 {
			out = append(out, int(b[i+4]&0x1f))
			i += 4
		}
	}
	return out
}

// checkSpacing checks that PTS rise and are spaced at step between
// consecutive units: within tol for the first settle units (a live feed
// cannot know its first units came late until earlier ones arrive), within
// a millisecond after.
func checkSpacing(t *testing.T, name string, units []call, step, tol time.Duration, settle int) {
	t.Helper()
	for i := 1; i < len(units); i++ {
		tol := tol
		if i > settle {
			tol = time.Millisecond
		}
		d := time.Duration(units[i].pts - units[i-1].pts)
		if d <= 0 {
			t.Fatalf("%s: pts %d not after %d (unit %d)", name, units[i].pts, units[i-1].pts, i)
		}
		if d < step-tol || d > step+tol {
			t.Fatalf("%s: unit %d comes %v after the previous, want %v", name, i, d, step)
		}
	}
}

// merged returns the packets of streams (and extra records) in arrival
// order, as the session hands them to a sink.
type arrival struct {
	at   time.Duration
	rtcp bool
	data []byte
}

func merged(streams []testmedia.Stream, extra []testmedia.Record) []arrival {
	var out []arrival
	for _, r := range extra {
		out = append(out, arrival{at: r.At, rtcp: true, data: r.Data})
	}
	for _, s := range streams {
		for _, p := range s.Packets {
			out = append(out, arrival{at: p.At, data: p.Data})
		}
	}
	slices.SortStableFunc(out, func(a, b arrival) int { return cmp.Compare(a.at, b.at) })
	return out
}
