package command

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	utilnet "k8s.io/apimachinery/pkg/util/net"
	"mime"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/util/validation"
	"k8s.io/apimachinery/pkg/util/validation/field"
	"k8s.io/client-go/rest"

	"github.com/preflightkit/preflight/internal/podrun"
)

// httpService is data.service: a Service of the cluster, reached through the API server's
// service proxy (GET /api/v1/namespaces/NS/services/[https:]NAME:PORT/proxy/PATH).
type httpService struct {
	// Name is the Service's name.
	Name string `json:"name"`
	// Namespace is the Service's namespace, the run's namespace by default.
	Namespace string `json:"namespace,omitempty"`
	// Port is the Service's port, by number or by name.
	Port json.RawMessage `json:"port" expr:"int|string"`
	// Scheme is how the API server talks to the Service's pods: http (the default) or https
	// (without verifying their certificate, as the service proxy does).
	Scheme string `json:"scheme,omitempty"`
}

// serviceTarget is a validated data.service and data.path.
type serviceTarget struct {
	name, namespace, port, scheme string
	// path is the request's escaped path below the proxy ("/" at least), query its raw query.
	path, query string
}

// proxyVerbs are the methods the service proxy accepts, with the verb the API server
// authorizes each as (the request's verb for a subresource: see k8s.io/apiserver's
// RequestInfoFactory). Other methods (OPTIONS, CONNECT, TRACE, custom ones) are authorized
// with an empty verb that no RBAC rule but a wildcard grants.
var proxyVerbs = map[string]string{
	http.MethodGet: "get", http.MethodHead: "get", http.MethodPost: "create",
	http.MethodPut: "update", http.MethodPatch: "patch", http.MethodDelete: "delete",
}

// prepareService validates data.service and data.path.
func prepareService(s *httpService, path string) (*serviceTarget, field.ErrorList) {
	sp := dataRoot.Child("service")
	var errs field.ErrorList
	t := &serviceTarget{name: s.Name, namespace: s.Namespace, scheme: s.Scheme}
	if s.Name == "" {
		errs = append(errs, invalid(sp.Child("name"), "required: give the Service's name"))
	} else if msgs := validation.IsDNS1035Label(s.Name); len(msgs) > 0 {
		errs = append(errs, invalid(sp.Child("name"), "%q is not a valid Service name: %s", s.Name, strings.Join(msgs, "; ")))
	}
	if s.Namespace != "" {
		if msgs := validation.IsDNS1123Label(s.Namespace); len(msgs) > 0 {
			errs = append(errs, invalid(sp.Child("namespace"), "%q is not a valid namespace name: %s", s.Namespace, strings.Join(msgs, "; ")))
		}
	}
	port, err := servicePort(s.Port)
	if err != nil {
		errs = append(errs, invalid(sp.Child("port"), "%s", err))
	}
	t.port = port
	switch s.Scheme {
	case "", "http":
		t.scheme = ""
	case "https":
	default:
		errs = append(errs, invalid(sp.Child("scheme"), `must be "http" (the default) or "https", not %q`, s.Scheme))
	}
	if path == "" {
		path = "/"
	}
	u, err := url.Parse(path)
	switch {
	case err != nil:
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		errs = append(errs, invalid(dataRoot.Child("path"), "%q is not a URL path: %v", path, err))
	case u.Scheme != "" || u.Host != "" || !strings.HasPrefix(path, "/"):
		errs = append(errs, invalid(dataRoot.Child("path"), "%q must be a path starting with /, such as \"/upgradeable\": the host is the Service", path))
	case u.Fragment != "":
		errs = append(errs, invalid(dataRoot.Child("path"), "%q: a #fragment is never sent to a server: remove it", path))
	case hasDotSegment(u.Path):
		errs = append(errs, invalid(dataRoot.Child("path"), "%q must not hold . or .. segments: the API server would resolve them outside the Service's proxy", path))
	default:
		t.path, t.query = u.EscapedPath(), u.RawQuery
	}
	return t, errs
}

// servicePort returns a port given as a number (1-65535) or a name (an IANA service name,
// as a Service's ports are named).
func servicePort(raw json.RawMessage) (string, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || bytes.Equal(raw, []byte("null")) {
		return "", errors.New(`required: give the Service's port, a number (8080) or the name of one of its ports ("http")`)
	}
	if raw[0] == '"' {
		var name string
		if err := json.Unmarshal(raw, &name); err != nil {
			return "", fmt.Errorf("%s is not a string: %v", raw, err)
		}
		if n, err := strconv.Atoi(name); err == nil {
			return servicePortNumber(int64(n))
		}
		if msgs := validation.IsValidPortName(name); len(msgs) > 0 {
			return "", fmt.Errorf("%q is not a port number or a valid port name: %s", name, strings.Join(msgs, "; "))
		}
		return name, nil
	}
	var n int64
	if err := json.Unmarshal(raw, &n); err != nil {
		return "", fmt.Errorf("must be a port number or a port name, not %s", raw)
	}
	return servicePortNumber(n)
}

