package command

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	authorizationv1 "k8s.io/api/authorization/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"k8s.io/client-go/rest"
)

// testAPIServer is a small Kubernetes API server for the unit tests of the cluster commands
// that need real HTTP: discovery (core, apps, one custom group), SelfSubjectAccessReviews,
// pod lists, pod logs as the kubelet serves them (timestamps, sinceSeconds, tailLines,
// limitBytes, in that order) and server-side apply. Its clock may differ from the test's.
type testAPIServer struct {
	t   testing.TB
	srv *httptest.Server
	// skew is the server's clock minus the test's.
	skew time.Duration

	mu   sync.Mutex
	pods []corev1.Pod
	logs map[string][]testLogEntry // by pod name
	// logErr, by pod name, is the message of a 400 answer to a log request.
	logErr map[string]string
	// deny lists denied permissions as "verb group/resource[/sub] namespace".
	deny    map[string]bool
	ssarErr bool
	ssars   []string
	// reviews holds the attributes of every SelfSubjectAccessReview, names included.
	reviews []authorizationv1.ResourceAttributes
	// proxy, when set, answers requests to the service proxy
	// (/api/v1/namespaces/NS/services/NAME/proxy/REST), with NAME as [scheme:]name:port.
	proxy   func(w http.ResponseWriter, r *http.Request, ns, name string)
	proxied atomic.Int64
	// apply answers a server-side apply: a status code and, for codes >= 400, the Status.
	apply   func(resource, ns, name string, obj map[string]any) (int, *metav1.Status)
	applies []testApply

	logRequests atomic.Int64
	logBytes    atomic.Int64
	// logGate, when set, is called at the start of each log request (to observe concurrency).
	logGate func()
	lists   atomic.Int64
}

type testLogEntry struct {
	at   time.Time // server time
	text string
}

type testApply struct {
	resource, ns, name string
	query              string
	contentType        string
}

func newTestAPIServer(t testing.TB) *testAPIServer {
	s := &testAPIServer{t: t, logs: map[string][]testLogEntry{}, logErr: map[string]string{}, deny: map[string]bool{}}
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	t.Cleanup(s.srv.Close)
	return s
}

// env returns an Env for the server, with a fresh session.
func (s *testAPIServer) env(limit int) *Env {
	return &Env{Namespace: "default", Config: &rest.Config{Host: s.srv.URL, QPS: -1, ContentConfig: rest.ContentConfig{ContentType: "application/json"}}, OutputLimit: limit, Session: &Session{}}
}

// now is the server's clock.
func (s *testAPIServer) now() time.Time { return time.Now().Add(s.skew) }

// addPod adds a running pod on node n1 whose container c started at started (server time).
func (s *testAPIServer) addPod(name string, lbls map[string]string, started time.Time, restarts int32) *corev1.Pod {
	s.mu.Lock()
	defer s.mu.Unlock()
	p := corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: name, Namespace: "default", Labels: lbls, CreationTimestamp: metav1.NewTime(started)},
		Spec:       corev1.PodSpec{NodeName: "n1", Containers: []corev1.Container{{Name: "c", Image: "busybox"}}},
		Status: corev1.PodStatus{Phase: corev1.PodRunning, StartTime: ptrTime(started), ContainerStatuses: []corev1.ContainerStatus{{
			Name: "c", RestartCount: restarts, State: corev1.ContainerState{Running: &corev1.ContainerStateRunning{StartedAt: metav1.NewTime(started)}},
		}}},
	}
	s.pods = append(s.pods, p)
	return &s.pods[len(s.pods)-1]
}

func ptrTime(t time.Time) *metav1.Time { v := metav1.NewTime(t); return &v }

// log appends a line to a pod's log, ago before the server's now.
func (s *testAPIServer) log(pod string, ago time.Duration, text string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.logs[pod] = append(s.logs[pod], testLogEntry{at: s.now().Add(-ago), text: text})
}

