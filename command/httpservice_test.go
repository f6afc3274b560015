package command

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	authorizationv1 "k8s.io/api/authorization/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

func TestHTTPServicePrepareErrors(t *testing.T) {
	checkPrepareErrors(t, "http", []prepareErrorCase{
		{"neither url nor service", `{"method": "GET"}`, `data: required: give url (an http or https URL, such as "https://app.internal/healthz") or service (a Service of the cluster: {name, namespace, port}) and path`},
		{"both", `{"url": "http://a", "service": {"name": "app", "port": 80}}`, `data: give url or service, not both: url is requested from this host, service through the API server's service proxy`},
		{"path without service", `{"url": "http://a", "path": "/x"}`, `data: path only applies to a service target: give service too, or put the path in url`},
		{"no name", `{"service": {"port": 80}}`, `data.service.name: required: give the Service's name`},
		{"bad name", `{"service": {"name": "My_App", "port": 80}}`, `data.service.name: "My_App" is not a valid Service name: a DNS-1035 label must consist of lower case alphanumeric characters or '-', start with an alphabetic character, and end with an alphanumeric character (e.g. 'my-name',  or 'abc-123', regex used for validation is '[a-z]([-a-z0-9]*[a-z0-9])?')`},
		{"bad namespace", `{"service": {"name": "app", "namespace": "A", "port": 80}}`, `data.service.namespace: "A" is not a valid namespace name: a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')`},
		{"no port", `{"service": {"name": "app"}}`, `data.service.port: required: give the Service's port, a number (8080) or the name of one of its ports ("http")`},
		{"port out of range", `{"service": {"name": "app", "port": 70000}}`, `data.service.port: 70000 is not a port number (1-65535)`},
		{"port zero as a string", `{"service": {"name": "app", "port": "0"}}`, `data.service.port: 0 is not a port number (1-65535)`},
		{"bad port name", `{"service": {"name": "app", "port": "web_port"}}`, `data.service.port: "web_port" is not a port number or a valid port name: must contain only alpha-numeric characters (a-z, 0-9), and hyphens (-)`},
		{"port a bool", `{"service": {"name": "app", "port": true}}`, `data.service.port: must be a port number or a port name, not true`},
		{"bad scheme", `{"service": {"name": "app", "port": 80, "scheme": "ftp"}}`, `data.service.scheme: must be "http" (the default) or "https", not "ftp"`},
		{"unknown service field", `{"service": {"name": "app", "port": 80, "ns": "x"}}`, `data.service.ns: unknown field (known fields: name, namespace, port, scheme; names are case-sensitive)`},
		{"relative path", `{"service": {"name": "app", "port": 80}, "path": "upgradeable"}`, `data.path: "upgradeable" must be a path starting with /, such as "/upgradeable": the host is the Service`},
		{"URL as path", `{"service": {"name": "app", "port": 80}, "path": "http://app/x"}`, `data.path: "http://app/x" must be a path starting with /, such as "/upgradeable": the host is the Service`},
		{"dot segments", `{"service": {"name": "app", "port": 80}, "path": "/a/../../pods"}`, `data.path: "/a/../../pods" must not hold . or .. segments: the API server would resolve them outside the Service's proxy`},
		{"fragment", `{"service": {"name": "app", "port": 80}, "path": "/a#b"}`, `data.path: "/a#b": a #fragment is never sent to a server: remove it`},
		{"OPTIONS", `{"service": {"name": "app", "port": 80}, "method": "OPTIONS"}`, `data.method: "OPTIONS": the API server's service proxy takes GET, HEAD, POST, PUT, PATCH or DELETE`},
		{"Host header", `{"service": {"name": "app", "port": 80}, "headers": {"Host": "x"}}`, `data.headers[Host]: does not apply to a service target: the request goes to the API server, which picks the Service's pod`},
		{"TLS options", `{"service": {"name": "app", "port": 80}, "insecure_skip_verify": true}`, `data: insecure_skip_verify and ca_file do not apply to a service target: the request goes to the API server with the kubeconfig's TLS settings (for a Service that serves TLS, set service.scheme: https)`},
	})
}

