//go:build !linux

package handlers

import "net"

// hangups is Linux-only; elsewhere a stream learns of its client hanging up
// from a failed write (a heartbeat at the latest).
type hangups struct{}

func newHangups() *hangups { return &hangups{} }

func (*hangups) watch(net.Conn) (<-chan struct{}, func()) { return nil, func() {} }
