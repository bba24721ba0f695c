package mixproto

import (
	"bytes"
	"testing"
)

// FuzzReader feeds arbitrary bytes to the frame reader and the body
// decoders: a mixer must survive any stdin, a daemon any stdout.
func FuzzReader(f *testing.F) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	_ = w.WriteJSON(TypeConfig, Config{OutDir: "/x", Audio: AudioConfig{Rate: 48000, Channels: 1, BitrateKbps: 48}})
	_ = w.WriteMedia(TypeAudio, Media{Source: 1, PTS: 20e6, Data: []byte{0xfc, 1, 2}})
	_ = w.WriteJSON(TypeFileClosed, FileClosed{Kind: KindTS, Name: "a.ts"})
	_ = w.Flush()
	f.Add(buf.Bytes())
	f.Add([]byte{byte(TypeLayout), 0, 0, 0, 2, '{', '}'})
	f.Fuzz(func(t *testing.T, b []byte) {
		r := NewReader(bytes.NewReader(b))
		for i := 0; i < 64; i++ {
			fr, err := r.ReadFrame()
			if err != nil {
				return
			}
			switch fr.Type {
			case TypeVideo, TypeAudio:
				_, _ = ParseMedia(fr.Body)
			case TypeConfig:
				var c Config
				if Decode(fr.Body, &c) == nil {
					_ = c.Validate()
				}
			case TypeLayout:
				var l Layout
				if Decode(fr.Body, &l) == nil {
					_ = l.Validate(&VideoConfig{Width: 640, Height: 360})
				}
			}
		}
	})
}