func (s *testAPIServer) serve(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Date", s.now().UTC().Format(http.TimeFormat))
	path := r.URL.Path
	switch {
	case path == "/api":
		writeJSON(w, 200, metav1.APIVersions{Versions: []string{"v1"}})
	case path == "/apis":
		writeJSON(w, 200, metav1.APIGroupList{Groups: []metav1.APIGroup{
			testGroup("apps", "v1"), testGroup("example.com", "v1"), testGroup("authorization.k8s.io", "v1"),
		}})
	case path == "/api/v1":
		writeJSON(w, 200, metav1.APIResourceList{GroupVersion: "v1", APIResources: []metav1.APIResource{
			{Name: "pods", SingularName: "pod", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get", "list", "patch", "create"}},
			{Name: "pods/log", Namespaced: true, Kind: "Pod", Verbs: metav1.Verbs{"get"}},
			{Name: "configmaps", SingularName: "configmap", Namespaced: true, Kind: "ConfigMap", Verbs: metav1.Verbs{"get", "list", "patch", "create"}},
			{Name: "namespaces", SingularName: "namespace", Namespaced: false, Kind: "Namespace", Verbs: metav1.Verbs{"get", "list", "patch", "create"}},
		}})
	case path == "/apis/apps/v1":
		writeJSON(w, 200, metav1.APIResourceList{GroupVersion: "apps/v1", APIResources: []metav1.APIResource{
			{Name: "statefulsets", SingularName: "statefulset", Namespaced: true, Kind: "StatefulSet", Verbs: metav1.Verbs{"get", "list", "patch", "create"}},
		}})
	case path == "/apis/example.com/v1":
		writeJSON(w, 200, metav1.APIResourceList{GroupVersion: "example.com/v1", APIResources: []metav1.APIResource{
			{Name: "gadgets", SingularName: "gadget", Namespaced: false, Kind: "Gadget", Verbs: metav1.Verbs{"get", "list", "patch", "create"}},
		}})
	case path == "/apis/authorization.k8s.io/v1":
		writeJSON(w, 200, metav1.APIResourceList{GroupVersion: "authorization.k8s.io/v1"})
	case path == "/apis/authorization.k8s.io/v1/selfsubjectaccessreviews" && r.Method == http.MethodPost:
		s.ssar(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/api/v1/namespaces/") && strings.HasSuffix(path, "/log"):
		s.podLog(w, r)
	case r.Method == http.MethodGet && strings.HasPrefix(path, "/api/v1/namespaces/") && strings.HasSuffix(path, "/pods"):
		s.listPods(w, r)
	case strings.HasPrefix(path, "/api/v1/namespaces/") && len(strings.Split(path, "/")) >= 8 &&
		strings.Split(path, "/")[5] == "services" && strings.Split(path, "/")[7] == "proxy" && s.proxy != nil:
		parts := strings.Split(path, "/")
		s.proxied.Add(1)
		s.proxy(w, r, parts[4], parts[6])
	case r.Method == http.MethodPatch:
		s.patch(w, r)
	default:
		writeJSON(w, 404, &metav1.Status{Status: "Failure", Reason: metav1.StatusReasonNotFound, Code: 404, Message: "the server could not find the requested resource"})
	}
}

func testGroup(name, version string) metav1.APIGroup {
	gv := metav1.GroupVersionForDiscovery{GroupVersion: name + "/" + version, Version: version}
	return metav1.APIGroup{Name: name, Versions: []metav1.GroupVersionForDiscovery{gv}, PreferredVersion: gv}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(code)
	_ = json.NewEncoder(w).Encode(v)
}

func failure(code int32, reason metav1.StatusReason, msg string) *metav1.Status {
	return &metav1.Status{TypeMeta: metav1.TypeMeta{Kind: "Status", APIVersion: "v1"}, Status: "Failure", Code: code, Reason: reason, Message: msg}
}

func (s *testAPIServer) ssar(w http.ResponseWriter, r *http.Request) {
	var review authorizationv1.SelfSubjectAccessReview
	if err := json.NewDecoder(r.Body).Decode(&review); err != nil {
		writeJSON(w, 400, failure(400, metav1.StatusReasonBadRequest, err.Error()))
		return
	}
	ra := review.Spec.ResourceAttributes
	res := ra.Resource
	if ra.Subresource != "" {
		res += "/" + ra.Subresource
	}
	key := fmt.Sprintf("%s %s/%s %s", ra.Verb, ra.Group, res, ra.Namespace)
	s.mu.Lock()
	s.ssars = append(s.ssars, key)
	s.reviews = append(s.reviews, *ra)
	denied, broken := s.deny[key], s.ssarErr
	s.mu.Unlock()
	if broken {
		writeJSON(w, 500, failure(500, metav1.StatusReasonInternalError, "authorizer unavailable"))
		return
	}
	review.Status = authorizationv1.SubjectAccessReviewStatus{Allowed: !denied}
	if denied {
		review.Status.Reason = "no RBAC policy matched"
	}
	review.Kind, review.APIVersion = "SelfSubjectAccessReview", "authorization.k8s.io/v1"
	writeJSON(w, 201, &review)
}

func (s *testAPIServer) listPods(w http.ResponseWriter, r *http.Request) {
	s.lists.Add(1)
	sel, err := labels.Parse(r.URL.Query().Get("labelSelector"))
	if err != nil {
		writeJSON(w, 400, failure(400, metav1.StatusReasonBadRequest, err.Error()))
		return
	}
	limit, _ := strconv.Atoi(r.URL.Query().Get("limit"))
	s.mu.Lock()
	list := corev1.PodList{TypeMeta: metav1.TypeMeta{Kind: "PodList", APIVersion: "v1"}, ListMeta: metav1.ListMeta{ResourceVersion: "7"}}
	for _, p := range s.pods {
		if sel.Matches(labels.Set(p.Labels)) {
			if limit > 0 && len(list.Items) == limit {
				list.Continue = "more"
				break
			}
			list.Items = append(list.Items, p)
		}
	}
	s.mu.Unlock()
	writeJSON(w, 200, &list)
}

// podLog serves a log as the kubelet does: the last tailLines entries, then those not older
// than sinceSeconds, each prefixed with its RFC3339Nano timestamp, cut at limitBytes.
func (s *testAPIServer) podLog(w http.ResponseWriter, r *http.Request) {
	s.logRequests.Add(1)
	if s.logGate != nil {
		s.logGate()
	}
	parts := strings.Split(r.URL.Path, "/") // /api/v1/namespaces/NS/pods/NAME/log
	name := parts[6]
	q := r.URL.Query()
	s.mu.Lock()
	entries := append([]testLogEntry(nil), s.logs[name]...)
	msg := s.logErr[name]
	s.mu.Unlock()
	if msg != "" {
		writeJSON(w, 400, failure(400, metav1.StatusReasonBadRequest, msg))
		return
	}
	if tl := q.Get("tailLines"); tl != "" {
		n, _ := strconv.Atoi(tl)
		if n < len(entries) {
			entries = entries[len(entries)-n:]
		}
	}
	var since time.Time
	if ss := q.Get("sinceSeconds"); ss != "" {
		n, _ := strconv.Atoi(ss)
		since = s.now().Add(-time.Duration(n) * time.Second)
	}
	var b strings.Builder
	for _, e := range entries {
		if e.at.Before(since) {
			continue
		}
		if q.Get("timestamps") == "true" {
			b.WriteString(e.at.UTC().Format("2006-01-02T15:04:05.000000000Z07:00") + " ")
		}
		b.WriteString(e.text + "\n")
	}
	out := b.String()
	if lb := q.Get("limitBytes"); lb != "" {
		n, _ := strconv.Atoi(lb)
		if n < len(out) {
			out = out[:n]
		}
	}
	s.logBytes.Add(int64(len(out)))
	w.Header().Set("Content-Type", "text/plain")
	_, _ = io.WriteString(w, out)
}

func (s *testAPIServer) patch(w http.ResponseWriter, r *http.Request) {
	// /api/v1/namespaces/NS/RES/NAME, /apis/G/V/namespaces/NS/RES/NAME, /apis/G/V/RES/NAME
	parts := strings.Split(strings.Trim(r.URL.Path, "/"), "/")
	if parts[0] == "apis" {
		parts = parts[3:]
	} else {
		parts = parts[2:]
	}
	ns := ""
	if parts[0] == "namespaces" && len(parts) == 4 {
		ns, parts = parts[1], parts[2:]
	}
	resource, name := parts[0], parts[1]
	body, _ := io.ReadAll(r.Body)
	var obj map[string]any
	_ = json.Unmarshal(body, &obj)
	s.mu.Lock()
	s.applies = append(s.applies, testApply{resource: resource, ns: ns, name: name, query: r.URL.RawQuery, contentType: r.Header.Get("Content-Type")})
	apply := s.apply
	s.mu.Unlock()
	code, st := 200, (*metav1.Status)(nil)
	if apply != nil {
		code, st = apply(resource, ns, name, obj)
	}
	if code >= 400 {
		writeJSON(w, code, st)
		return
	}
	writeJSON(w, code, obj)
}
