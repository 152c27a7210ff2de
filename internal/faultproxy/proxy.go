// Package faultproxy is a TCP proxy for tests that puts the faults of a
// network and of a database server between pgherd and PostgreSQL: refused
// connections, resets, and silence — a blackhole that holds every byte
// without closing anything, as a partitioned network does — either at once
// or from the first PostgreSQL protocol message a test chooses (the startup
// packet, BEGIN, a statement, DISCARD ALL), so each phase of a call can be
// cut on purpose.
//
// Silence holds data rather than dropping it: TCP retransmits, so when a
// real partition heals the bytes arrive late and nothing is lost. When a
// [Proxy] heals, held bytes are delivered in order and each side learns
// what the other did meanwhile (a close, typically).
//
// Only plain-text PostgreSQL is parsed: [Proxy.URI] sets sslmode=disable.
package faultproxy

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/url"
	"strconv"
	"sync"
)

// Message is one frontend (client to server) protocol message. The startup
// packet, an SSL request and a cancel request have Type 0 and their code in
// Code; every later message has its type byte ('Q', 'P', 'B', 'E', 'S'…).
type Message struct {
	Type byte
	Code uint32 // startup-phase packets only: 196608 startup, 80877102 cancel, 80877103 SSL
	Body []byte // without the type byte and length
}

// Startup-phase packet codes.
const (
	CodeStartup = 196608   // protocol 3.0
	CodeCancel  = 80877102 // CancelRequest
	CodeSSL     = 80877103 // SSLRequest
	CodeGSS     = 80877104 // GSSENCRequest
)

// Proxy forwards connections from its listener to a target address. Its
// methods are safe for concurrent use.
type Proxy struct {
	ln     net.Listener
	target string

	mu sync.Mutex
	// mu guards the fields below.
	links     map[*link]struct{}
	refuse    bool
	silent    bool                // every link holds its bytes
	trigger   func(Message) bool  // a link that sends a matching message turns silent
	dropCount map[uint32]struct{} // startup codes whose connections are swallowed
	heal      chan struct{}       // closed (and replaced) when silence ends
	accepted  int
	closed    bool

	wg sync.WaitGroup
}

// Start listens on 127.0.0.1 and forwards every connection to target
// (host:port). Close it when done.
func Start(target string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("faultproxy: listening: %w", err)
	}
	p := &Proxy{ln: ln, target: target, links: make(map[*link]struct{}), heal: make(chan struct{}), dropCount: map[uint32]struct{}{}}
	p.wg.Add(1)
	go p.accept()
	return p, nil
}

// Addr is the proxy's host:port.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// URI rewrites a postgres:// URI to go through the proxy, with
// sslmode=disable so the proxy can read the protocol.
func (p *Proxy) URI(uri string) (string, error) {
	u, err := url.Parse(uri)
	if err != nil {
		return "", fmt.Errorf("faultproxy: parsing %q: %w", "uri", err)
	}
	u.Host = p.Addr()
	q := u.Query()
	q.Set("sslmode", "disable")
	u.RawQuery = q.Encode()
	return u.String(), nil
}

// Accepted is the number of client connections accepted so far.
func (p *Proxy) Accepted() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.accepted
}

// Links is the number of connections currently open through the proxy.
func (p *Proxy) Links() int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return len(p.links)
}

// Refuse makes new connections fail at once (closed with a reset); open
// ones carry on. Heal ends it.
func (p *Proxy) Refuse() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse = true
}

// Blackhole silences every link, open and new: bytes are held in both
// directions and nothing is closed. Heal ends it.
func (p *Proxy) Blackhole() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.silent = true
}

// BlackholeOn silences each link from the first client message for which
// match returns true (that message included), until Heal. Links that never
// send one are not affected.
func (p *Proxy) BlackholeOn(match func(Message) bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.trigger = match
}

// Swallow makes connections whose first packet has the startup code (for
// example [CodeCancel]) vanish: accepted and read, never forwarded nor
// answered until the client gives up. Heal ends it.
func (p *Proxy) Swallow(code uint32) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.dropCount[code] = struct{}{}
}

// Heal ends every fault: refusals stop, silenced links deliver what they
// held and carry on, triggers are removed.
func (p *Proxy) Heal() {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.refuse, p.silent, p.trigger = false, false, nil
	p.dropCount = map[uint32]struct{}{}
	for l := range p.links {
		l.silent = false
	}
	close(p.heal)
	p.heal = make(chan struct{})
}

// ResetAll closes every open link with a TCP reset on both sides, as a
// server crash or a firewall's RST would.
func (p *Proxy) ResetAll() {
	p.mu.Lock()
	links := make([]*link, 0, len(p.links))
	for l := range p.links {
		links = append(links, l)
	}
	p.mu.Unlock()
	for _, l := range links {
		l.reset()
	}
}

// Close stops listening, resets every link and waits for the proxy's
// goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	p.closed = true
	p.mu.Unlock()
	err := p.ln.Close()
	p.ResetAll()
	p.mu.Lock()
	close(p.heal) // wake held pumps; they see the reset and end
	p.heal = make(chan struct{})
	p.mu.Unlock()
	p.wg.Wait()
	return err
}

