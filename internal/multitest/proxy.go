package multitest

import (
	"net"
	"sync"
	"testing"
)

// Proxy forwards TCP connections from a loopback port to a server, and can
// cut or stall them, to test how a store behaves when its server goes away
// and comes back.
type Proxy struct {
	ln     net.Listener
	target string

	mu      sync.Mutex
	cut     bool
	stalled bool
	closed  bool
	conns   map[net.Conn]struct{}
	damaged map[net.Conn]bool // dropped bytes while stalled
	wg      sync.WaitGroup
}

// StartProxy listens on 127.0.0.1 and forwards to target, a host:port. It
// is closed when t ends.
func StartProxy(t testing.TB, target string) *Proxy {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatalf("proxy: listen: %v", err)
	}
	p := &Proxy{ln: ln, target: target, conns: map[net.Conn]struct{}{}, damaged: map[net.Conn]bool{}}
	p.wg.Add(1)
	go p.accept()
	t.Cleanup(p.Close)
	return p
}

// Addr returns the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Cut closes every connection and closes new ones as soon as they are
// accepted, as when the server goes down: clients see their connections
// end at once.
func (p *Proxy) Cut() {
	p.mu.Lock()
	p.cut, p.stalled = true, false
	p.closeConnsLocked()
	p.mu.Unlock()
}

// Stall stops forwarding on every connection, old and new, without closing
// any, as when the network loses every packet: clients wait for replies
// that never come until their own timeouts. Bytes sent while stalled are
// dropped, never delivered late, so a request that timed out cannot run
// after Restore.
func (p *Proxy) Stall() {
	p.mu.Lock()
	p.cut, p.stalled = false, true
	p.mu.Unlock()
}

// Restore forwards again. Connections that lost bytes while stalled are
// closed, since their streams are broken; the others resume. Connections
// closed by Cut stay closed.
func (p *Proxy) Restore() {
	p.mu.Lock()
	p.cut, p.stalled = false, false
	for c := range p.damaged {
		_ = c.Close()
	}
	clear(p.damaged)
	p.mu.Unlock()
}

// Close stops the proxy and closes every connection.
func (p *Proxy) Close() {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return
	}
	p.closed = true
	p.closeConnsLocked()
	p.mu.Unlock()
	_ = p.ln.Close()
	p.wg.Wait()
}

func (p *Proxy) closeConnsLocked() {
	for c := range p.conns {
		_ = c.Close()
	}
	clear(p.conns)
	clear(p.damaged)
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		client, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.cut || p.closed {
			p.mu.Unlock()
			_ = client.Close()
			continue
		}
		p.mu.Unlock()

		server, err := net.Dial("tcp", p.target)
		if err != nil {
			_ = client.Close()
			continue
		}
		p.mu.Lock()
		if p.cut || p.closed {
			p.mu.Unlock()
			_ = client.Close()
			_ = server.Close()
			continue
		}
		p.conns[client], p.conns[server] = struct{}{}, struct{}{}
		p.mu.Unlock()

		p.wg.Add(2)
		go p.pipe(server, client)
		go p.pipe(client, server)
	}
}

// pipe copies from src to dst, dropping what arrives while the proxy is
// stalled, and closes both when either side ends.
func (p *Proxy) pipe(dst, src net.Conn) {
	defer p.wg.Done()
	defer p.drop(dst, src)
	buf := make([]byte, 32<<10)
	for {
		n, err := src.Read(buf)
		if n > 0 && p.forward(src, dst) {
			if _, werr := dst.Write(buf[:n]); werr != nil {
				return
			}
		}
		if err != nil {
			return // EOF, a reset or a connection closed by Cut or Close
		}
	}
}

// forward reports whether bytes read from src may go on to dst. While
// stalled they may not, and both connections are marked for closing at
// Restore.
func (p *Proxy) forward(src, dst net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.stalled {
		return true
	}
	p.damaged[src], p.damaged[dst] = true, true
	return false
}

func (p *Proxy) drop(a, b net.Conn) {
	p.mu.Lock()
	delete(p.conns, a)
	delete(p.conns, b)
	delete(p.damaged, a)
	delete(p.damaged, b)
	p.mu.Unlock()
	_ = a.Close()
	_ = b.Close()
}
