package testmedia

import (
	"path/filepath"
	"testing"
	"time"

	"github.com/ars-project/ars/internal/storage"
)

func TestGenerateAndCapture(t *testing.T) {
	RequireFFmpeg(t)
	o := Options{Duration: 2 * time.Second, FPS: 25, GOP: 25}
	streams := Generate(t, o)
	if len(streams) != 2 {
		t.Fatalf("got %d streams, want video and audio", len(streams))
	}
	v, a := streams[0], streams[1]
	if got, want := v.Frames(), 50; got != want {
		t.Errorf("video frames = %d, want %d", got, want)
	}
	if got := v.FrameDuration(); got != 40*time.Millisecond {
		t.Errorf("video frame duration = %v", got)
	}
	if got := len(v.KeyframeIndexes()); got != 2 {
		t.Errorf("keyframes = %d, want 2 (GOP 25 over 50 frames)", got)
	}
	// libopus pads the end, so allow one extra 20 ms packet.
	if got := a.Frames(); got < 100 || got > 102 {
		t.Errorf("audio packets = %d, want ~100", got)
	}
	if got := a.FrameDuration(); got != 20*time.Millisecond {
		t.Errorf("audio frame duration = %v", got)
	}
	// The cache hands out copies: damaging one must not leak into the next.
	streams[0].Packets[0].Data[2] ^= 0xff
	again := Generate(t, o)
	if again[0].Packets[0].Data[2] == streams[0].Packets[0].Data[2] {
		t.Error("Generate returned shared packet memory")
	}

	path := filepath.Join(t.TempDir(), "1_000000.tmp")
	wrapped := Rebase(again[0], 10, 0xfffe, 0xffffff00)
	WriteCapture(t, path, storage.Header{UID: 1}, []Stream{Drop(wrapped, 1, 0.1), again[1]},
		SenderReports(again[1], time.Unix(1e9, 0), time.Second)...)
	r, err := storage.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	sum, err := storage.Summarize(r)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Torn || len(sum.Streams) != 2 || sum.RTCPPackets < 2 {
		t.Fatalf("summary: torn=%v streams=%d rtcp=%d", sum.Torn, len(sum.Streams), sum.RTCPPackets)
	}
	vs := sum.Stream(VideoSSRC)
	if vs.Gaps == 0 || vs.Packets+vs.Gaps != uint64(len(wrapped.Packets)) {
		t.Errorf("video: packets %d gaps %d, sent %d", vs.Packets, vs.Gaps, len(wrapped.Packets))
	}
}

func TestConcatContinues(t *testing.T) {
	RequireFFmpeg(t)
	a := Generate(t, Options{Duration: time.Second, Video: true})[0]
	b := Generate(t, Options{Duration: time.Second, Video: true, Width: 160, Height: 120})[0]
	c := Concat(a, b, 0)
	if got, want := c.Frames(), a.Frames()+b.Frames(); got != want {
		t.Fatalf("frames = %d, want %d", got, want)
	}
	for i := 1; i < len(c.Packets); i++ {
		if seqOf(c.Packets[i].Data) != seqOf(c.Packets[i-1].Data)+1 {
			t.Fatalf("seq gap at %d", i)
		}
		if c.Packets[i].At < c.Packets[i-1].At {
			t.Fatalf("arrival goes back at %d", i)
		}
	}
	if got, want := c.MediaDuration(), a.MediaDuration()+b.MediaDuration(); got != want {
		t.Errorf("duration %v, want %v", got, want)
	}
}
