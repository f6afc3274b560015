package command

import (
	"context"
	"encoding/json"
	"encoding/pem"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestHTTPPrepareErrors(t *testing.T) {
	tests := []prepareErrorCase{
		{"missing url", `{}`, `data: required: give url (an http or https URL, such as "https://app.internal/healthz") or service (a Service of the cluster: {name, namespace, port}) and path`},
		{"not a URL", `{"url": "http://a b:x"}`, `data.url: "http://a b:x" is not a URL: invalid port ":x" after host`},
		{"wrong scheme", `{"url": "ftp://files/x"}`, `data.url: "ftp://files/x" must start with http:// or https://`},
		{"relative", `{"url": "/healthz"}`, `data.url: "/healthz" must start with http:// or https://`},
		{"no host", `{"url": "http:///x"}`, `data.url: "http:///x" has no host`},
		{"bad method", `{"url": "http://a", "method": "GE T"}`, `data.method: "GE T" is not a valid HTTP method`},
		{"lower-case method", `{"url": "http://a", "method": "post"}`, `data.method: "post": methods are case-sensitive: write POST`},
		{"bad header name", `{"url": "http://a", "headers": {"X Y": "1"}}`, `data.headers[X Y]: "X Y" is not a valid header name`},
		{"header value with newline", `{"url": "http://a", "headers": {"X": "1\r\nEvil: 1"}}`, `data.headers[X]: the value must not contain a line break or a NUL byte`},
		{"header value not a string", `{"url": "http://a", "headers": {"X": 1}}`, `data.headers[X]: must be a string, not number`},
		{"both TLS options", `{"url": "https://a", "insecure_skip_verify": true, "ca_file": "/ca.pem"}`, `data: give ca_file or insecure_skip_verify, not both: a CA file means the certificate is verified`},
		{"insecure not a bool", `{"url": "https://a", "insecure_skip_verify": "true"}`, `data.insecure_skip_verify: must be a boolean (true or false), not string`},
		{"unknown field", `{"url": "https://a", "timeout": 3}`, `data.timeout: unknown field (known fields: body, ca_file, headers, insecure_skip_verify, method, path, service, url; names are case-sensitive)`},
		{"several", `{"url": "x", "method": "get"}`, `data.url: "x" must start with http:// or https://` + "\n" + `data.method: "get": methods are case-sensitive: write GET`},
	}
	checkPrepareErrors(t, "http", tests)
	// A custom method is a valid token and passes, as curl -X allows.
	_, err := prepareHost(t, "http", `{"url": "http://a", "method": "PROPFIND"}`)
	assert.NoError(t, err)
}

// echo is what the test server saw of a request.
type echo struct {
	Method string `json:"method"`
	Host   string `json:"host"`
	Header string `json:"header"`
	Body   string `json:"body"`
}

func TestHTTP(t *testing.T) {
	mux := http.NewServeMux()
	mux.HandleFunc("/echo", func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/json")
		_ = json.NewEncoder(w).Encode(echo{Method: r.Method, Host: r.Host, Header: r.Header.Get("X-Preflight"), Body: string(b)})
	})
	mux.HandleFunc("/unavailable", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "upgrading", http.StatusServiceUnavailable)
	})
	mux.HandleFunc("/redirect", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/final", http.StatusFound)
	})
	mux.HandleFunc("/final", func(w http.ResponseWriter, r *http.Request) { _, _ = io.WriteString(w, "final") })
	mux.HandleFunc("/big", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, strings.Repeat("x", 1<<20))
	})
	mux.HandleFunc("/hang", func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	mux.HandleFunc("/hang-body", func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "partial")
		w.(http.Flusher).Flush()
		<-r.Context().Done()
	})
	srv := httptest.NewServer(mux)
	defer srv.Close()

	t.Run("GET JSON", func(t *testing.T) {
		got := runOnce(t, mustPrepare(t, "http", `{"url": "`+srv.URL+`/echo"}`), 10*time.Second, nil)
		require.NoError(t, got.Err)
		assert.Equal(t, 200, got.StatusCode)
		assert.JSONEq(t, `{"method": "GET", "host": "`+strings.TrimPrefix(srv.URL, "http://")+`", "header": "", "body": ""}`, got.Stdout)
		assert.Empty(t, got.Stderr)
		assert.False(t, got.Truncated)
	})
	t.Run("method, headers, host and body are sent", func(t *testing.T) {
		got := runOnce(t, mustPrepare(t, "http", `{"url": "`+srv.URL+`/echo", "method": "PUT",
			"headers": {"X-Preflight": "yes", "Host": "app.example"}, "body": "{\"a\": 1}"}`), 10*time.Second, nil)
		require.NoError(t, got.Err)
		assert.Equal(t, 200, got.StatusCode)
		assert.JSONEq(t, `{"method": "PUT", "host": "app.example", "header": "yes", "body": "{\"a\": 1}"}`, got.Stdout)
	})
	t.Run("503 is a result", func(t *testing.T) {
		got := runOnce(t, mustPrepare(t, "http", `{"url": "`+srv.URL+`/unavailable"}`), 10*time.Second, nil)
		require.NoError(t, got.Err)
		assert.Equal(t, 503, got.StatusCode)
		assert.Equal(t, "upgrading\n", got.Stdout)
	})
	t.Run("404 is a result", func(t *testing.T) {
		got := runOnce(t, mustPrepare(t, "http", `{"url": "`+srv.URL+`/nothing"}`), 10*time.Second, nil)
		require.NoError(t, got.Err)
		assert.Equal(t, 404, got.StatusCode)
	})
	t.Run("redirects are followed", func(t *testing.T) {
		got := runOnce(t, mustPrepare(t, "http", `{"url": "`+srv.URL+`/redirect"}`), 10*time.Second, nil)
		require.NoError(t, got.Err)
		assert.Equal(t, 200, got.StatusCode)
		assert.Equal(t, "final", got.Stdout)
	})
	t.Run("body capped", func(t *testing.T) {
		got := runOnce(t, mustPrepare(t, "http", `{"url": "`+srv.URL+`/big"}`), 10*time.Second, &Env{OutputLimit: 100})
		require.NoError(t, got.Err)
		assert.Equal(t, 200, got.StatusCode)
		assert.Equal(t, strings.Repeat("x", 100), got.Stdout)
		assert.True(t, got.Truncated)
	})
	t.Run("server that never answers times out", func(t *testing.T) {
		got := runOnce(t, mustPrepare(t, "http", `{"url": "`+srv.URL+`/hang"}`), 300*time.Millisecond, nil)
		assert.Equal(t, CodeTimeout, got.StatusCode)
		require.Error(t, got.Err)
		assert.Equal(t, "timed out after 300ms", got.Err.Error())
		assert.ErrorIs(t, got.Err, context.DeadlineExceeded)
	})
	t.Run("body that never ends times out", func(t *testing.T) {
		got := runOnce(t, mustPrepare(t, "http", `{"url": "`+srv.URL+`/hang-body"}`), 300*time.Millisecond, nil)
		assert.Equal(t, CodeTimeout, got.StatusCode)
		require.Error(t, got.Err)
		assert.Equal(t, "partial", got.Stdout)
	})
	t.Run("canceled", func(t *testing.T) {
		ctx, cancel := context.WithCancel(context.Background())
		stop := time.AfterFunc(100*time.Millisecond, cancel)
		defer stop.Stop()
		res, err := mustPrepare(t, "http", `{"url": "`+srv.URL+`/hang"}`).Run(ctx, &Env{})
		require.NoError(t, err)
		assert.ErrorIs(t, res.Outputs[0].Err, context.Canceled)
		assert.Equal(t, codeInterrupted, res.Outputs[0].StatusCode)
	})
	t.Run("connection refused is an error", func(t *testing.T) {
		got := runOnce(t, mustPrepare(t, "http", `{"url": "http://`+closedTCPPort(t)+`/"}`), 10*time.Second, nil)
		require.Error(t, got.Err)
		assert.Contains(t, got.Err.Error(), "connection refused")
		assert.Equal(t, CodeGeneralError, got.StatusCode)
	})
}