func servicePortNumber(n int64) (string, error) {
	if n < 1 || n > 65535 {
		return "", fmt.Errorf("%d is not a port number (1-65535)", n)
	}
	return strconv.FormatInt(n, 10), nil
}

// hasDotSegment reports whether a path holds a "." or ".." segment.
func hasDotSegment(p string) bool {
	for _, s := range strings.Split(p, "/") {
		if s == "." || s == ".." {
			return true
		}
	}
	return false
}

// check reports the fields of d that do not apply to a service target.
func (t *serviceTarget) check(p *httpPrepared, d *httpData) field.ErrorList {
	var errs field.ErrorList
	if _, ok := proxyVerbs[p.method]; !ok && isHTTPToken(p.method) {
		errs = append(errs, invalid(dataRoot.Child("method"), "%q: the API server's service proxy takes GET, HEAD, POST, PUT, PATCH or DELETE", p.method))
	}
	if p.host != "" {
		errs = append(errs, invalid(dataRoot.Child("headers").Key("Host"), "does not apply to a service target: the request goes to the API server, which picks the Service's pod"))
	}
	if d.InsecureSkipVerify || d.CAFile != "" {
		errs = append(errs, invalid(dataRoot, "insecure_skip_verify and ca_file do not apply to a service target: the request goes to the API server with the kubeconfig's TLS settings (for a Service that serves TLS, set service.scheme: https)"))
	}
	return errs
}

// proxyName is the name of the proxy subresource's object: [https:]NAME:PORT.
func (t *serviceTarget) proxyName() string {
	return utilnet.JoinSchemeNamePort(t.scheme, t.name, t.port)
}

// permission is the one API call a request with method makes on the target in namespace ns.
func (t *serviceTarget) permission(method, ns string) podrun.Permission {
	return podrun.Permission{Verb: proxyVerbs[method], Resource: "services", Subresource: "proxy", Name: t.proxyName(), Namespace: ns}
}

// describe names the target in messages: service "ns/name" port P.
func (t *serviceTarget) describe(ns string) string {
	s := fmt.Sprintf("service %q port %s", ns+"/"+t.name, t.port)
	if t.scheme != "" {
		s += " (" + t.scheme + ")"
	}
	return s
}

// UsesCluster reports whether the command talks to the API server: it does for a service
// target.
func (p *httpPrepared) UsesCluster() bool { return p.svc != nil }

// UsesClusterWith reports, for data whose keys are only complete at run time, whether the
// command will talk to the API server: data has service (or service_expr).
func (httpCommand) UsesClusterWith(data json.RawMessage) bool {
	var keys map[string]json.RawMessage
	if err := json.Unmarshal(data, &keys); err != nil {
		return false
	}
	_, svc := keys["service"]
	_, expr := keys["service_expr"]
	return svc || expr
}