// proxyCall is what the fake service proxy saw of one request.
type proxyCall struct {
	method, ns, name, path, query, header, body string
}

func TestHTTPService(t *testing.T) {
	// app answers as the Service's pods would, through the proxy; the API server's own
	// failures are metav1.Status bodies, as the real one writes them.
	app := func(w http.ResponseWriter, r *http.Request, c proxyCall) {
		switch {
		case c.name == "missing:80":
			writeJSON(w, 404, &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: metav1.StatusFailure, Code: 404,
				Reason: metav1.StatusReasonNotFound, Message: `services "missing" not found`, Details: &metav1.StatusDetails{Name: "missing", Kind: "services"}})
		case c.name == "idle:80":
			writeJSON(w, 503, failure(503, metav1.StatusReasonServiceUnavailable, `no endpoints available for service "idle:80"`))
		case c.name == "refusing:80":
			writeJSON(w, 500, failure(500, metav1.StatusReasonInternalError, `error trying to reach service: dial tcp 10.244.0.9:8080: connect: connection refused`))
		case c.path == "/upgradeable":
			_, _ = io.WriteString(w, "yes\n")
		case c.path == "/busy":
			w.WriteHeader(503)
			_, _ = io.WriteString(w, "not upgradeable: migration running\n")
		case c.path == "/app-json-404":
			// The app's own JSON error is the app's answer, not the API server's.
			writeJSON(w, 404, map[string]string{"kind": "Error", "message": "no such page"})
		case c.path == "/echo":
			_, _ = io.WriteString(w, c.method+" "+c.ns+" "+c.name+" "+c.query+" "+c.header+" "+c.body)
		case c.path == "/hop":
			http.Redirect(w, r, "/api/v1/namespaces/"+c.ns+"/services/"+c.name+"/proxy/upgradeable", http.StatusFound)
		case c.path == "/away":
			http.Redirect(w, r, "http://elsewhere.example/steal", http.StatusFound)
		case c.path == "/big":
			_, _ = io.WriteString(w, strings.Repeat("x", 100))
		default:
			http.NotFound(w, r)
		}
	}
	tests := []struct {
		name string
		data string
		deny string // a denied permission, as the fake keys it
		// want
		code    int
		stdout  string
		trunc   bool
		err     string
		review  authorizationv1.ResourceAttributes
		noProxy bool // no request reached the proxy
		check   func(t *testing.T, err error)
	}{
		{name: "200 by port number", data: `{"service": {"name": "web", "namespace": "app", "port": 8080}, "path": "/upgradeable"}`,
			code: 200, stdout: "yes\n", review: authorizationv1.ResourceAttributes{Namespace: "app", Verb: "get", Resource: "services", Subresource: "proxy", Name: "web:8080"}},
		{name: "port by name, run's namespace", data: `{"service": {"name": "web", "port": "http"}, "path": "/upgradeable"}`,
			code: 200, stdout: "yes\n", review: authorizationv1.ResourceAttributes{Namespace: "default", Verb: "get", Resource: "services", Subresource: "proxy", Name: "web:http"}},
		{name: "https scheme", data: `{"service": {"name": "web", "port": 8443, "scheme": "https"}, "path": "/upgradeable"}`,
			code: 200, stdout: "yes\n", review: authorizationv1.ResourceAttributes{Namespace: "default", Verb: "get", Resource: "services", Subresource: "proxy", Name: "https:web:8443"}},
		{name: "the app's 503 is its status", data: `{"service": {"name": "web", "port": 80}, "path": "/busy"}`,
			code: 503, stdout: "not upgradeable: migration running\n"},
		{name: "the app's JSON 404 is its status", data: `{"service": {"name": "web", "port": 80}, "path": "/app-json-404"}`,
			code: 404, stdout: `{"kind":"Error","message":"no such page"}` + "\n"},
		{name: "POST with body, header, query; verb create", data: `{"service": {"name": "web", "port": 80}, "path": "/echo?a=1&b=x%20y", "method": "POST", "headers": {"X-Preflight": "on"}, "body": "hello"}`,
			code: 200, stdout: "POST default web:80 a=1&b=x%20y on hello",
			review: authorizationv1.ResourceAttributes{Namespace: "default", Verb: "create", Resource: "services", Subresource: "proxy", Name: "web:80"}},
		{name: "DELETE needs delete", data: `{"service": {"name": "web", "port": 80}, "path": "/echo", "method": "DELETE"}`,
			code: 200, stdout: "DELETE default web:80   ",
			review: authorizationv1.ResourceAttributes{Namespace: "default", Verb: "delete", Resource: "services", Subresource: "proxy", Name: "web:80"}},
		{name: "redirect within the proxy is followed", data: `{"service": {"name": "web", "port": 80}, "path": "/hop"}`, code: 200, stdout: "yes\n"},
		{name: "redirect away is refused", data: `{"service": {"name": "web", "port": 80}, "path": "/away"}`,
			err: `requesting service "default/web" port 80 through the API server: the app redirected to http://elsewhere.example/steal, outside the API server: not followed (the request carries the cluster's credentials)`},
		{name: "body cut at the limit", data: `{"service": {"name": "web", "port": 80}, "path": "/big"}`, code: 200, stdout: strings.Repeat("x", 64), trunc: true},
		{name: "missing Service", data: `{"service": {"name": "missing", "port": 80}, "path": "/upgradeable"}`,
			err:   `service "default/missing" port 80: the API server answered 404 instead of the app: the Service does not exist: services "missing" not found`,
			check: func(t *testing.T, err error) { assert.True(t, apierrors.IsNotFound(err)) }},
		{name: "no ready endpoint", data: `{"service": {"name": "idle", "port": 80}, "path": "/upgradeable"}`,
			err:   `service "default/idle" port 80: the API server answered 503 instead of the app: no ready pod backs the Service (check its selector, its pods' readiness and the port): no endpoints available for service "idle:80"`,
			check: func(t *testing.T, err error) { assert.True(t, apierrors.IsServiceUnavailable(err)) }},
		{name: "connection refused", data: `{"service": {"name": "refusing", "port": 80}, "path": "/upgradeable"}`,
			err: `service "default/refusing" port 80: the API server answered 500 instead of the app: the Service's pod did not answer (is the app listening on the target port?): error trying to reach service: dial tcp 10.244.0.9:8080: connect: connection refused`},
		{name: "permission denied before the request", data: `{"service": {"name": "web", "port": 80}, "path": "/upgradeable"}`, deny: "get /services/proxy default",
			err: `insufficient permissions in namespace "default": cannot get services/proxy "web:80" (no RBAC policy matched); nothing was created`, noProxy: true,
			check: func(t *testing.T, err error) {
				var pe *PermissionError
				require.ErrorAs(t, err, &pe)
				assert.Equal(t, "web:80", pe.Denied[0].Name)
			}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newTestAPIServer(t)
			s.proxy = func(w http.ResponseWriter, r *http.Request, ns, name string) {
				_, rest, _ := strings.Cut(r.URL.EscapedPath(), "/proxy")
				b, _ := io.ReadAll(r.Body)
				app(w, r, proxyCall{method: r.Method, ns: ns, name: name, path: rest, query: r.URL.RawQuery, header: r.Header.Get("X-Preflight"), body: string(b)})
			}
			if tt.deny != "" {
				s.deny[tt.deny] = true
			}
			p := mustPrepare(t, "http", tt.data)
			assert.True(t, p.(interface{ UsesCluster() bool }).UsesCluster())
			var out Output
			if res, err := p.Run(context.Background(), s.env(64)); err != nil {
				out.Err, out.StatusCode = err, CodeGeneralError // as the runner records it
			} else {
				require.Len(t, res.Outputs, 1)
				out = res.Outputs[0]
			}
			if tt.err != "" {
				require.Error(t, out.Err)
				assert.Equal(t, tt.err, out.Err.Error())
				assert.Equal(t, CodeGeneralError, out.StatusCode)
				if tt.check != nil {
					tt.check(t, out.Err)
				}
			} else {
				require.NoError(t, out.Err)
				assert.Equal(t, tt.code, out.StatusCode)
				assert.Equal(t, tt.stdout, out.Stdout)
				assert.Equal(t, tt.trunc, out.Truncated)
			}
			if tt.noProxy {
				assert.Zero(t, s.proxied.Load(), "no request before the permission check")
			} else {
				assert.NotZero(t, s.proxied.Load())
			}
			s.mu.Lock()
			defer s.mu.Unlock()
			require.Len(t, s.reviews, 1, "one SelfSubjectAccessReview")
			if tt.review.Verb != "" {
				assert.Equal(t, tt.review, s.reviews[0])
			}
		})
	}
}

