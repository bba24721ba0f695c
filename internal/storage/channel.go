package storage

import "fmt"

// MaxChannelNameLen is Agora's limit on a channel name, in bytes.
const MaxChannelNameLen = 64

// channelChars marks the bytes Agora allows in a channel name: a-z A-Z 0-9
// space and ! # $ % & ( ) + - : ; < = . > ? @ [ ] ^ _ { | } ~ ,
var channelChars = func() (t [256]bool) {
	for c := 'a'; c <= 'z'; c++ {
		t[c] = true
	}
	for c := 'A'; c <= 'Z'; c++ {
		t[c] = true
	}
	for c := '0'; c <= '9'; c++ {
		t[c] = true
	}
	for _, c := range " !#$%&()+-:;<=.>?@[]^_{|}~," {
		t[c] = true
	}
	return t
}()

// ValidateChannelName enforces Agora's channel naming rule and refuses the
// names that would escape or alias the recording root.
func ValidateChannelName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("%w: empty", ErrBadChannelName)
	case len(name) > MaxChannelNameLen:
		return fmt.Errorf("%w: longer than %d bytes", ErrBadChannelName, MaxChannelNameLen)
	case name == "." || name == "..":
		return fmt.Errorf("%w: %q is reserved", ErrBadChannelName, name)
	}
	for i := 0; i < len(name); i++ {
		if !channelChars[name[i]] {
			return fmt.Errorf("%w: byte 0x%02x at %d is not allowed", ErrBadChannelName, name[i], i)
		}
	}
	return nil
}
