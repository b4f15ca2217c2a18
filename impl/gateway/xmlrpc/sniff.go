package xmlrpc

import (
	"io"
	"net"
)

// SunRPCRefusal is what the gateway answers a connection that opens with
// a Sun RPC record (a Sun RPC client pointed at this port) before it
// closes it. A Sun RPC client reads "HTTP" where it expects a record mark
// and can say at once that the port speaks HTTP, instead of waiting for
// the HTTP server's header timeout.
const SunRPCRefusal = "HTTP/1.0 400 Bad Request\r\nContent-Type: text/plain; charset=utf-8\r\nConnection: close\r\n\r\n" +
	"this port speaks HTTP (XML-RPC, the HTTP/JSON API, the status page), not Sun RPC: the Sun RPC gateway is on the node's port + 2\n"

// sniffListener refuses connections whose first byte is not one an HTTP
// request can start with: a Sun RPC record mark has its top bit set
// (RFC 5531 section 11), no HTTP method does.
type sniffListener struct{ net.Listener }

func (l sniffListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &sniffConn{Conn: c}, nil
}

type sniffConn struct {
	net.Conn
	checked bool
}

func (c *sniffConn) Read(b []byte) (int, error) {
	n, err := c.Conn.Read(b)
	if !c.checked && n > 0 {
		c.checked = true
		if b[0]&0x80 != 0 {
			_, _ = io.WriteString(c.Conn, SunRPCRefusal)
			_ = c.Conn.Close()
			return 0, io.EOF
		}
	}
	return n, err
}
