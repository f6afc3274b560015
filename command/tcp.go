package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"reflect"
	"strconv"
	"strings"
	"syscall"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// Status codes of the host network checks beyond the library's own, with the values Linux
// gives the matching errno (so they read the same on every platform).
const (
	codePermissionDenied    = 13  // EACCES: a privileged port for a non-root user
	codeAddressNotAvailable = 99  // EADDRNOTAVAIL: the ip is not one of the host's
	codeNetworkUnreachable  = 101 // ENETUNREACH
	codeHostUnreachable     = 113 // EHOSTUNREACH
)

// tcpDialCommand opens a TCP connection from the installer's host: command id "tcp_dial".
type tcpDialCommand struct{}

// tcpDialData is the data of tcp_dial.
type tcpDialData struct {
	// Addr is host:port, the host a name or an IP address, the port a number or a service
	// name (http).
	Addr string `json:"addr"`
	classicPlacement
}

// DataType returns the type of tcp_dial's data.
func (tcpDialCommand) DataType() reflect.Type { return reflect.TypeOf(tcpDialData{}) }

// tcpDialPrepared is a validated tcp_dial.
type tcpDialPrepared struct{ addr string }

// Prepare validates data.addr.
func (tcpDialCommand) Prepare(data json.RawMessage, _ SpecContext) (Prepared, error) {
	var d tcpDialData
	if errs := decodeStrict(dataRoot, data, &d); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	if errs := d.check(); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	if d.Addr == "" {
		return nil, invalid(dataRoot.Child("addr"), `required: give host:port, such as "db.internal:5432"`)
	}
	host, port, err := net.SplitHostPort(d.Addr)
	if err != nil {
		var ae *net.AddrError
		if errors.As(err, &ae) {
			err = errors.New(ae.Err)
		}
		return nil, invalid(dataRoot.Child("addr"), "%q is not host:port (%v)", d.Addr, err)
	}
	if host == "" {
		return nil, invalid(dataRoot.Child("addr"), "%q has no host: give one, such as \"127.0.0.1%s\"", d.Addr, d.Addr)
	}
	if err := checkPort(port, true); err != nil {
		return nil, invalid(dataRoot.Child("addr"), "%q: %v", d.Addr, err)
	}
	return &tcpDialPrepared{addr: d.Addr}, nil
}

// Run dials the address once. A connection is status 0 with the peer's address on stdout.
// A refusal is CodeConnectionRefused (111), an unreachable host or network 113 or 101, a
// name that does not resolve and other failures CodeGeneralError: these are answers to
// "can this host reach that address", results with the error text on stderr. A timeout
// (the command's, or the kernel's) is CodeTimeout with Err set, as is any stop of ctx.
func (p *tcpDialPrepared) Run(ctx context.Context, env *Env) (*Result, error) {
	start := time.Now()
	var out Output
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", p.addr)
	switch {
	case err == nil:
		out.Stdout = conn.RemoteAddr().String()
		if cerr := conn.Close(); cerr != nil {
			loggerOf(env).Debug("tcp_dial: close", "addr", p.addr, "err", cerr)
		}
	case ctx.Err() != nil:
		setInterrupted(ctx, env, &out)
	case isTimeout(err):
		out.StatusCode, out.Err = CodeTimeout, err
	default:
		out.StatusCode, out.Stderr = dialFailureCode(err), err.Error()
	}
	return singleOutput(out, start), nil
}

// dialFailureCode maps a dial error to a status code.
func dialFailureCode(err error) int {
	errno, _ := errnoOf(err)
	switch errno {
	case syscall.ECONNREFUSED:
		return CodeConnectionRefused
	case syscall.EHOSTUNREACH:
		return codeHostUnreachable
	case syscall.ENETUNREACH:
		return codeNetworkUnreachable
	}
	return CodeGeneralError
}

// isTimeout reports whether err is a network timeout.
func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout() || errors.Is(err, syscall.ETIMEDOUT)
}

// checkPort validates a port given as text: a number in 1-65535, or, when named is set, a
// service name resolved when the command runs.
func checkPort(port string, named bool) error {
	n, err := strconv.Atoi(port)
	if err != nil || strings.HasPrefix(port, "+") {
		if named && port != "" && !strings.ContainsAny(port, " \t") {
			return nil
		}
		return fmt.Errorf("%q is not a port number", port)
	}
	if n < 1 || n > 65535 {
		return fmt.Errorf("%d is out of range 1-65535", n)
	}
	return nil
}

