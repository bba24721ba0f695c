package mixproto

import (
	"bytes"
	"errors"
	"io"
	"testing"
)

// TestAACRoundTrip writes every frame of the transcoder role and reads
// it back.
func TestAACRoundTrip(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	open := AACOpen{ID: 9, InputChannels: 2, Rate: 48000, Channels: 1, BitrateKbps: 48}
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(w.WriteJSON(TypeAACOpen, open))
	must(w.WriteMedia(TypeAACOpus, Media{Source: 9, PTS: -20e6, Data: []byte{0xfc, 0xff, 0xfe}}))
	must(w.WriteJSON(TypeAACConfig, AACConfig{ID: 9, Rate: 48000, Channels: 1, ASC: []byte{0x11, 0x88}}))
	must(w.WriteAACUnit(AACUnit{ID: 9, PTS: -21333333, Duration: 21333333, Data: []byte{0x21, 0x10, 0x04}}))
	must(w.WriteMedia(TypeVideo, Media{Source: 1, PTS: 1}))
	must(w.WriteJSON(TypeAACClose, AACClose{ID: 9}))
	must(w.WriteMedia(TypeAACSilence, Media{Source: 9, PTS: 4e9}))
	must(w.WriteJSON(TypeAACClosed, AACClosed{ID: 9, Units: 1}))
	must(w.WriteJSON(TypeAACError, AACError{ID: 9, Message: "x"}))
	must(w.Flush())

	r := NewReader(&buf)
	next := func(want Type) Frame {
		t.Helper()
		f, err := r.ReadFrame()
		if err != nil || f.Type != want {
			t.Fatalf("got %v %v, want type %d", f.Type, err, want)
		}
		return f
	}
	var o AACOpen
	if err := Decode(next(TypeAACOpen).Body, &o); err != nil || o != open || o.Validate() != nil {
		t.Fatalf("open %+v %v", o, err)
	}
	m, err := ParseOpus(next(TypeAACOpus).Body)
	if err != nil || m.Source != 9 || m.PTS != -20e6 || !bytes.Equal(m.Data, []byte{0xfc, 0xff, 0xfe}) {
		t.Fatalf("opus %+v %v", m, err)
	}
	var c AACConfig
	if err := Decode(next(TypeAACConfig).Body, &c); err != nil || c.Validate() != nil || !bytes.Equal(c.ASC, []byte{0x11, 0x88}) {
		t.Fatalf("config %+v %v", c, err)
	}
	u, err := ParseAACUnit(next(TypeAACUnit).Body)
	if err != nil || u.ID != 9 || u.PTS != -21333333 || u.Duration != 21333333 || !bytes.Equal(u.Data, []byte{0x21, 0x10, 0x04}) {
		t.Fatalf("unit %+v %v", u, err)
	}
	// The writer's shared header buffer: a media frame after an AAC unit
	// is still a media frame of its own length.
	if v, err := ParseMedia(next(TypeVideo).Body); err != nil || v.PTS != 1 || len(v.Data) != 0 {
		t.Fatalf("video after a unit: %+v %v", v, err)
	}
	var cl AACClose
	if err := Decode(next(TypeAACClose).Body, &cl); err != nil || cl.ID != 9 {
		t.Fatal(cl, err)
	}
	if m, err := ParseSilence(next(TypeAACSilence).Body); err != nil || m.Source != 9 || m.PTS != 4e9 {
		t.Fatalf("silence %+v %v", m, err)
	}
	if _, err := ParseSilence(append(make([]byte, mediaHeader), 1)); !errors.Is(err, ErrBadUnit) {
		t.Fatalf("silence with a payload: %v", err)
	}
	var cd AACClosed
	if err := Decode(next(TypeAACClosed).Body, &cd); err != nil || cd.Units != 1 {
		t.Fatal(cd, err)
	}
	var e AACError
	if err := Decode(next(TypeAACError).Body, &e); err != nil || e.Message != "x" {
		t.Fatal(e, err)
	}
	if _, err := r.ReadFrame(); err != io.EOF {
		t.Fatal(err)
	}
}

func TestAACOpenValidate(t *testing.T) {
	good := AACOpen{ID: 1, InputChannels: 2, Rate: 48000, Channels: 2, BitrateKbps: 128}
	for _, c := range []string{"", CoderTwoLoop, CoderFast} {
		o := good
		o.Coder = c
		if err := o.Validate(); err != nil {
			t.Fatal(c, err)
		}
	}
	for name, mut := range map[string]func(*AACOpen){
		"input channels 0": func(o *AACOpen) { o.InputChannels = 0 },
		"input channels 3": func(o *AACOpen) { o.InputChannels = 3 },
		"channels 6":       func(o *AACOpen) { o.Channels = 6 },
		"rate 12345":       func(o *AACOpen) { o.Rate = 12345 },
		"bitrate 4":        func(o *AACOpen) { o.BitrateKbps = 4 },
		"bitrate mono 300": func(o *AACOpen) { o.Channels, o.BitrateKbps = 1, 300 },
		"coder":            func(o *AACOpen) { o.Coder = "anmr" },
	} {
		t.Run(name, func(t *testing.T) {
			o := good
			mut(&o)
			if err := o.Validate(); !errors.Is(err, ErrBadConfig) {
				t.Fatalf("got %v", err)
			}
		})
	}
}

func TestAACUnitBounds(t *testing.T) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	if err := w.WriteAACUnit(AACUnit{Duration: 1}); !errors.Is(err, ErrBadUnit) {
		t.Fatalf("empty unit written: %v", err)
	}
	if err := w.WriteAACUnit(AACUnit{Duration: 1, Data: make([]byte, MaxAACUnit+1)}); !errors.Is(err, ErrBadUnit) {
		t.Fatalf("oversize unit written: %v", err)
	}
	body := func(dur uint64, n int) []byte {
		b := make([]byte, aacHeader+n)
		b[12], b[19] = byte(dur>>56), byte(dur)
		return b
	}
	for name, tc := range map[string]struct {
		b    []byte
		want error
	}{
		"short":          {make([]byte, aacHeader-1), ErrShortBody},
		"empty":          {body(1, 0), ErrBadUnit},
		"zero duration":  {body(0, 4), ErrBadUnit},
		"negative":       {body(1<<63|1, 4), ErrBadUnit},
		"too large":      {body(1, MaxAACUnit+1), ErrBadUnit},
		"opus too large": {},
	} {
		t.Run(name, func(t *testing.T) {
			if tc.b == nil {
				if _, err := ParseOpus(make([]byte, mediaHeader+MaxOpusPacket+1)); !errors.Is(err, ErrBadUnit) {
					t.Fatal(err)
				}
				if _, err := ParseOpus(make([]byte, mediaHeader)); !errors.Is(err, ErrBadUnit) {
					t.Fatal(err)
				}
				return
			}
			if _, err := ParseAACUnit(tc.b); !errors.Is(err, tc.want) {
				t.Fatalf("got %v, want %v", err, tc.want)
			}
		})
	}
	var c AACConfig
	if (&AACConfig{Rate: 48000, Channels: 2, ASC: []byte{1}}).Validate() == nil || c.Validate() == nil {
		t.Fatal("bad config accepted")
	}
}
