//go:build !linux

package transport

// Elsewhere than Linux the UDP transport reads and sends one datagram per
// system call, through the net package.

type batchIO struct {
	buf []byte
	rds [1]Datagram
}

func (u *UDP) openBatch(int) error {
	// One byte more than the limit, so that an oversize datagram shows up
	// as n > MaxDatagram instead of being silently truncated.
	u.batch.buf = make([]byte, MaxDatagram+1)
	return nil
}

func (u *UDP) readBatch() ([]Datagram, error) {
	n, from, err := u.conn.ReadFromUDPAddrPort(u.batch.buf)
	if err != nil {
		return nil, err
	}
	u.readCalls.Add(1)
	u.batch.rds[0] = Datagram{Addr: from, Payload: u.batch.buf[:n]}
	return u.batch.rds[:], nil
}

func (u *UDP) writeBatch(ds []Datagram) (int, error) {
	for i, d := range ds {
		if _, err := u.conn.WriteToUDPAddrPort(d.Payload, d.Addr); err != nil {
			return i, err
		}
	}
	return len(ds), nil
}