// A granted permission is asked once per run: retries do not ask again.
func TestHTTPServiceChecksOncePerRun(t *testing.T) {
	s := newTestAPIServer(t)
	s.proxy = func(w http.ResponseWriter, _ *http.Request, _, _ string) { _, _ = io.WriteString(w, "yes") }
	p := mustPrepare(t, "http", `{"service": {"name": "web", "port": 80}, "path": "/upgradeable"}`)
	env := s.env(0)
	for range 3 {
		out := runOnce(t, p, 10*time.Second, env)
		require.NoError(t, out.Err)
	}
	assert.EqualValues(t, 3, s.proxied.Load())
	assert.Len(t, s.reviews, 1)
}

func TestHTTPServiceNeedsCluster(t *testing.T) {
	p := mustPrepare(t, "http", `{"service": {"name": "web", "port": 80}}`)
	res, err := p.Run(context.Background(), &Env{})
	assert.Nil(t, res)
	assert.EqualError(t, err, "the http command's service target needs a cluster: no cluster configuration was given (set runner.Options.Config, or --kubeconfig)")
	url := mustPrepare(t, "http", `{"url": "http://a"}`)
	assert.False(t, url.(interface{ UsesCluster() bool }).UsesCluster())
	c, _ := Builtins().Lookup("http")
	with := c.(interface{ UsesClusterWith(json.RawMessage) bool })
	for data, want := range map[string]bool{
		`{"service": {"name": "web", "port_expr": "vars.port"}}`: true,
		`{"service_expr": "vars.svc", "path": "/x"}`:             true,
		`{"url_expr": "vars.url"}`:                               false,
		`not json`:                                               false,
	} {
		assert.Equal(t, want, with.UsesClusterWith(json.RawMessage(data)), data)
	}
}

