package command

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"reflect"
	"slices"
	"strings"
	"time"

	"k8s.io/apimachinery/pkg/util/validation/field"
)

// httpCommand makes an HTTP request from the installer's host, or to a Service of the
// cluster through the API server's service proxy: command id "http".
type httpCommand struct{}

// httpData is the data of http.
type httpData struct {
	// URL is the http or https URL to request.
	URL string `json:"url"`
	// Service is a Service of the cluster to request through the API server's service proxy,
	// instead of URL.
	Service *httpService `json:"service,omitempty"`
	// Path is the path (and query) to request of Service, "/" by default.
	Path string `json:"path,omitempty"`
	// Method is the request method, GET by default.
	Method string `json:"method,omitempty"`
	// Headers are added to the request; a Host header sets the request's host.
	Headers map[string]string `json:"headers,omitempty"`
	// Body is the request body.
	Body string `json:"body,omitempty"`
	// InsecureSkipVerify turns off the verification of the server's certificate.
	InsecureSkipVerify bool `json:"insecure_skip_verify,omitempty"`
	// CAFile is a PEM file of the certificate authorities to trust instead of the system's.
	CAFile string `json:"ca_file,omitempty"`
}

// DataType returns the type of http's data.
func (httpCommand) DataType() reflect.Type { return reflect.TypeOf(httpData{}) }

// httpPrepared is a validated http command.
type httpPrepared struct {
	url      string
	svc      *serviceTarget // set for a service target (url is then empty)
	method   string
	header   http.Header
	host     string // from a Host header, "" when none
	body     string
	insecure bool
	caFile   string
}

// standardMethods are the methods of RFC 9110, for the case-sensitivity hint.
var standardMethods = []string{"GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS", "CONNECT", "TRACE"}

// Prepare validates data: an absolute http or https URL, a method and header names that are
// HTTP tokens, header values without line breaks, and not both insecure_skip_verify and
// ca_file (kubectl refuses that pair too). ca_file is read when the command runs, not here,
// so that a spec can be validated on a machine other than the installer's.
func (httpCommand) Prepare(data json.RawMessage, _ SpecContext) (Prepared, error) {
	var d httpData
	if errs := decodeStrict(dataRoot, data, &d); len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	var errs field.ErrorList
	var svc *serviceTarget
	switch {
	case d.Service != nil && d.URL != "":
		errs = append(errs, invalid(dataRoot, "give url or service, not both: url is requested from this host, service through the API server's service proxy"))
	case d.Service != nil:
		var svcErrs field.ErrorList
		svc, svcErrs = prepareService(d.Service, d.Path)
		errs = append(errs, svcErrs...)
	case d.Path != "":
		// At data, not data.path: the service may come from a service_expr key.
		errs = append(errs, invalid(dataRoot, "path only applies to a service target: give service too, or put the path in url"))
	}
	if d.Service != nil {
		// The checks of a URL do not apply.
	} else if d.URL == "" {
		// At data: either key may come from a K_expr key.
		errs = append(errs, invalid(dataRoot, `required: give url (an http or https URL, such as "https://app.internal/healthz") or service (a Service of the cluster: {name, namespace, port}) and path`))
	} else if u, err := url.Parse(d.URL); err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		errs = append(errs, invalid(dataRoot.Child("url"), "%q is not a URL: %v", d.URL, err))
	} else if u.Scheme != "http" && u.Scheme != "https" {
		errs = append(errs, invalid(dataRoot.Child("url"), "%q must start with http:// or https://", d.URL))
	} else if u.Host == "" {
		errs = append(errs, invalid(dataRoot.Child("url"), "%q has no host", d.URL))
	}
	p := &httpPrepared{url: d.URL, svc: svc, method: d.Method, body: d.Body, insecure: d.InsecureSkipVerify,
		caFile: d.CAFile, header: http.Header{}}
	if p.method == "" {
		p.method = http.MethodGet
	} else if !isHTTPToken(p.method) {
		errs = append(errs, invalid(dataRoot.Child("method"), "%q is not a valid HTTP method", d.Method))
	} else if up := strings.ToUpper(p.method); up != p.method && slices.Contains(standardMethods, up) {
		errs = append(errs, invalid(dataRoot.Child("method"), "%q: methods are case-sensitive: write %s", d.Method, up))
	}
	for _, k := range slices.Sorted(maps.Keys(d.Headers)) {
		v := d.Headers[k]
		switch {
		case !isHTTPToken(k):
			errs = append(errs, invalid(dataRoot.Child("headers").Key(k), "%q is not a valid header name", k))
		case strings.ContainsAny(v, "\r\n\x00"):
			errs = append(errs, invalid(dataRoot.Child("headers").Key(k), "the value must not contain a line break or a NUL byte"))
		case strings.EqualFold(k, "Host"):
			p.host = v
		default:
			p.header.Add(k, v)
		}
	}
	if svc != nil {
		errs = append(errs, svc.check(p, &d)...)
	}
	if d.InsecureSkipVerify && d.CAFile != "" {
		errs = append(errs, invalid(dataRoot, "give ca_file or insecure_skip_verify, not both: a CA file means the certificate is verified"))
	}
	if len(errs) > 0 {
		return nil, errs.ToAggregate()
	}
	return p, nil
}

