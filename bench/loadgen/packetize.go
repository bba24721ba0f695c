package loadgen

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"net"
	"os/exec"
	"sort"
	"syscall"
	"time"

	"github.com/ars-project/ars/internal/storage"
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
	vr, err := listenLoopback()
	if err != nil {
		return err
	}
	defer vr.conn.Close()
	ar, err := listenLoopback()
	if err != nil {
		return err
	}
	defer ar.conn.Close()
	url := func(r *rtpReceiver) string {
		return fmt.Sprintf("udp://127.0.0.1:%d?pkt_size=%d", r.port(), o.PacketSize)
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
	video, err := vr.finish(90000)
	if err != nil {
		return fmt.Errorf("video: %w", err)
	}
	audio, err := ar.finish(48000)
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

type rtpReceiver struct {
	conn *net.UDPConn
	pkts [][]byte
	err  error
	done chan struct{}
}

func listenLoopback() (*rtpReceiver, error) {
	conn, err := net.ListenUDP("udp4", &net.UDPAddr{IP: net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	// ffmpeg sends without pacing: the buffer has to hold a burst.
	if rc, err := conn.SyscallConn(); err == nil {
		_ = rc.Control(func(fd uintptr) {
			if syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUFFORCE, 64<<20) != nil {
				_ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<20)
			}
		})
	}
	r := &rtpReceiver{conn: conn, done: make(chan struct{})}
	go r.run()
	return r, nil
}

func (r *rtpReceiver) port() int { return r.conn.LocalAddr().(*net.UDPAddr).Port }

func (r *rtpReceiver) run() {
	defer close(r.done)
	buf := make([]byte, 65536)
	for {
		n, err := r.conn.Read(buf)
		if err != nil {
			var ne net.Error
			if !(errors.As(err, &ne) && ne.Timeout()) && !errors.Is(err, net.ErrClosed) {
				r.err = err
			}
			return
		}
		r.pkts = append(r.pkts, bytes.Clone(buf[:n]))
	}
}

// finish waits for the socket to go quiet, checks that no packet was lost
// and derives arrival times from the RTP timestamps.
func (r *rtpReceiver) finish(clockRate int64) ([]Packet, error) {
	_ = r.conn.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
	<-r.done
	if r.err != nil {
		return nil, r.err
	}
	if len(r.pkts) == 0 {
		return nil, fmt.Errorf("%w: no packets", ErrMedia)
	}
	out := make([]Packet, 0, len(r.pkts))
	base := binary.BigEndian.Uint32(r.pkts[0][4:])
	for i, p := range r.pkts {
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