// The API server's answer is told from the app's by its body: a v1 Status of a failure.
func TestAPIServerStatus(t *testing.T) {
	status := `{"kind":"Status","apiVersion":"v1","metadata":{},"status":"Failure","message":"m","reason":"NotFound","code":404}`
	for _, tt := range []struct {
		name        string
		code        int
		contentType string
		body        string
		truncated   bool
		want        bool
	}{
		{"status", 404, "application/json", status, false, true},
		{"status with charset", 404, "application/json; charset=utf-8", status, false, true},
		{"success code", 200, "application/json", status, false, false},
		{"text", 404, "text/plain", status, false, false},
		{"other JSON", 404, "application/json", `{"kind":"Error"}`, false, false},
		{"other apiVersion", 404, "application/json", strings.Replace(status, `"v1"`, `"v2"`, 1), false, false},
		{"truncated", 404, "application/json", status, true, false},
		{"not JSON", 503, "application/json", "upgrading", false, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.code, Header: http.Header{"Content-Type": {tt.contentType}}}
			assert.Equal(t, tt.want, apiServerStatus(resp, tt.body, tt.truncated) != nil)
		})
	}
	err := proxyError("x", &metav1.Status{Code: 403, Reason: metav1.StatusReasonForbidden, Message: "forbidden"})
	assert.True(t, errors.Is(err, err) && apierrors.IsForbidden(err))
}