// portAvailableCommand checks that a port is free on the installer's host: command id
// "port_available".
type portAvailableCommand struct{}

// portAvailableData is the data of port_available.
type portAvailableData struct {
	// Port is the port, as an integer or a string holding one.
	Port json.RawMessage `json:"port" expr:"int|string"`
	// Proto is tcp (the default) or udp.
	Proto string `json:"proto,omitempty"`
	// IP is the address to bind, 0.0.0.0 (every address) by default.
	IP string `json:"ip,omitempty"`
	classicPlacement
}

// DataType returns the type of port_available's data.
func (portAvailableCommand) DataType() reflect.Type { return reflect.TypeOf(portAvailableData{}) }

// portAvailablePrepared is a validated port_available.
type portAvailablePrepared struct {
	network string // tcp or udp
	addr    string // ip:port
}

// Prepare validates data.port, data.proto and data.ip.
func (portAvailableCommand) Prepare(data json.RawMessage, _ SpecContext) (Prepared, error) {
	var d portAvailableData
	if errs := decodeStrict(dataRoot, data, &d); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	errs := d.check()
	port, err := parsePort(d.Port)
	if err != nil {
		errs = append(errs, err)
	}
	proto := d.Proto
	switch proto {
	case "":
		proto = "tcp"
	case "tcp", "udp":
	default:
		errs = append(errs, invalid(dataRoot.Child("proto"), "%q is not supported: use tcp or udp", d.Proto))
	}
	ip := d.IP
	if ip == "" {
		ip = "0.0.0.0"
	} else if _, err := netip.ParseAddr(ip); err != nil {
		errs = append(errs, invalid(dataRoot.Child("ip"), "%q is not an IP address (such as 0.0.0.0, 127.0.0.1 or ::)", d.IP))
	}
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return &portAvailablePrepared{network: proto, addr: net.JoinHostPort(ip, strconv.Itoa(port))}, nil
}

// parsePort reads data.port: an integer, or a string holding one, in 1-65535.
func parsePort(raw json.RawMessage) (int, *field.Error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return 0, invalid(dataRoot.Child("port"), "required: give the port number, such as 8080")
	}
	var text string
	switch raw[0] {
	case '"':
		if err := json.Unmarshal(raw, &text); err != nil {
			return 0, invalid(dataRoot.Child("port"), "%v", err)
		}
	case '-', '0', '1', '2', '3', '4', '5', '6', '7', '8', '9':
		text = string(raw)
	default:
		return 0, invalid(dataRoot.Child("port"), "must be an integer or a string holding one, not %s", jsonKind(raw[0]))
	}
	if err := checkPort(text, false); err != nil {
		return 0, invalid(dataRoot.Child("port"), "%v", err)
	}
	n, _ := strconv.Atoi(text)
	return n, nil
}

// Run binds the address and lets it go at once. A free port is status 0. A port in use is
// CodeAddressInUse (98), a port the user may not bind (a privileged port for a non-root
// user) 13, an ip that is not the host's 99, other failures CodeGeneralError: results, with
// the error on stderr. A stop of ctx is CodeTimeout or canceled, with Err set.
//
// tcp binds as a server would, with SO_REUSEADDR, so a port that only has connections in
// TIME_WAIT counts as free. The default ip 0.0.0.0 binds every IPv4 and, where the host
// has IPv6, every IPv6 address, so a port taken on any one address counts as taken.
func (p *portAvailablePrepared) Run(ctx context.Context, env *Env) (*Result, error) {
	start := time.Now()
	var out Output
	if ctx.Err() != nil {
		setInterrupted(ctx, env, &out)
		return singleOutput(out, start), nil
	}
	var lc net.ListenConfig
	var err error
	if p.network == "udp" {
		var pc net.PacketConn
		if pc, err = lc.ListenPacket(ctx, "udp", p.addr); err == nil {
			err = pc.Close()
		}
	} else {
		var l net.Listener
		if l, err = lc.Listen(ctx, "tcp", p.addr); err == nil {
			err = l.Close()
		}
	}
	if err != nil {
		out.Stderr = err.Error()
		errno, _ := errnoOf(err)
		switch errno {
		case syscall.EADDRINUSE:
			out.StatusCode = CodeAddressInUse
		case syscall.EACCES:
			out.StatusCode = codePermissionDenied
		case syscall.EADDRNOTAVAIL:
			out.StatusCode = codeAddressNotAvailable
		default:
			out.StatusCode = CodeGeneralError
		}
	}
	return singleOutput(out, start), nil
}
