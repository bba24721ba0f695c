package h264

import (
	"bytes"
	"encoding/binary"
	"errors"
	"testing"
)

func fuA(nal []byte, size int) [][]byte {
	var out [][]byte
	body := nal[1:]
	for i := 0; i < len(body); i += size {
		end := min(i+size, len(body))
		h := nal[0] & 0x1f
		if i == 0 {
			h |= 0x80
		}
		if end == len(body) {
			h |= 0x40
		}
		p := append([]byte{nal[0]&0xe0 | NALFUA, h}, body[i:end]...)
		out = append(out, p)
	}
	return out
}

func stap(nals ...[]byte) []byte {
	p := []byte{0x18}
	for _, n := range nals {
		p = binary.BigEndian.AppendUint16(p, uint16(len(n)))
		p = append(p, n...)
	}
	return p
}

func TestDepacketizer(t *testing.T) {
	sps := []byte{0x67, 0x42, 0xc0, 0x1e, 0xda, 0x02, 0x80}
	pps := []byte{0x68, 0xce, 0x3c, 0x80}
	idr := append([]byte{0x65, 0x88}, bytes.Repeat([]byte{0xab}, 2999)...)
	frags := fuA(idr, 1000)
	if len(frags) != 3 {
		t.Fatalf("setup: %d fragments", len(frags))
	}
	cases := []struct {
		name     string
		payloads [][]byte
		resetAt  int // reset before this payload index; -1 for none
		want     [][]byte
		errs     []error // per payload
	}{
		{"single NAL", [][]byte{sps}, -1, [][]byte{sps}, []error{nil}},
		{"STAP-A", [][]byte{stap(sps, pps)}, -1, [][]byte{sps, pps}, []error{nil}},
		{"FU-A", frags, -1, [][]byte{idr}, []error{nil, nil, nil}},
		{"FU-A without start", frags[1:], -1, nil, []error{ErrFragment, ErrFragment}},
		{"FU-A reset by a gap", frags, 2, nil, []error{nil, nil, ErrFragment}},
		{"FU-A cut by a new start", [][]byte{frags[0], frags[1], frags[0], frags[1], frags[2]}, -1, [][]byte{idr},
			[]error{nil, nil, ErrFragment, nil, nil}},
		{"FU-A cut by a single NAL", [][]byte{frags[0], pps}, -1, [][]byte{pps}, []error{nil, ErrFragment}},
		{"STAP-A truncated", [][]byte{stap(sps, pps)[:13]}, -1, [][]byte{sps}, []error{ErrTruncated}},
		{"STAP-A zero length", [][]byte{{0x18, 0, 0}}, -1, nil, []error{ErrTruncated}},
		{"forbidden bit", [][]byte{{0xe5, 1, 2}}, -1, nil, []error{ErrForbiddenBit}},
		{"STAP-B", [][]byte{{0x19, 0, 1, 0, 2, 0x65, 0}}, -1, nil, []error{ErrUnsupported}},
		{"empty", [][]byte{{}}, -1, nil, []error{ErrTruncated}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var d Depacketizer
			var got [][]byte
			for i, p := range tc.payloads {
				if i == tc.resetAt {
					d.Reset()
				}
				err := d.Push(p, func(n []byte) { got = append(got, bytes.Clone(n)) })
				if !errors.Is(err, tc.errs[i]) {
					t.Errorf("payload %d: err = %v, want %v", i, err, tc.errs[i])
				}
			}
			if len(got) != len(tc.want) {
				t.Fatalf("got %d NAL units, want %d", len(got), len(tc.want))
			}
			for i := range got {
				if !bytes.Equal(got[i], tc.want[i]) {
					t.Errorf("NAL %d differs: % x... want % x...", i, got[i][:min(8, len(got[i]))], tc.want[i][:min(8, len(tc.want[i]))])
				}
			}
		})
	}
}

func TestFirstMBInSlice(t *testing.T) {
	// ue(v) codes: 0 -> 1, 1 -> 010, 5 -> 00110, 300 -> 00000000100101101.
	cases := []struct {
		nal  []byte
		want uint32
		ok   bool
	}{
		{[]byte{0x65, 0b1000_0000}, 0, true},
		{[]byte{0x41, 0b0100_0000}, 1, true},
		{[]byte{0x41, 0b0011_0000}, 5, true},
		{[]byte{0x41, 0b0000_0000, 0b1001_0110, 0b1000_0000}, 300, true},
		{[]byte{0x41, 0, 0, 0, 0}, 0, false}, // runs out of bits
		{[]byte{0x67, 0x80}, 0, false},       // not a slice
		{[]byte{0x41}, 0, false},
	}
	for _, c := range cases {
		got, ok := FirstMBInSlice(c.nal)
		if got != c.want || ok != c.ok {
			t.Errorf("FirstMBInSlice(% x) = %d, %v; want %d, %v", c.nal, got, ok, c.want, c.ok)
		}
	}
}
