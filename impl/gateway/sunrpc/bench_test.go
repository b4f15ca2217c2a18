package sunrpc

import (
	"context"
	"encoding/binary"
	"io"
	"net"
	"testing"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
)

// constBackend answers every put with OK and every get with one 1 kB
// value, so that a benchmark measures the gateway and not a store.
type constBackend struct{ reply dht.GetReply }

func (constBackend) Put(context.Context, dht.Put) (dht.Status, error)       { return dht.StatusOK, nil }
func (constBackend) Remove(context.Context, dht.Remove) (dht.Status, error) { return dht.StatusOK, nil }
func (b constBackend) Get(context.Context, dht.Get) (dht.GetReply, error)   { return b.reply, nil }

// replayConn is a connection whose peer sends the same record calls times
// and reads nothing back; it counts the reads the server makes (each
// would be a system call on a socket).
type replayConn struct {
	rec   []byte
	calls int
	off   int
	reads int
}

func (c *replayConn) Read(p []byte) (int, error) {
	if c.calls == 0 {
		return 0, io.EOF
	}
	c.reads++
	n := copy(p, c.rec[c.off:])
	c.off += n
	if c.off == len(c.rec) {
		c.off = 0
		c.calls--
	}
	return n, nil
}

func (c *replayConn) Write(p []byte) (int, error) { return len(p), nil }
func (c *replayConn) Close() error                { return nil }
func (c *replayConn) LocalAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 5852}
}
func (c *replayConn) RemoteAddr() net.Addr {
	return &net.TCPAddr{IP: net.IPv4(127, 0, 0, 1), Port: 40000}
}
func (c *replayConn) SetDeadline(time.Time) error      { return nil }
func (c *replayConn) SetReadDeadline(time.Time) error  { return nil }
func (c *replayConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkServeCall is the gateway's work for one call on a connection,
// as under the cluster benchmark (a put or a get of a 1 kB value, version
// 3): read the record, decode, dispatch to a backend that answers at once,
// encode and write the reply. reads/op counts the connection reads.
func BenchmarkServeCall(b *testing.B) {
	value := make([]byte, 1024)
	var k dht.Key
	k[0] = 1
	put := PutArgs{Application: "dhtctl", ClientLibrary: "opendht-go", Key: k, Value: value, TTLSec: 3600}.MarshalXDR()
	get := GetArgs{Application: "dhtctl", ClientLibrary: "opendht-go", Key: k, MaxVals: 128}.MarshalXDR()
	be := constBackend{reply: dht.GetReply{Values: []dht.Value{{Value: value, TTLRemaining: 3000}}}}
	for _, tc := range []struct {
		name string
		proc uint32
		args []byte
	}{{"put1kB", ProcPut, put}, {"get1kB", ProcGet, get}} {
		b.Run(tc.name, func(b *testing.B) {
			msg := encodeCall(callHeader{xid: 1, rpcvers: rpcVersion, prog: Program, vers: Version3, proc: tc.proc}, tc.args)
			rec := binary.BigEndian.AppendUint32(nil, lastFragment|uint32(len(msg)))
			rec = append(rec, msg...)
			s := New(be, DefaultConfig())
			b.ReportAllocs()
			b.ResetTimer()
			c := &replayConn{rec: rec, calls: b.N}
			s.serveConn(context.Background(), c)
			b.StopTimer()
			if c.calls != 0 {
				b.Fatalf("server stopped with %d calls unread", c.calls)
			}
			b.ReportMetric(float64(c.reads)/float64(b.N), "reads/op")
		})
	}
}
