package loadgen

import (
	"context"
	"encoding/binary"
	"fmt"
	"os/exec"
	"sort"
	"time"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/udpcollect"
)

// Identities of the two streams inside the media capture; the sender
// rewrites them per participant.
const (
	mediaVideoSSRC uint32 = 0x0b00_0001
	mediaAudioSSRC uint32 = 0x0a00_0002
	// VideoPayloadType and AudioPayloadType are what every stream is
	// declared with on join.
	VideoPayloadType uint8 = 96
	AudioPayloadType uint8 = 111
	// H264Fmtp is the fmtp of the generated video (Baseline 3.1).
	H264Fmtp = "packetization-mode=1;profile-level-id=42e01f"
)

// mediaStart is the fixed wall clock of the media capture, so that two
// generations of the same options give the same file.
var mediaStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// packetize has ffmpeg packetize the elementary streams to RTP (without
// re-encoding) over loopback, and writes the packets into a capture with
// arrival times taken from their RTP timestamps.
func packetize(ctx context.Context, o MediaOptions, m Media, dst string) error {
	vr, err := udpcollect.Listen()
	if err != nil {
		return err
	}
	defer vr.Close()
	ar, err := udpcollect.Listen()
	if err != nil {
		return err
	}
	defer ar.Close()
	url := func(r *udpcollect.Collector) string {
		return fmt.Sprintf("udp://127.0.0.1:%d?pkt_size=%d", r.Port(), o.PacketSize)
	}
	args := []string{"-hide_banner", "-nostdin", "-v", "error",
		"-framerate", fmt.Sprint(o.FPS), "-i", m.VideoES, "-i", m.AudioES,
		"-map", "0:v", "-c", "copy", "-f", "rtp", "-payload_type", fmt.Sprint(VideoPayloadType),
		"-ssrc", fmt.Sprint(mediaVideoSSRC), "-seq", "0", "-rtpflags", "skip_rtcp", url(vr),
		"-map", "1:a", "-c", "copy", "-f", "rtp", "-payload_type", fmt.Sprint(AudioPayloadType),
		"-ssrc", fmt.Sprint(mediaAudioSSRC), "-seq", "0", "-rtpflags", "skip_rtcp", url(ar),
	}
	if out, err := exec.CommandContext(ctx, "ffmpeg", args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%w: ffmpeg packetize: %w\n%s", ErrMedia, err, out)
	}
	video, err := rebase(vr, 90000)
	if err != nil {
		return fmt.Errorf("video: %w", err)
	}
	audio, err := rebase(ar, 48000)
	if err != nil {
		return fmt.Errorf("audio: %w", err)
	}
	hdr := storage.Header{
		Channel: "bench", UID: 1, Start: mediaStart, Source: "loadgen",
		Streams: []storage.StreamInfo{
			{SSRC: mediaVideoSSRC, PayloadType: VideoPayloadType, Kind: storage.KindVideo, Codec: storage.CodecH264, ClockRate: 90000, Fmtp: H264Fmtp},
			{SSRC: mediaAudioSSRC, PayloadType: AudioPayloadType, Kind: storage.KindAudio, Codec: storage.CodecOpus, ClockRate: 48000, Channels: 2},
		},
	}
	return writeInterleaved(dst, hdr, video, audio)
}

// writeInterleaved writes both streams in arrival order.
func writeInterleaved(dst string, hdr storage.Header, streams ...[]Packet) error {
	var all []Packet
	for _, s := range streams {
		all = append(all, s...)
	}
	sort.SliceStable(all, func(i, j int) bool { return all[i].At < all[j].At })
	w, err := storage.Create(dst, hdr)
	if err != nil {
		return err
	}
	for _, p := range all {
		if err := w.Write(storage.RecordRTP, p.At, p.Data); err != nil {
			_ = w.Close()
			return err
		}
	}
	return w.Close()
}

// rebase waits for the collector to go quiet, checks that no packet was
// lost and derives arrival times from the RTP timestamps.
func rebase(c *udpcollect.Collector, clockRate int64) ([]Packet, error) {
	pkts, err := c.Stop()
	if err != nil {
		return nil, err
	}
	if len(pkts) == 0 {
		return nil, fmt.Errorf("%w: no packets", ErrMedia)
	}
	out := make([]Packet, 0, len(pkts))
	base := binary.BigEndian.Uint32(pkts[0][4:])
	for i, p := range pkts {
		if len(p) < 12 {
			return nil, fmt.Errorf("%w: packet %d of %d bytes", ErrMedia, i, len(p))
		}
		if seq := binary.BigEndian.Uint16(p[2:]); seq != uint16(i) {
			return nil, fmt.Errorf("%w: packet %d has seq %d (lost or reordered)", ErrMedia, i, seq)
		}
		ts := binary.BigEndian.Uint32(p[4:]) - base
		out = append(out, Packet{At: time.Duration(int64(ts) * int64(time.Second) / clockRate), Data: p})
	}
	return out, nil
}
