package storage

import "errors"

var (
	// ErrNotCapture means the file does not start with the capture magic.
	ErrNotCapture = errors.New("not an ars capture file")
	// ErrBadHeader means the capture header is damaged or malformed.
	ErrBadHeader = errors.New("damaged capture header")
	// ErrTornRecord means a record is incomplete or fails its checksum;
	// everything before it is intact.
	ErrTornRecord = errors.New("torn or damaged record")
	// ErrRecordTooLarge is returned by the writer for payloads that cannot
	// be framed.
	ErrRecordTooLarge = errors.New("record payload too large")
	// ErrClosed is returned when writing to a closed capture.
	ErrClosed = errors.New("capture closed")
	// ErrLocked means another process holds the capture's lock: it is being written.
	ErrLocked = errors.New("capture is locked by a writer")
	// ErrBadChannelName means the channel name breaks Agora's naming rule.
	ErrBadChannelName = errors.New("invalid channel name")
	// ErrCrashBuffer means a capture's crash buffer could not be made;
	// the capture was not created.
	ErrCrashBuffer = errors.New("crash buffer")
	// ErrNotCrashBuffer means a file in the crash-buffer directory is not
	// a (complete) crash buffer.
	ErrNotCrashBuffer = errors.New("not a crash buffer")
	// ErrBufferOutsideRoot means a crash buffer names a capture outside
	// the recording roots; it is not followed.
	ErrBufferOutsideRoot = errors.New("crash buffer names a capture outside the recording roots")
)
