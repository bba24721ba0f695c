package udpbatch

import (
	"net"
	"unsafe"

	"golang.org/x/sys/unix"
)

// WriteGSO sends payload on a connected conn as one UDP GSO message of
// segment-byte datagrams (the last may be shorter): one pass through the
// sender's network stack for several datagrams. The receiving kernel
// splits them again unless the receiver asked for GRO.
func WriteGSO(conn *net.UDPConn, payload []byte, segment int) error {
	rc, err := conn.SyscallConn()
	if err != nil {
		return err
	}
	oob := make([]byte, unix.CmsgSpace(2))
	h := (*unix.Cmsghdr)(unsafe.Pointer(&oob[0]))
	h.Level, h.Type = unix.IPPROTO_UDP, unix.UDP_SEGMENT
	h.SetLen(unix.CmsgLen(2))
	*(*uint16)(unsafe.Pointer(&oob[unix.CmsgLen(0)])) = uint16(segment)
	var serr error
	if err := rc.Write(func(fd uintptr) bool {
		_, serr = unix.SendmsgN(int(fd), payload, oob, nil, 0)
		return serr != unix.EAGAIN
	}); err != nil {
		return err
	}
	return serr
}
