package mixproto

import (
	"bytes"
	"testing"

	"github.com/ars-project/ars/internal/vcodec"
)

// FuzzReader feeds arbitrary bytes to the frame reader and the body
// decoders: a mixer must survive any stdin, a daemon any stdout.
func FuzzReader(f *testing.F) {
	var buf bytes.Buffer
	w := NewWriter(&buf)
	_ = w.WriteJSON(TypeConfig, Config{OutDir: "/x", Audio: AudioConfig{Rate: 48000, Channels: 1, BitrateKbps: 48}})
	_ = w.WriteMedia(TypeAudio, Media{Source: 1, PTS: 20e6, Data: []byte{0xfc, 1, 2}})
	vp8 := VideoMeta{Key: true, Codec: vcodec.VP8, Orientation: vcodec.Orientation{Rotation: 90, Flip: true}}
	_ = w.WriteMedia(TypeVideo, Media{Source: 2, PTS: 40e6, Flags: vp8.Flags(), Data: []byte{0x10, 0x02, 0x00, 0x9d, 0x01, 0x2a}})
	_ = w.WriteJSON(TypeFileClosed, FileClosed{Kind: KindTS, Name: "a.ts"})
	_ = w.WriteSnapRequest(SnapRequest{ID: 3, Video: VideoMeta{Key: true, Codec: vcodec.H264}, Data: []byte{0, 0, 0, 1, 0x67, 0x42}})
	_ = w.WriteSnapResult(SnapResult{ID: 3, JPEG: []byte{0xff, 0xd8, 0xff, 0xe0, 0, 0x10}})
	_ = w.WriteSnapResult(SnapResult{ID: 4, Err: "no picture"})
	_ = w.WriteJSON(TypeAACOpen, AACOpen{ID: 3, InputChannels: 2, Rate: 48000, Channels: 2, BitrateKbps: 64})
	_ = w.WriteMedia(TypeAACOpus, Media{Source: 3, PTS: 20e6, Data: []byte{0xfc, 0xff, 0xfe}})
	_ = w.WriteJSON(TypeAACConfig, AACConfig{ID: 3, Rate: 48000, Channels: 2, ASC: []byte{0x11, 0x90}})
	_ = w.WriteAACUnit(AACUnit{ID: 3, PTS: -21e6, Duration: 21e6, Data: []byte{0x21, 0x1a}})
	_ = w.WriteMedia(TypeAACSilence, Media{Source: 3, PTS: 60e6})
	_ = w.WriteJSON(TypeAACClose, AACClose{ID: 3})
	_ = w.WriteJSON(TypeWebConfig, WebConfig{URL: "https://example.com/", Width: 640, Height: 360, FPS: 30, BitrateKbps: 800,
		ReadyTimeoutSec: 10, OutDir: "/x", MP4: &MP4Output{Pattern: "a.mp4"}, RTMP: []string{"rtmp://example.com/live/k"}})
	_ = w.WriteJSON(TypeWebHold, WebHold{Hold: true})
	_ = w.WriteJSON(TypeWebRTMPStatus, WebRTMPStatus{URL: "rtmp://example.com/live/k", Status: RTMPFailed, Message: "refused"})
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
			case TypeVideo:
				m, err := ParseMedia(fr.Body)
				if err != nil {
					continue
				}
				v, err := m.Video()
				if err != nil {
					continue
				}
				// What reads must write back the same (the reserved
				// bit aside): the mixer acts on exactly what was sent.
				if v.Flags() != m.Flags&^0x80 {
					t.Fatalf("video flags %#x read as %+v, written %#x", m.Flags, v, v.Flags())
				}
			case TypeAudio:
				_, _ = ParseMedia(fr.Body)
			case TypeConfig:
				var c Config
				if Decode(fr.Body, &c) == nil {
					_ = c.Validate()
				}
			case TypeSnapshot:
				if q, err := ParseSnapRequest(fr.Body); err == nil {
					// A request read is one the daemon could have written.
					var out bytes.Buffer
					if err := NewWriter(&out).WriteSnapRequest(q); err != nil {
						t.Fatalf("request %+v read but not writable: %v", q, err)
					}
				}
			case TypeSnapResult:
				if res, err := ParseSnapResult(fr.Body); err == nil {
					var out bytes.Buffer
					w := NewWriter(&out)
					if err := w.WriteSnapResult(res); err != nil {
						t.Fatalf("result %+v read but not writable: %v", res, err)
					}
					_ = w.Flush()
					back, err := NewReader(&out).ReadFrame()
					if err != nil {
						t.Fatal(err)
					}
					again, err := ParseSnapResult(back.Body)
					if err != nil || again.ID != res.ID || again.Err != res.Err || !bytes.Equal(again.JPEG, res.JPEG) {
						t.Fatalf("result %+v written back read as %+v, %v", res, again, err)
					}
				}
			case TypeAACOpen:
				var o AACOpen
				if Decode(fr.Body, &o) == nil {
					_ = o.Validate()
				}
			case TypeAACOpus:
				if m, err := ParseOpus(fr.Body); err == nil && (len(m.Data) == 0 || len(m.Data) > MaxOpusPacket) {
					t.Fatalf("opus packet of %d bytes accepted", len(m.Data))
				}
			case TypeAACSilence:
				if m, err := ParseSilence(fr.Body); err == nil && len(m.Data) != 0 {
					t.Fatal("silence with a payload accepted")
				}
			case TypeAACConfig:
				var c AACConfig
				if Decode(fr.Body, &c) == nil && c.Validate() == nil && (len(c.ASC) < 2 || len(c.ASC) > MaxASC) {
					t.Fatalf("config %+v accepted", c)
				}
			case TypeAACUnit:
				u, err := ParseAACUnit(fr.Body)
				if err != nil {
					continue
				}
				// What reads writes back the same bytes.
				var out bytes.Buffer
				ww := NewWriter(&out)
				if ww.WriteAACUnit(u) != nil || ww.Flush() != nil || !bytes.Equal(out.Bytes()[5:], fr.Body) {
					t.Fatalf("unit %+v does not write back as read", u)
				}
			case TypeWebConfig:
				var c WebConfig
				if Decode(fr.Body, &c) == nil && c.Validate() == nil && len(c.RTMP) > MaxRTMPOutputs {
					t.Fatalf("%d rtmp outputs accepted", len(c.RTMP))
				}
			case TypeWebHold:
				var h WebHold
				_ = Decode(fr.Body, &h)
			case TypeLayout:
				var l Layout
				if Decode(fr.Body, &l) == nil {
					_ = l.Validate(&VideoConfig{Width: 640, Height: 360})
				}
			}
		}
	})
}