// isHTTPToken reports whether s is an HTTP token (RFC 9110 section 5.6.2), what method and
// header names are made of.
func isHTTPToken(s string) bool {
	if s == "" {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// Run makes the request once. The status code is the HTTP status of the final response
// (redirects are followed, up to 10, as Go's client and curl -L do), stdout is its body up to
// env.Limit() bytes (CEL sees it as `output` too when it is JSON), stderr is empty.
//
// A request that could not be made or answered (a name that does not resolve, a refused
// connection, a TLS failure, a body cut off) sets Err, with CodeGeneralError, or CodeTimeout
// when the command's deadline passed. The proxy comes from HTTP_PROXY, HTTPS_PROXY and
// NO_PROXY, as for curl and kubectl; connections are not kept between runs.
//
// A service target is requested through the API server (see runService).
func (p *httpPrepared) Run(ctx context.Context, env *Env) (*Result, error) {
	if p.svc != nil {
		return p.runService(ctx, env)
	}
	start := time.Now()
	var out Output
	fail := func(err error) (*Result, error) {
		if ctx.Err() != nil {
			setInterrupted(ctx, env, &out)
		} else {
			out.StatusCode, out.Err = CodeGeneralError, err
		}
		return singleOutput(out, start), nil
	}
	tr, err := p.transport()
	if err != nil {
		return fail(err)
	}
	defer tr.CloseIdleConnections()
	var body io.Reader
	if p.body != "" {
		body = strings.NewReader(p.body)
	}
	req, err := http.NewRequestWithContext(ctx, p.method, p.url, body)
	if err != nil {
		return fail(err)
	}
	for k, vs := range p.header {
		req.Header[k] = vs
	}
	if p.host != "" {
		req.Host = p.host
	}
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return fail(err)
	}
	defer resp.Body.Close()
	s, truncated, err := readCapped(resp.Body, env.Limit())
	if err != nil {
		out.Stdout, out.Truncated = s, truncated
		return fail(fmt.Errorf("reading the response body of %s %s (status %d): %w", p.method, p.url, resp.StatusCode, err))
	}
	out.StatusCode, out.Stdout, out.Truncated = resp.StatusCode, s, truncated
	return singleOutput(out, start), nil
}

// transport returns a transport for one run: Go's defaults (proxy from the environment,
// HTTP/2, dial and TLS handshake limits) with the command's TLS options and no keep-alive.
func (p *httpPrepared) transport() (*http.Transport, error) {
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.DisableKeepAlives = true
	if !p.insecure && p.caFile == "" {
		return tr, nil
	}
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if p.insecure {
		cfg.InsecureSkipVerify = true // the spec asked for it: data.insecure_skip_verify
	}
	if p.caFile != "" {
		pem, err := os.ReadFile(p.caFile)
		if err != nil {
			return nil, fmt.Errorf("data.ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("data.ca_file: %s holds no PEM certificate", p.caFile)
		}
		cfg.RootCAs = pool
	}
	tr.TLSClientConfig = cfg
	return tr, nil
}