func (p *Proxy) accept() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.mu.Lock()
		if p.closed {
			p.mu.Unlock()
			resetConn(c)
			return
		}
		p.accepted++
		if p.refuse {
			p.mu.Unlock()
			resetConn(c)
			continue
		}
		l := &link{p: p, client: c, silent: p.silent}
		p.links[l] = struct{}{}
		p.wg.Add(1)
		p.mu.Unlock()
		go l.run()
	}
}

// link is one proxied connection.
type link struct {
	p      *Proxy
	client net.Conn

	// p.mu guards the fields below.
	server net.Conn
	silent bool
	done   bool
}

func (l *link) run() {
	defer l.p.wg.Done()
	defer l.close()
	// The first packet decides what the connection is (startup, cancel,
	// SSL); dial only once it is allowed through, so a connection made
	// during a blackhole never reaches the server before it heals.
	first, err := readStartup(l.client)
	if err != nil {
		return
	}
	code := binary.BigEndian.Uint32(first[4:8])
	l.p.mu.Lock()
	_, swallow := l.p.dropCount[code]
	l.p.mu.Unlock()
	if swallow {
		io.Copy(io.Discard, l.client) // until the client gives up
		return
	}
	if !l.hold(Message{Code: code, Body: first[8:]}) {
		return
	}
	server, err := net.Dial("tcp", l.p.target)
	if err != nil {
		return
	}
	l.p.mu.Lock()
	if l.done {
		l.p.mu.Unlock()
		server.Close()
		return
	}
	l.server = server
	l.p.mu.Unlock()
	if _, err := server.Write(first); err != nil {
		return
	}
	plain := code == CodeStartup || code == CodeCancel
	var wg sync.WaitGroup
	wg.Go(func() { l.pump(server, l.client, false) })
	l.pump(l.client, server, plain)
	wg.Wait()
}

// pump copies src to dst. Client-to-server traffic after a plain startup is
// split into messages so a trigger can silence the link before the message
// that matched.
func (l *link) pump(src, dst net.Conn, parse bool) {
	defer func() {
		// The other direction ends too: a half-open link is not a fault
		// these tests model.
		l.close()
	}()
	buf := make([]byte, 32<<10)
	var pending []byte // client bytes not yet forming a whole message
	for {
		n, err := src.Read(buf)
		if n > 0 {
			if !parse {
				if !l.hold(Message{}) {
					return
				}
				if _, werr := dst.Write(buf[:n]); werr != nil {
					return
				}
			} else {
				pending = append(pending, buf[:n]...)
				for len(pending) >= 5 {
					size := int(binary.BigEndian.Uint32(pending[1:5]))
					if size < 4 || len(pending) < 1+size {
						break
					}
					msg := pending[:1+size]
					if !l.hold(Message{Type: msg[0], Body: msg[5:]}) {
						return
					}
					if _, werr := dst.Write(msg); werr != nil {
						return
					}
					pending = pending[1+size:]
				}
				if len(pending) >= 5 && int(binary.BigEndian.Uint32(pending[1:5])) < 4 {
					return // not PostgreSQL: give up on the link
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// hold blocks while the link is silent (checking msg against the trigger
// first) and reports whether the link is still open.
func (l *link) hold(msg Message) bool {
	for {
		l.p.mu.Lock()
		if l.done {
			l.p.mu.Unlock()
			return false
		}
		if !l.silent && l.p.trigger != nil && l.p.trigger(msg) {
			l.silent = true
		}
		silent := l.silent || l.p.silent
		heal := l.p.heal
		l.p.mu.Unlock()
		if !silent {
			return true
		}
		<-heal
	}
}

// close closes both sides (gracefully) and forgets the link.
func (l *link) close() {
	l.p.mu.Lock()
	if l.done {
		l.p.mu.Unlock()
		return
	}
	l.done = true
	delete(l.p.links, l)
	server := l.server
	l.p.mu.Unlock()
	l.client.Close()
	if server != nil {
		server.Close()
	}
}

// reset closes both sides with a TCP reset.
func (l *link) reset() {
	l.p.mu.Lock()
	server := l.server
	l.p.mu.Unlock()
	resetConn(l.client)
	if server != nil {
		resetConn(server)
	}
	l.close()
	// Wake a pump held by silence so it sees the closed link.
	l.p.mu.Lock()
	close(l.p.heal)
	l.p.heal = make(chan struct{})
	l.p.mu.Unlock()
}

func resetConn(c net.Conn) {
	if tc, ok := c.(*net.TCPConn); ok {
		tc.SetLinger(0)
	}
	c.Close()
}

// readStartup reads the first packet (length-prefixed, no type byte).
func readStartup(r io.Reader) ([]byte, error) {
	var head [4]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	size := int(binary.BigEndian.Uint32(head[:]))
	if size < 8 || size > 10000 {
		return nil, errors.New("faultproxy: not a PostgreSQL startup packet (length " + strconv.Itoa(size) + ")")
	}
	pkt := make([]byte, size)
	copy(pkt, head[:])
	if _, err := io.ReadFull(r, pkt[4:]); err != nil {
		return nil, err
	}
	return pkt, nil
}
