package command

import (
	"context"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestTCPDialPrepareErrors(t *testing.T) {
	tests := []prepareErrorCase{
		{"missing", `{}`, `data.addr: required: give host:port, such as "db.internal:5432"`},
		{"no data", ``, `data.addr: required: give host:port, such as "db.internal:5432"`},
		{"no port", `{"addr": "foo"}`, `data.addr: "foo" is not host:port (missing port in address)`},
		{"too many colons", `{"addr": "::1:80"}`, `data.addr: "::1:80" is not host:port (too many colons in address)`},
		{"no host", `{"addr": ":80"}`, `data.addr: ":80" has no host: give one, such as "127.0.0.1:80"`},
		{"port out of range", `{"addr": "db:70000"}`, `data.addr: "db:70000": 70000 is out of range 1-65535`},
		{"port zero", `{"addr": "db:0"}`, `data.addr: "db:0": 0 is out of range 1-65535`},
		{"empty port", `{"addr": "db:"}`, `data.addr: "db:": "" is not a port number`},
		{"not a string", `{"addr": 80}`, `data.addr: must be a string, not number`},
		{"unknown field", `{"addr": "db:1", "timeout": 3}`, `data.timeout: unknown field (known fields: addr, cluster, conflicts, tags; names are case-sensitive)`},
	}
	checkPrepareErrors(t, "tcp_dial", tests)
	for _, ok := range []string{`{"addr": "127.0.0.1:80"}`, `{"addr": "[::1]:443"}`, `{"addr": "example.com:https"}`} {
		_, err := prepareHost(t, "tcp_dial", ok)
		assert.NoError(t, err, ok)
	}
}

func TestTCPDial(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	open := l.Addr().String()
	closed := closedTCPPort(t)

	t.Run("listening", func(t *testing.T) {
		got := runOnce(t, mustPrepare(t, "tcp_dial", `{"addr": "`+open+`"}`), 10*time.Second, nil)
		require.NoError(t, got.Err)
		assert.Equal(t, 0, got.StatusCode)
		assert.Equal(t, open, got.Stdout)
	})
	t.Run("refused", func(t *testing.T) {
		got := runOnce(t, mustPrepare(t, "tcp_dial", `{"addr": "`+closed+`"}`), 10*time.Second, nil)
		require.NoError(t, got.Err)
		assert.Equal(t, CodeConnectionRefused, got.StatusCode)
		assert.Contains(t, got.Stderr, "connection refused")
	})
	t.Run("name does not resolve", func(t *testing.T) {
		got := runOnce(t, mustPrepare(t, "tcp_dial", `{"addr": "preflight-no-such-host.invalid:80"}`), 10*time.Second, nil)
		require.NoError(t, got.Err)
		assert.Equal(t, CodeGeneralError, got.StatusCode)
		assert.Contains(t, got.Stderr, "preflight-no-such-host.invalid")
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		res, err := mustPrepare(t, "tcp_dial", `{"addr": "`+open+`"}`).Run(ctx, &Env{})
		require.NoError(t, err)
		assert.ErrorIs(t, res.Outputs[0].Err, context.Canceled)
		assert.Equal(t, codeInterrupted, res.Outputs[0].StatusCode)
	})
	t.Run("deadline passed", func(t *testing.T) {
		ctx, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
		defer cancel()
		res, err := mustPrepare(t, "tcp_dial", `{"addr": "`+open+`"}`).Run(ctx, &Env{Timeout: 3 * time.Second})
		require.NoError(t, err)
		assert.Equal(t, CodeTimeout, res.Outputs[0].StatusCode)
		require.Error(t, res.Outputs[0].Err)
		assert.Equal(t, "timed out after 3s", res.Outputs[0].Err.Error())
	})
}

// closedTCPPort returns a loopback address on which nothing listens.
func closedTCPPort(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	addr := l.Addr().String()
	require.NoError(t, l.Close())
	return addr
}

func TestPortAvailablePrepareErrors(t *testing.T) {
	tests := []prepareErrorCase{
		{"missing port", `{}`, `data.port: required: give the port number, such as 8080`},
		{"null port", `{"port": null}`, `data.port: required: give the port number, such as 8080`},
		{"out of range", `{"port": 70000}`, `data.port: 70000 is out of range 1-65535`},
		{"out of range string", `{"port": "70000"}`, `data.port: 70000 is out of range 1-65535`},
		{"zero", `{"port": 0}`, `data.port: 0 is out of range 1-65535`},
		{"negative", `{"port": -1}`, `data.port: -1 is out of range 1-65535`},
		{"fraction", `{"port": 80.5}`, `data.port: "80.5" is not a port number`},
		{"name", `{"port": "http"}`, `data.port: "http" is not a port number`},
		{"spaces", `{"port": " 80"}`, `data.port: " 80" is not a port number`},
		{"plus sign", `{"port": "+80"}`, `data.port: "+80" is not a port number`},
		{"array", `{"port": [80]}`, `data.port: must be an integer or a string holding one, not array`},
		{"bool", `{"port": true}`, `data.port: must be an integer or a string holding one, not bool`},
		{"bad proto", `{"port": 80, "proto": "sctp"}`, `data.proto: "sctp" is not supported: use tcp or udp`},
		{"proto is case-sensitive", `{"port": 80, "proto": "TCP"}`, `data.proto: "TCP" is not supported: use tcp or udp`},
		{"bad ip", `{"port": 80, "ip": "localhost"}`, `data.ip: "localhost" is not an IP address (such as 0.0.0.0, 127.0.0.1 or ::)`},
		{"several", `{"port": 0, "proto": "x", "ip": "y"}`, "data.port: 0 is out of range 1-65535\n" +
			`data.proto: "x" is not supported: use tcp or udp` + "\n" +
			`data.ip: "y" is not an IP address (such as 0.0.0.0, 127.0.0.1 or ::)`},
		{"unknown field", `{"port": 80, "Proto": "tcp"}`, `data.Proto: unknown field (known fields: cluster, conflicts, ip, port, proto, tags; names are case-sensitive)`},
	}
	checkPrepareErrors(t, "port_available", tests)
}

func TestPortAvailable(t *testing.T) {
	tcpTaken, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	defer tcpTaken.Close()
	tcpPort := tcpTaken.Addr().(*net.TCPAddr).Port
	udpTaken, err := net.ListenPacket("udp", "127.0.0.1:0")
	require.NoError(t, err)
	defer udpTaken.Close()
	udpPort := udpTaken.LocalAddr().(*net.UDPAddr).Port
	freePort := freeTCPPort(t)

	tests := []struct {
		name string
		data string
		code int
	}{
		{"tcp free", `{"port": ` + strconv.Itoa(freePort) + `, "ip": "127.0.0.1"}`, 0},
		{"tcp free, port as string", `{"port": "` + strconv.Itoa(freePort) + `", "proto": "tcp", "ip": "127.0.0.1"}`, 0},
		{"tcp taken", `{"port": ` + strconv.Itoa(tcpPort) + `, "ip": "127.0.0.1"}`, CodeAddressInUse},
		// A port taken on one address is taken for the default 0.0.0.0 too.
		{"tcp taken on loopback, checked on every address", `{"port": ` + strconv.Itoa(tcpPort) + `}`, CodeAddressInUse},
		{"udp taken", `{"port": ` + strconv.Itoa(udpPort) + `, "proto": "udp", "ip": "127.0.0.1"}`, CodeAddressInUse},
		{"udp taken on loopback, checked on every address", `{"port": "` + strconv.Itoa(udpPort) + `", "proto": "udp"}`, CodeAddressInUse},
		// The TCP listener does not take the UDP port of the same number.
		{"udp free where tcp is taken", `{"port": ` + strconv.Itoa(tcpPort) + `, "proto": "udp", "ip": "127.0.0.1"}`, 0},
		{"ip not on this host", `{"port": ` + strconv.Itoa(freePort) + `, "ip": "192.0.2.1"}`, codeAddressNotAvailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runOnce(t, mustPrepare(t, "port_available", tt.data), 10*time.Second, nil)
			require.NoError(t, got.Err)
			assert.Equal(t, tt.code, got.StatusCode, "stderr: %s", got.Stderr)
			if tt.code != 0 {
				assert.NotEmpty(t, got.Stderr)
			}
		})
	}

	t.Run("privileged port as non-root", func(t *testing.T) {
		if os.Geteuid() == 0 {
			t.Skip("root may bind any port")
		}
		got := runOnce(t, mustPrepare(t, "port_available", `{"port": 1, "ip": "127.0.0.1"}`), 10*time.Second, nil)
		assert.Equal(t, codePermissionDenied, got.StatusCode, "stderr: %s", got.Stderr)
	})

	t.Run("the check leaves the port free", func(t *testing.T) {
		p := mustPrepare(t, "port_available", `{"port": `+strconv.Itoa(freePort)+`, "ip": "127.0.0.1"}`)
		for range 3 {
			assert.Equal(t, 0, runOnce(t, p, 10*time.Second, nil).StatusCode)
		}
	})
}

// freeTCPPort returns a port nothing listens on at the moment.
func freeTCPPort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	port := l.Addr().(*net.TCPAddr).Port
	require.NoError(t, l.Close())
	return port
}
