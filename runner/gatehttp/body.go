package gatehttp

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"reflect"
	"strings"

	sigsjson "sigs.k8s.io/json"

	"github.com/preflightkit/preflight/runner"
)

// maxByLength bounds the by of an acknowledgment.
const maxByLength = 256

// startRequest is the body of POST /runs; absent fields are nil.
type startRequest struct {
	Vars                map[string]any `json:"vars"`
	Phase               *string        `json:"phase"`
	AppVersion          *string        `json:"app_version"`
	PreviousVersion     *string        `json:"previous_version"`
	Acknowledge         []string       `json:"acknowledge"`
	AcknowledgeWarnings []string       `json:"acknowledge_warnings"`
}

// ackRequest is the body of POST /runs/{id}/acknowledge.
type ackRequest struct {
	IDs      []string `json:"ids"`
	Warnings []string `json:"warnings"`
	By       string   `json:"by"`
}

// The body fields that set each runner option, per endpoint.
var (
	startFields = map[string]string{"Phase": "phase", "Acknowledge": "acknowledge", "AcknowledgeWarnings": "acknowledge_warnings",
		"AppVersion": "app_version", "PreviousVersion": "previous_version"}
	ackFields = map[string]string{"Acknowledge": "ids", "AcknowledgeWarnings": "warnings"}
)

// decodeBody reads a JSON body strictly into v (a pointer to a struct), or answers the
// error and returns false. An empty body is an empty object.
func decodeBody(w http.ResponseWriter, r *http.Request, v any) bool {
	mt, _, err := mime.ParseMediaType(r.Header.Get("Content-Type"))
	if err != nil || mt != "application/json" {
		writeError(w, http.StatusUnsupportedMediaType, fmt.Sprintf("Content-Type must be application/json, not %q", r.Header.Get("Content-Type")))
		return false
	}
	data, err := io.ReadAll(http.MaxBytesReader(w, r.Body, maxBodyBytes))
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		writeError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("body: larger than %d bytes", maxBodyBytes))
		return false
	case err != nil:
		writeError(w, http.StatusBadRequest, "body: "+err.Error())
		return false
	}
	if len(strings.TrimSpace(string(data))) == 0 {
		data = []byte("{}")
	}
	strictErrs, err := sigsjson.UnmarshalStrict(data, v)
	if err != nil {
		writeError(w, http.StatusBadRequest, decodeError(err, v))
		return false
	}
	if len(strictErrs) > 0 {
		msgs := make([]string, len(strictErrs))
		for i, e := range strictErrs {
			msgs[i] = e.Error()
		}
		writeError(w, http.StatusBadRequest, fmt.Sprintf("body: %s (known fields: %s; names are case-sensitive)", strings.Join(msgs, "; "), knownFields(v)))
		return false
	}
	return true
}

// decodeError says which field has the wrong type, or where the JSON is broken.
func decodeError(err error, v any) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		if te.Field == "" {
			return fmt.Sprintf("body: must be a JSON object with the fields %s, not %s", knownFields(v), te.Value)
		}
		return fmt.Sprintf("%s: must be %s, not %s", te.Field, describe(te.Type), te.Value)
	}
	return "body: not valid JSON: " + err.Error()
}

func describe(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Map:
		return "an object"
	case reflect.Slice:
		if t.Elem().Kind() == reflect.String {
			return "a list of strings"
		}
		return "a list"
	case reflect.String:
		return "a string"
	case reflect.Pointer:
		return describe(t.Elem())
	}
	return t.String()
}

// knownFields lists the JSON names of v's fields.
func knownFields(v any) string {
	t := reflect.TypeOf(v).Elem()
	names := make([]string, t.NumField())
	for i := range names {
		names[i], _, _ = strings.Cut(t.Field(i).Tag.Get("json"), ",")
	}
	return strings.Join(names, ", ")
}

// optionErrors words the runner's *OptionErrors in terms of the body's fields.
func optionErrors(err error, fields map[string]string) string {
	var msgs []string
	for _, e := range unjoin(err) {
		var oe *runner.OptionError
		if !errors.As(e, &oe) {
			msgs = append(msgs, e.Error())
			continue
		}
		name := fields[oe.Option]
		if name == "" {
			name = oe.Option
		}
		msgs = append(msgs, fmt.Sprintf("%s %q: %s", name, oe.Value, oe.Reason))
	}
	return strings.Join(msgs, "; ")
}

// unjoin returns the errors joined in err (errors.Join), or err alone.
func unjoin(err error) []error {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		return j.Unwrap()
	}
	return []error{err}
}

func writeJSON(w http.ResponseWriter, code int, v any) {
	data, err := json.Marshal(v)
	if err != nil {
		code, data = http.StatusInternalServerError, []byte(`{"error":"encoding the answer failed"}`)
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(code)
	_, _ = w.Write(append(data, '\n'))
}

func writeError(w http.ResponseWriter, code int, msg string) {
	writeJSON(w, code, map[string]string{"error": msg})
}
