package testmedia

import (
	"bytes"
	"cmp"
	"encoding/binary"
	"math/rand/v2"
	"slices"
	"time"
)

// The helpers below return modified copies and never touch their input.
// Random choices come from a seeded generator so every run damages the
// same packets.

func rng(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, seed^0x9e3779b97f4a7c15)) }

// Drop removes each packet with probability frac.
func Drop(s Stream, seed uint64, frac float64) Stream {
	r := rng(seed)
	out := Stream{Info: s.Info}
	for _, p := range s.Packets {
		if r.Float64() < frac {
			continue
		}
		out.Packets = append(out.Packets, Packet{Data: bytes.Clone(p.Data), At: p.At})
	}
	return out
}

// Delay makes each packet arrive late by up to max with probability
// frac; sorted by arrival they come out of order.
func Delay(s Stream, seed uint64, frac float64, max time.Duration) Stream {
	r := rng(seed)
	out := s.Clone()
	for i := range out.Packets {
		if r.Float64() < frac {
			out.Packets[i].At += time.Duration(1 + r.Int64N(int64(max)))
		}
	}
	return out
}

// Duplicate sends a second copy of each packet with probability frac,
// arriving after the original by delay (a retransmission).
func Duplicate(s Stream, seed uint64, frac float64, delay time.Duration) Stream {
	r := rng(seed)
	out := Stream{Info: s.Info}
	for _, p := range s.Packets {
		out.Packets = append(out.Packets, Packet{Data: bytes.Clone(p.Data), At: p.At})
		if r.Float64() < frac {
			out.Packets = append(out.Packets, Packet{Data: bytes.Clone(p.Data), At: p.At + delay})
		}
	}
	return out
}

// Shift moves every arrival time by d (network delay).
func Shift(s Stream, d time.Duration) Stream {
	out := s.Clone()
	for i := range out.Packets {
		out.Packets[i].At += d
	}
	return out
}

// Rebase rewrites sequence numbers and timestamps so that packet i has
// sequence number seq and the stream's timestamps are offset to make packet
// i's timestamp ts. Choosing seq and ts just below 2^16 and 2^32 makes
// both counters wrap right after packet i.
func Rebase(s Stream, i int, seq uint16, ts uint32) Stream {
	out := s.Clone()
	if len(out.Packets) == 0 {
		return out
	}
	dSeq := seq - seqOf(s.Packets[i].Data)
	dTS := ts - tsOf(s.Packets[i].Data)
	for _, p := range out.Packets {
		binary.BigEndian.PutUint16(p.Data[2:], seqOf(p.Data)+dSeq)
		binary.BigEndian.PutUint32(p.Data[4:], tsOf(p.Data)+dTS)
	}
	return out
}

// SetSSRC rewrites the SSRC of every packet and of the stream info.
func SetSSRC(s Stream, ssrc uint32) Stream {
	out := s.Clone()
	out.Info.SSRC = ssrc
	for _, p := range out.Packets {
		binary.BigEndian.PutUint32(p.Data[8:], ssrc)
	}
	return out
}

// Slice keeps the packets with index in [from, to).
func Slice(s Stream, from, to int) Stream {
	return Stream{Info: s.Info, Packets: Stream{Packets: s.Packets[from:to]}.Clone().Packets}
}

// Concat appends b after a as if one sender had sent both: b's sequence
// numbers and timestamps continue a's, and b's arrival times start one
// frame duration plus gap after a's last packet. Use it to splice a
// resolution change into one stream.
func Concat(a, b Stream, gap time.Duration) Stream {
	if len(a.Packets) == 0 {
		return b.Clone()
	}
	if len(b.Packets) == 0 {
		return a.Clone()
	}
	la := a.Packets[len(a.Packets)-1]
	step := a.FrameDuration()
	nextTS := tsOf(la.Data) + uint32((step+gap).Seconds()*float64(a.Info.ClockRate))
	nb := Rebase(b, 0, seqOf(la.Data)+1, nextTS)
	nb = SetSSRC(nb, a.Info.SSRC)
	first := a.Packets[0]
	at := first.At + time.Duration(int64(nextTS-tsOf(first.Data))*int64(time.Second)/int64(a.Info.ClockRate))
	out := a.Clone()
	d := at - nb.Packets[0].At
	for _, p := range nb.Packets {
		out.Packets = append(out.Packets, Packet{Data: p.Data, At: p.At + d})
	}
	return out
}

// Merge interleaves several streams' packets by arrival time into one
// list; stable, so equal times keep sending order.
func Merge(streams ...Stream) []Packet {
	var all []Packet
	for _, s := range streams {
		all = append(all, s.Packets...)
	}
	slices.SortStableFunc(all, func(a, b Packet) int { return cmp.Compare(a.At, b.At) })
	return all
}

// Decorate gives every packet an RFC 8285 one-byte header extension (an
// abs-send-time element) and 4 bytes of RTP padding, as browsers send
// them, so a parser that ignores either misreads the payload.
func Decorate(s Stream) Stream {
	out := Stream{Info: s.Info, Packets: make([]Packet, 0, len(s.Packets))}
	for _, p := range s.Packets {
		hl := 12 + 4*int(p.Data[0]&0x0f)
		b := make([]byte, 0, len(p.Data)+16)
		b = append(b, p.Data[:hl]...)
		padded := b[0]&0x20 != 0
		b[0] |= 0x30 // padding and extension bits
		b = append(b, 0xbe, 0xde, 0, 2, 0x12, 0xaa, 0xbb, 0xcc, 0, 0, 0, 0)
		b = append(b, p.Data[hl:]...)
		if !padded {
			b = append(b, 0, 0, 0, 4)
		}
		out.Packets = append(out.Packets, Packet{Data: b, At: p.At})
	}
	return out
}

// InsertPadding adds a padding-only packet (as a sender's bandwidth probe)
// after every n-th packet, renumbering sequence numbers so none is missing.
func InsertPadding(s Stream, every int) Stream {
	out := Stream{Info: s.Info}
	var seq uint16
	for i, p := range s.Packets {
		if i == 0 {
			seq = seqOf(p.Data)
		}
		d := bytes.Clone(p.Data)
		binary.BigEndian.PutUint16(d[2:], seq)
		seq++
		out.Packets = append(out.Packets, Packet{Data: d, At: p.At})
		if every > 0 && (i+1)%every == 0 {
			pad := make([]byte, 12+200)
			copy(pad, p.Data[:12])
			pad[0] = 0xa0 // version 2, padding
			pad[1] &^= 0x80
			binary.BigEndian.PutUint16(pad[2:], seq)
			seq++
			pad[len(pad)-1] = 200
			out.Packets = append(out.Packets, Packet{Data: pad, At: p.At + time.Microsecond})
		}
	}
	return out
}

// JitterTimestamps stamps every n-th frame late by d on the sender's
// clock, as browsers do: they stamp frames with capture time, which
// jitters, so a late frame comes closely followed by an on-time one.
func JitterTimestamps(s Stream, n int, d time.Duration) Stream {
	out := Stream{Info: s.Info, Packets: make([]Packet, len(s.Packets))}
	shift := uint32(d.Seconds() * float64(s.Info.ClockRate))
	frame, last := -1, uint32(0)
	for i, p := range s.Packets {
		data := bytes.Clone(p.Data)
		ts := binary.BigEndian.Uint32(data[4:8])
		if frame < 0 || ts != last {
			frame++
			last = ts
		}
		if frame > 0 && frame%n == 0 {
			binary.BigEndian.PutUint32(data[4:8], ts+shift)
		}
		out.Packets[i] = Packet{Data: data, At: p.At}
	}
	return out
}
