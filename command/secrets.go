package command

import (
	"encoding/base64"
	"encoding/json"
	"maps"

	"k8s.io/apimachinery/pkg/runtime/schema"
)

// The kubernetes command never prints a Secret's values. In the objects it reads, each value
// of a Secret's data and stringData is replaced by
//
//	{"redacted": true, "length": N}
//
// where N is the value's length in bytes (decoded from base64 for data), so that CEL still
// sees which keys exist and whether they are empty (output.data.password.length > 0), and the
// annotation kubectl.kubernetes.io/last-applied-configuration, which holds a copy of the
// Secret as it was applied, is redacted the same way inside. A value that is not what the API
// serves (not a string, not base64) is {"redacted": true} alone.

// lastAppliedAnnotation is where kubectl apply keeps the object it applied, values included.
const lastAppliedAnnotation = "kubectl.kubernetes.io/last-applied-configuration"

// isSecretKind reports whether gvk is the core Secret.
func isSecretKind(gvk schema.GroupVersionKind) bool {
	return gvk.Group == "" && gvk.Kind == "Secret"
}

// redactSecrets returns obj, a Secret or a list of Secrets as the command builds them, with
// every value redacted. obj itself is not changed.
func redactSecrets(obj any) any {
	m, ok := obj.(map[string]any)
	if !ok {
		return obj
	}
	items, isList := m["items"].([]any)
	if !isList || m["kind"] == "Secret" {
		return redactSecret(m)
	}
	out := maps.Clone(m)
	redacted := make([]any, len(items))
	for i, it := range items {
		if im, ok := it.(map[string]any); ok {
			redacted[i] = redactSecret(im)
		} else {
			redacted[i] = it
		}
	}
	out["items"] = redacted
	return out
}

// redactSecret returns a copy of the Secret m with its values redacted.
func redactSecret(m map[string]any) map[string]any {
	out := maps.Clone(m)
	for _, key := range []string{"data", "stringData"} {
		v, ok := m[key]
		if !ok || v == nil {
			continue
		}
		values, ok := v.(map[string]any)
		if !ok {
			out[key] = map[string]any{"redacted": true}
			continue
		}
		r := make(map[string]any, len(values))
		for k, val := range values {
			r[k] = redactedValue(val, key == "data")
		}
		out[key] = r
	}
	md, ok := m["metadata"].(map[string]any)
	if !ok {
		return out
	}
	ann, ok := md["annotations"].(map[string]any)
	if !ok {
		return out
	}
	if la, ok := ann[lastAppliedAnnotation]; ok {
		md2, ann2 := maps.Clone(md), maps.Clone(ann)
		ann2[lastAppliedAnnotation] = redactLastApplied(la)
		md2["annotations"] = ann2
		out["metadata"] = md2
	}
	return out
}

// redactedValue is what replaces one value; encoded says it is base64 (data).
func redactedValue(v any, encoded bool) map[string]any {
	s, ok := v.(string)
	if !ok {
		return map[string]any{"redacted": true}
	}
	n := len(s)
	if encoded {
		b, err := base64.StdEncoding.DecodeString(s)
		if err != nil {
			return map[string]any{"redacted": true}
		}
		n = len(b)
	}
	return map[string]any{"redacted": true, "length": int64(n)}
}

// redactLastApplied redacts the Secret inside a last-applied-configuration annotation; an
// annotation that is not such a JSON object is replaced whole.
func redactLastApplied(v any) any {
	const whole = "<redacted: holds a copy of the Secret>"
	s, ok := v.(string)
	if !ok {
		return whole
	}
	var applied map[string]any
	if err := json.Unmarshal([]byte(s), &applied); err != nil {
		return whole
	}
	b, err := json.Marshal(redactSecret(applied))
	if err != nil {
		return whole
	}
	return string(b)
}