// runService makes the request through the API server's service proxy, after checking with
// a SelfSubjectAccessReview that the run's identity may (the verb the method needs on
// services/proxy, for this Service and port). The proxied app's status, body and errors
// are the output as for a URL; an answer of the API server itself (a metav1.Status: the
// Service does not exist, has no ready endpoint, its pod refused the connection, access was
// refused) is Err, never the app's status.
func (p *httpPrepared) runService(ctx context.Context, env *Env) (*Result, error) {
	if env == nil || env.Config == nil {
		return nil, errors.New("the http command's service target needs a cluster: no cluster configuration was given (set runner.Options.Config, or --kubeconfig)")
	}
	start := time.Now()
	clients, err := kubeClientsFor(env)
	if err != nil {
		return nil, err
	}
	ns := namespaceOr(p.svc.namespace, env)
	perms, err := p.Permissions(ctx, nil, env.Namespace)
	if err != nil {
		return nil, err
	}
	if err := checkAccess(ctx, env, clients.typed, ns, perms); err != nil {
		return nil, err
	}
	rc, ok := clients.typed.CoreV1().RESTClient().(*rest.RESTClient)
	if !ok || rc.Client == nil {
		return nil, errors.New("the http command's service target needs a REST client of the core API")
	}
	base := rc.Get().Namespace(ns).Resource("services").Name(p.svc.proxyName()).SubResource("proxy").URL()
	u := *base
	u.RawPath = base.EscapedPath() + p.svc.path
	var perr error
	if u.Path, perr = url.PathUnescape(u.RawPath); perr != nil {
		return nil, perr
	}
	u.RawQuery = p.svc.query
	what := p.svc.describe(ns)
	var out Output
	fail := func(err error) (*Result, error) {
		if ctx.Err() != nil {
			setInterrupted(ctx, env, &out)
		} else {
			out.StatusCode, out.Err = CodeGeneralError, err
		}
		return singleOutput(out, start), nil
	}
	var body io.Reader
	if p.body != "" {
		body = strings.NewReader(p.body)
	}
	req, err := http.NewRequestWithContext(ctx, p.method, u.String(), body)
	if err != nil {
		return fail(err)
	}
	for k, vs := range p.header {
		req.Header[k] = vs
	}
	client := *rc.Client
	client.CheckRedirect = func(r *http.Request, via []*http.Request) error {
		if len(via) >= 10 {
			return errors.New("stopped after 10 redirects")
		}
		// The kubeconfig's credentials go with every request of this client: never to
		// another host.
		if r.URL.Host != u.Host || r.URL.Scheme != u.Scheme {
			return fmt.Errorf("the app redirected to %s, outside the API server: not followed (the request carries the cluster's credentials)", r.URL.Redacted())
		}
		return nil
	}
	resp, err := client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // the URL is the API server's, not what the spec names
		}
		return fail(fmt.Errorf("requesting %s through the API server: %w", what, err))
	}
	defer resp.Body.Close()
	// An answer of the API server is told by its whole body, even under a small output limit.
	limit := env.Limit()
	s, truncated, err := readCapped(resp.Body, max(limit, statusReadLimit))
	if err != nil {
		out.Stdout, out.Truncated = capString(s, limit, truncated)
		return fail(fmt.Errorf("reading the response body of %s %s of %s (status %d): %w", p.method, p.svc.path, what, resp.StatusCode, err))
	}
	if st := apiServerStatus(resp, s, truncated); st != nil {
		return fail(proxyError(what, st))
	}
	out.StatusCode = resp.StatusCode
	out.Stdout, out.Truncated = capString(s, limit, truncated)
	return singleOutput(out, start), nil
}

// statusReadLimit is how much of a response body is read, whatever the output limit, to
// tell the API server's own answer (a metav1.Status, a few hundred bytes) from the app's.
const statusReadLimit = 16 << 10

// capString cuts s to limit bytes, reporting truncated when it did or when s already was.
func capString(s string, limit int, truncated bool) (string, bool) {
	if len(s) > limit {
		return s[:limit], true
	}
	return s, truncated
}

// apiServerStatus returns the API server's own failure when the response is one (a JSON
// metav1.Status of kind Status, apiVersion v1, status Failure, with an error code), nil when
// it is the app's answer.
func apiServerStatus(resp *http.Response, body string, truncated bool) *metav1.Status {
	if resp.StatusCode < 400 || truncated {
		return nil
	}
	if mt, _, err := mime.ParseMediaType(resp.Header.Get("Content-Type")); err != nil || mt != "application/json" {
		return nil
	}
	var st metav1.Status
	if err := json.Unmarshal([]byte(body), &st); err != nil {
		return nil
	}
	if st.Kind != "Status" || st.APIVersion != "v1" || st.Status != metav1.StatusFailure {
		return nil
	}
	if st.Code == 0 {
		st.Code = int32(resp.StatusCode)
	}
	return &st
}

// proxyError explains an answer of the API server to a request for what.
func proxyError(what string, st *metav1.Status) error {
	hint := ""
	switch {
	case st.Code == http.StatusServiceUnavailable && strings.Contains(st.Message, "no endpoints available"):
		hint = ": no ready pod backs the Service (check its selector, its pods' readiness and the port)"
	case st.Reason == metav1.StatusReasonNotFound && st.Details != nil && st.Details.Kind == "services":
		hint = ": the Service does not exist"
	case strings.Contains(st.Message, "no service port"):
		hint = ": the Service has no such port"
	case strings.Contains(st.Message, "error trying to reach service"):
		hint = ": the Service's pod did not answer (is the app listening on the target port?)"
	case st.Reason == metav1.StatusReasonForbidden:
		hint = ": the run's identity may not use the service proxy"
	}
	return fmt.Errorf("%s: the API server answered %d instead of the app%s: %w", what, st.Code, hint, apierrors.FromObject(st))
}
