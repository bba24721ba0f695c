// Package session owns channels, their participants and the recording
// lifecycle: who is in a channel, whether it records, which capture file
// each participant's media goes to, and when a recording ends (stop
// request, last participant gone, or no media for the idle timeout).
//
// Ingests (plain RTP, WebRTC) hand packets to a Participant; the packet
// path takes no lock of the Manager and allocates nothing.
package session
