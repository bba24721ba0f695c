package transcode

import (
	"bytes"
	"errors"
	"testing"
)

func TestParseRTP(t *testing.T) {
	base := []byte{0x80, 0xe0, 0x12, 0x34, 0, 0, 0x10, 0, 0, 0, 0, 7}
	cases := []struct {
		name    string
		pkt     []byte
		payload []byte
		err     error
	}{
		{"plain", append(bytes.Clone(base), 1, 2, 3), []byte{1, 2, 3}, nil},
		{"csrc", append([]byte{0x82, 0xe0, 0x12, 0x34, 0, 0, 0x10, 0, 0, 0, 0, 7, 0, 0, 0, 1, 0, 0, 0, 2}, 9), []byte{9}, nil},
		{"extension", append([]byte{0x90, 0xe0, 0x12, 0x34, 0, 0, 0x10, 0, 0, 0, 0, 7, 0xbe, 0xde, 0, 1, 0x10, 0xff, 0, 0}, 5, 6), []byte{5, 6}, nil},
		{"padding", append([]byte{0xa0, 0xe0, 0x12, 0x34, 0, 0, 0x10, 0, 0, 0, 0, 7}, 5, 6, 0, 0, 3), []byte{5, 6}, nil},
		{"padding only", append([]byte{0xa0, 0x60, 0x12, 0x34, 0, 0, 0x10, 0, 0, 0, 0, 7}, 0, 0, 0, 4), []byte{}, nil},
		{"padding longer than packet", append([]byte{0xa0, 0x60, 0x12, 0x34, 0, 0, 0x10, 0, 0, 0, 0, 7}, 0, 9), nil, errBadRTP},
		{"zero padding count", append([]byte{0xa0, 0x60, 0x12, 0x34, 0, 0, 0x10, 0, 0, 0, 0, 7}, 1, 0), nil, errBadRTP},
		{"extension past end", []byte{0x90, 0xe0, 0x12, 0x34, 0, 0, 0x10, 0, 0, 0, 0, 7, 0xbe, 0xde, 0, 9}, nil, errBadRTP},
		{"version 1", append([]byte{0x40}, base[1:]...), nil, errBadRTP},
		{"short", base[:11], nil, errBadRTP},
	}
	for _, tc := range cases {
		var p rtpPacket
		err := parseRTP(tc.pkt, &p)
		if !errors.Is(err, tc.err) {
			t.Errorf("%s: err = %v, want %v", tc.name, err, tc.err)
			continue
		}
		if err != nil {
			continue
		}
		if !bytes.Equal(p.payload, tc.payload) || p.seq != 0x1234 || p.ts != 0x1000 || p.ssrc != 7 || p.pt != 0x60 {
			t.Errorf("%s: got %+v", tc.name, p)
		}
	}
}

func TestUnwrap(t *testing.T) {
	var u unwrapper
	var got []int64
	for _, s := range []uint16{65533, 65535, 65534, 1, 0, 2, 32768, 65535} {
		got = append(got, u.unwrap16(s))
	}
	want := []int64{65533, 65535, 65534, 65537, 65536, 65538, 98304, 131071}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("unwrap16 = %v, want %v", got, want)
		}
	}
	var u32 unwrapper
	a := u32.unwrap32(0xffffff00)
	b := u32.unwrap32(0x00000100)
	c := u32.unwrap32(0xfffffff0)
	if b-a != 0x200 || c-a != 0xf0 {
		t.Errorf("unwrap32: %d %d %d", a, b, c)
	}
	if got := nearest32(1<<32+10, 0xfffffff0); got != 1<<32-16 {
		t.Errorf("nearest32 = %d", got)
	}
}
