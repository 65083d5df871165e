//go:build !linux

package stream

import "net"

// canWatch is false: the hang-up watcher is Linux-only, so elsewhere every
// stream goes through net/http's response, which notices hang-ups itself.
const canWatch = false

type hangups struct{}

func newHangups() *hangups { return &hangups{} }

func (*hangups) watch(net.Conn) (<-chan struct{}, func()) { return nil, func() {} }
