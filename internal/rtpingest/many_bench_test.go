package rtpingest

import (
	"encoding/binary"
	"fmt"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/ars-project/ars/internal/storage"
	"github.com/ars-project/ars/internal/udpbatch"
)

// BenchmarkHandleManyChannels is the demux-and-write path at the
// benchmark's capacity shape: 1,000 two-person channels recording, each
// participant a video stream (1,200-byte packets) and an audio stream
// (100-byte packets) in the capacity load's 57:50 proportion, packets
// arriving in a random participant order. Unlike BenchmarkHandle, the
// participants' state and capture buffers do not fit in the CPU caches, so
// it shows what a packet costs on a loaded server; the manager's periodic
// flushes into the page cache are included.
func BenchmarkHandleManyChannels(b *testing.B) {
	const channels, users = 1000, 2
	mgr, e, m := newEngine(b)
	type sender struct {
		video, audio []byte
		src          udpbatch.Addr
		seqV, seqA   uint16
	}
	var senders []*sender
	for c := range channels {
		name := fmt.Sprintf("ch%d", c)
		for u := range users {
			uid := uint32(u + 1)
			v, a := uint32(c*4+u*2+1), uint32(c*4+u*2+2)
			streams := []storage.StreamInfo{
				{SSRC: v, PayloadType: 96, Kind: storage.KindVideo, Codec: storage.CodecH264, ClockRate: 90000},
				{SSRC: a, PayloadType: 111, Kind: storage.KindAudio, Codec: storage.CodecOpus, ClockRate: 48000, Channels: 2},
			}
			join(b, mgr, e, name, uid, streams)
			s := &sender{video: rtp(v, 0, 1188), audio: rtp(a, 0, 88),
				src: udpbatch.Addr{Family: 2, Port: uint16(5000 + len(senders))}}
			s.audio[1] = 111
			senders = append(senders, s)
		}
		if _, _, err := mgr.StartRecording(name, 1, ""); err != nil {
			b.Fatal(err)
		}
	}
	pt := e.ports[0]
	rng := rand.New(rand.NewPCG(1, 2))
	order := make([]int32, 1<<16)
	for i := range order {
		order[i] = int32(rng.IntN(len(senders)))
	}
	// Every sender's first packets open its capture: off the clock.
	var st batchStats
	now := time.Now()
	for _, s := range senders {
		e.handle(pt, s.video, false, s.src, now, &st)
		e.handle(pt, s.audio, false, s.src, now, &st)
	}
	st.publish(m)
	// The open workers open the files off the packet path: wait for them.
	for deadline := time.Now().Add(30 * time.Second); testutil.ToFloat64(m.OpenFiles) < float64(len(senders)); {
		if time.Now().After(deadline) {
			b.Fatalf("%v of %d captures open", testutil.ToFloat64(m.OpenFiles), len(senders))
		}
		time.Sleep(time.Millisecond)
	}
	b.SetBytes((57*1200 + 50*100) / 107)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		s := senders[order[i&(len(order)-1)]]
		pkt := s.audio
		if rng.IntN(107) < 57 {
			s.seqV++
			pkt = s.video
			binary.BigEndian.PutUint16(pkt[2:], s.seqV)
		} else {
			s.seqA++
			binary.BigEndian.PutUint16(pkt[2:], s.seqA)
		}
		if i&63 == 0 {
			now = time.Now()
			st.publish(m)
			st = batchStats{}
		}
		e.handle(pt, pkt, false, s.src, now, &st)
	}
	b.StopTimer()
	if st.failed+st.notRec+st.wrongSource+st.unknown != 0 {
		b.Fatalf("dropped packets: %+v", st)
	}
}
