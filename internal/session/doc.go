// Package session owns channels, their participants and the recording
// lifecycle: who is in a channel, whether it records, which capture file
// each participant's media goes to, and when a recording ends (stop
// request, last participant gone, or no media for the idle timeout).
//
// Ingests (plain RTP, WebRTC) hand packets to a Participant; the packet
// path takes no lock of the Manager, allocates nothing in steady state and
// never touches the disk's metadata: a participant's capture file is opened
// by one of the Manager's open workers while its first packets wait in a
// bounded, pooled queue. The Manager also holds the caps on joins (per
// client address, per channel, in total) and on channels.
package session
