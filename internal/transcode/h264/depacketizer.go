package h264

import "encoding/binary"

// maxNALSize bounds FU-A reassembly so a hostile stream that never sends
// an end fragment cannot grow memory without limit. 4 MiB is far above
// any real frame at WebRTC bitrates.
const maxNALSize = 4 << 20

// Depacketizer reassembles NAL units from RTP payloads given in sequence
// order. The zero value is ready to use.
type Depacketizer struct {
	fu       []byte
	fuActive bool
}

// Reset forgets a partially reassembled NAL unit. Call it on every
// sequence gap: the fragments before and after a gap never belong
// together.
func (d *Depacketizer) Reset() {
	d.fu = d.fu[:0]
	d.fuActive = false
}

// InFragment reports whether an FU-A NAL unit is partially assembled.
func (d *Depacketizer) InFragment() bool { return d.fuActive }

// Push depacketizes one RTP payload and calls emit for every complete NAL
// unit in it. The slice passed to emit is only valid during the call. An
// error means (part of) the payload was unusable; complete NAL units
// before the damage have still been emitted.
func (d *Depacketizer) Push(payload []byte, emit func(nal []byte)) error {
	if len(payload) == 0 {
		return ErrTruncated
	}
	if payload[0]&0x80 != 0 {
		d.Reset()
		return ErrForbiddenBit
	}
	switch typ := int(payload[0] & nalTypeMask); {
	case typ >= 1 && typ <= 23:
		if d.fuActive {
			// A new NAL unit while a fragmented one is open: its end was lost.
			d.Reset()
			emit(payload)
			return ErrFragment
		}
		emit(payload)
		return nil
	case typ == NALSTAPA:
		if d.fuActive {
			d.Reset()
		}
		return stapA(payload[1:], emit)
	case typ == NALFUA:
		return d.fuA(payload, emit)
	default:
		d.Reset()
		return ErrUnsupported
	}
}

func stapA(b []byte, emit func(nal []byte)) error {
	for len(b) > 0 {
		if len(b) < 2 {
			return ErrTruncated
		}
		n := int(binary.BigEndian.Uint16(b))
		b = b[2:]
		if n == 0 || n > len(b) {
			return ErrTruncated
		}
		if b[0]&0x80 != 0 {
			return ErrForbiddenBit
		}
		emit(b[:n])
		b = b[n:]
	}
	return nil
}

func (d *Depacketizer) fuA(payload []byte, emit func(nal []byte)) error {
	if len(payload) < 3 {
		d.Reset()
		return ErrTruncated
	}
	indicator, header := payload[0], payload[1]
	start, end := header&0x80 != 0, header&0x40 != 0
	if start {
		// A start while one is open means the previous one lost its end.
		var err error
		if d.fuActive {
			err = ErrFragment
		}
		d.fu = append(d.fu[:0], indicator&0xe0|header&nalTypeMask)
		d.fu = append(d.fu, payload[2:]...)
		d.fuActive = true
		if end {
			d.fuActive = false
			emit(d.fu)
		}
		return err
	}
	if !d.fuActive {
		return ErrFragment
	}
	if len(d.fu)+len(payload)-2 > maxNALSize {
		d.Reset()
		return ErrTruncated
	}
	d.fu = append(d.fu, payload[2:]...)
	if end {
		d.fuActive = false
		emit(d.fu)
	}
	return nil
}
