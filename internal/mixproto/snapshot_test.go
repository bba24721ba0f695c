package mixproto

import (
	"bytes"
	"errors"
	"strings"
	"testing"

	"github.com/ars-project/ars/internal/vcodec"
)

func TestSnapshotRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	req := SnapRequest{ID: 9, Video: VideoMeta{Key: true, Codec: vcodec.VP9, Orientation: vcodec.Orientation{Rotation: 270}},
		Data: []byte{0x82, 0x49, 0x83}}
	jpeg := []byte{0xff, 0xd8, 0xff, 0xdb, 1, 2, 3, 0xff, 0xd9}
	long := strings.Repeat("é", MaxSnapError) // 2 bytes a character: cut on a boundary
	for _, err := range []error{
		w.WriteSnapRequest(req),
		w.WriteSnapResult(SnapResult{ID: 9, JPEG: jpeg}),
		w.WriteSnapResult(SnapResult{ID: 10, Err: long}),
		w.WriteSnapResult(SnapResult{ID: 11, Err: "bad \xff byte"}),
		w.Flush(),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	r := NewReader(&buf)
	f, err := r.ReadFrame()
	if err != nil || f.Type != TypeSnapshot {
		t.Fatalf("request frame: %v %v", f.Type, err)
	}
	got, err := ParseSnapRequest(f.Body)
	if err != nil || got.ID != 9 || got.Video != req.Video || !bytes.Equal(got.Data, req.Data) {
		t.Fatalf("request: %+v %v", got, err)
	}
	f, _ = r.ReadFrame()
	res, err := ParseSnapResult(f.Body)
	if err != nil || f.Type != TypeSnapResult || res.ID != 9 || !bytes.Equal(res.JPEG, jpeg) || res.Err != "" {
		t.Fatalf("result: %+v %v", res, err)
	}
	f, _ = r.ReadFrame()
	res, err = ParseSnapResult(f.Body)
	if err != nil || res.ID != 10 || len(res.Err) > MaxSnapError || !strings.HasPrefix(long, res.Err) || res.JPEG != nil {
		t.Fatalf("long error: %d bytes, %v", len(res.Err), err)
	}
	f, _ = r.ReadFrame()
	if res, err = ParseSnapResult(f.Body); err != nil || res.Err != "bad ? byte" {
		t.Fatalf("invalid UTF-8 error: %+v %v", res, err)
	}
}

func TestSnapshotRefused(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.WriteSnapRequest(SnapRequest{ID: 1, Video: VideoMeta{Codec: vcodec.H264}, Data: []byte{1}}); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("delta frame written: %v", err)
	}
	if err := w.WriteSnapResult(SnapResult{ID: 1, JPEG: []byte("PNG!")}); !errors.Is(err, ErrBadSnapshot) {
		t.Fatalf("non-JPEG written: %v", err)
	}
	media := func(flags uint8, data []byte) []byte {
		var b bytes.Buffer
		w := NewWriter(&b)
		_ = w.WriteMedia(TypeSnapshot, Media{Source: 5, Flags: flags, Data: data})
		_ = w.Flush()
		return b.Bytes()[5:]
	}
	for name, tc := range map[string]struct {
		body []byte
		want error
	}{
		"short":         {[]byte{1, 2, 3}, ErrShortBody},
		"not key":       {media(0, []byte{1}), ErrBadSnapshot},
		"no payload":    {media(FlagKey, nil), ErrBadSnapshot},
		"unknown codec": {media(FlagKey|7<<1, []byte{1}), ErrUnknownCodec},
	} {
		if _, err := ParseSnapRequest(tc.body); !errors.Is(err, tc.want) {
			t.Errorf("request %s: %v, want %v", name, err, tc.want)
		}
	}
	for name, tc := range map[string]struct {
		body []byte
		want error
	}{
		"short":      {[]byte{0, 0, 0, 1}, ErrShortBody},
		"not jpeg":   {[]byte{0, 0, 0, 1, 0, 0x89, 'P', 'N', 'G'}, ErrBadSnapshot},
		"bad status": {[]byte{0, 0, 0, 1, 2, 0xff, 0xd8, 0, 0}, ErrBadSnapshot},
		"empty err":  {[]byte{0, 0, 0, 1, 1}, ErrBadSnapshot},
		"bad utf8":   {[]byte{0, 0, 0, 1, 1, 0xff, 0xfe}, ErrBadSnapshot},
		"long err":   {append([]byte{0, 0, 0, 1, 1}, bytes.Repeat([]byte{'x'}, MaxSnapError+1)...), ErrBadSnapshot},
	} {
		if _, err := ParseSnapResult(tc.body); !errors.Is(err, tc.want) {
			t.Errorf("result %s: %v, want %v", name, err, tc.want)
		}
	}
}