func TestHTTPTLS(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, `{"upgradeable": true}`)
	}))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the unknown-authority case fails the handshake on purpose
	srv.StartTLS()
	defer srv.Close()
	dir := t.TempDir()
	caFile := filepath.Join(dir, "ca.pem")
	require.NoError(t, os.WriteFile(caFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600))
	notPEM := filepath.Join(dir, "not.pem")
	require.NoError(t, os.WriteFile(notPEM, []byte("hello"), 0o600))

	tests := []struct {
		name, data  string
		code        int
		errContains string
	}{
		{"ca_file trusts the server", `{"url": "` + srv.URL + `", "ca_file": "` + caFile + `"}`, 200, ""},
		{"insecure_skip_verify", `{"url": "` + srv.URL + `", "insecure_skip_verify": true}`, 200, ""},
		{"unknown authority", `{"url": "` + srv.URL + `"}`, CodeGeneralError, "certificate signed by unknown authority"},
		{"missing ca_file", `{"url": "` + srv.URL + `", "ca_file": "` + dir + `/missing.pem"}`, CodeGeneralError, "data.ca_file: open " + dir + "/missing.pem: no such file or directory"},
		{"ca_file without a certificate", `{"url": "` + srv.URL + `", "ca_file": "` + notPEM + `"}`, CodeGeneralError, "data.ca_file: " + notPEM + " holds no PEM certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := runOnce(t, mustPrepare(t, "http", tt.data), 10*time.Second, nil)
			assert.Equal(t, tt.code, got.StatusCode)
			if tt.errContains == "" {
				require.NoError(t, got.Err)
				assert.Equal(t, `{"upgradeable": true}`, got.Stdout)
				return
			}
			require.Error(t, got.Err)
			assert.Contains(t, got.Err.Error(), tt.errContains)
		})
	}
}
