package sunrpc

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	"github.com/opendht-go/opendht/impl/dht"
)

// Client calls a gateway over one TCP connection, one call at a time. It
// is safe for concurrent use; calls are serialised.
type Client struct {
	// MaxReplySize bounds a reply record, in bytes. Dial sets 4 MiB, enough
	// for a get of a few thousand maximal values.
	MaxReplySize int

	mu   sync.Mutex
	conn net.Conn
	xid  uint32
}

// Dial connects to the gateway at the TCP address addr.
func Dial(addr string) (*Client, error) {
	return DialContext(context.Background(), addr)
}

// DialContext connects to the gateway at addr within ctx.
func DialContext(ctx context.Context, addr string) (*Client, error) {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return NewClient(c), nil
}

// NewClient returns a client on an open connection.
func NewClient(c net.Conn) *Client {
	return &Client{conn: c, MaxReplySize: 4 << 20, xid: uint32(time.Now().UnixNano())}
}

// Close closes the connection.
func (c *Client) Close() error { return c.conn.Close() }

// Null calls the NULL procedure: a ping.
func (c *Client) Null(ctx context.Context) error {
	res, err := c.call(ctx, callHeader{rpcvers: rpcVersion, prog: Program, vers: Version, proc: ProcNull}, nil)
	if err == nil && len(res) != 0 {
		err = fmt.Errorf("%w: %d bytes of results for NULL", ErrBadReply, len(res))
	}
	return err
}

// Put calls PUT.
func (c *Client) Put(ctx context.Context, a PutArgs) (dht.Status, error) {
	return c.statusCall(ctx, ProcPut, a.MarshalXDR())
}

// Remove calls RM.
func (c *Client) Remove(ctx context.Context, a RmArgs) (dht.Status, error) {
	return c.statusCall(ctx, ProcRm, a.MarshalXDR())
}

// Get calls GET.
func (c *Client) Get(ctx context.Context, a GetArgs) (GetResult, error) {
	res, err := c.call(ctx, callHeader{rpcvers: rpcVersion, prog: Program, vers: Version, proc: ProcGet}, a.MarshalXDR())
	if err != nil {
		return GetResult{}, err
	}
	var r GetResult
	if err := r.UnmarshalXDR(res); err != nil {
		return GetResult{}, fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	return r, nil
}

func (c *Client) statusCall(ctx context.Context, proc uint32, args []byte) (dht.Status, error) {
	res, err := c.call(ctx, callHeader{rpcvers: rpcVersion, prog: Program, vers: Version, proc: proc}, args)
	if err != nil {
		return 0, err
	}
	st, err := decodeStatus(res)
	if err != nil {
		return 0, fmt.Errorf("%w: %w", ErrBadReply, err)
	}
	return st, nil
}

// call sends one call and returns the results of a SUCCESS reply. The
// header's xid is set here. After a transport error the connection is in
// an unknown state; the caller should Close the client.
func (c *Client) call(ctx context.Context, h callHeader, args []byte) ([]byte, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.xid++
	h.xid = c.xid
	return c.roundTrip(ctx, h.xid, encodeCall(h, args))
}

// roundTrip writes msg as one record and reads the reply to xid.
func (c *Client) roundTrip(ctx context.Context, xid uint32, msg []byte) ([]byte, error) {
	dl, ok := ctx.Deadline()
	if !ok {
		dl = time.Time{}
	}
	c.conn.SetDeadline(dl)
	stop := context.AfterFunc(ctx, func() { c.conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if err := writeRecord(c.conn, msg); err != nil {
		return nil, err
	}
	rep, err := readRecord(c.conn, c.MaxReplySize, nil)
	if err != nil {
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	return decodeReply(xid, rep)
}
