// Package h264 turns RTP payloads of an H.264 stream (RFC 6184,
// packetization modes 0 and 1) back into NAL units, and reads the few
// fields of NAL units the converter needs.
//
// It never emits a NAL unit whose fragments did not all arrive: pion/rtp's
// H264Packet appends FU-A fragments without checking the start bit, which
// hands decoders broken slices after loss. The caller tells the
// Depacketizer about sequence gaps with Reset.
package h264
