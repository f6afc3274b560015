package celenv

import (
	"fmt"
	"reflect"
	"strings"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"github.com/google/cel-go/common/types/traits"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	apiservercel "k8s.io/apiserver/pkg/cel"
	kstatus "sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

// FuncKStatus is the name of the kstatus function.
const FuncKStatus = "kstatus"

// kstatusType is what kstatus returns: an object with the status kstatus computes and its
// message, declared so that a misspelt field (`kstatus(o).state`) is a compile error.
var kstatusType = object("preflight.KStatus", map[string]*apiservercel.DeclType{
	"status":  apiservercel.StringType,
	"message": apiservercel.StringType,
})

// kstatusOptions declare kstatus(object): the status of any Kubernetes object (built-in kinds
// and custom resources alike) as sigs.k8s.io/cli-utils' kstatus computes it, the library
// Flux, kpt and the cli-utils applier wait with: {"status": "Current" | "InProgress" |
// "Failed" | "Terminating" | "Unknown", "message": "..."}. Its price is the size of the
// object (see kstatusPrice).
func kstatusOptions() []cel.EnvOption {
	return []cel.EnvOption{
		cel.Function(FuncKStatus,
			cel.Overload("kstatus_dyn", []*cel.Type{cel.DynType}, kstatusType.CelType(),
				cel.UnaryBinding(kstatusOf))),
	}
}

// mapType is the Go type kstatus converts its argument to.
var mapType = reflect.TypeOf(map[string]any{})

// kstatusOf computes the status of v, a Kubernetes object (a map with apiVersion and kind).
// Anything else is an error that says what was given and what to give instead.
func kstatusOf(v ref.Val) ref.Val {
	switch v.(type) {
	case types.Null:
		return types.NewErr("kstatus: the argument is null, not a Kubernetes object (a kubernetes command's output is null when it read nothing: check status_code first, 1 when the object is not found)")
	case traits.Mapper:
	default:
		return types.NewErr("kstatus: the argument is a %s, not a Kubernetes object (a map with apiVersion and kind)", v.Type().TypeName())
	}
	native, err := v.ConvertToNative(mapType)
	if err != nil {
		return types.NewErr("kstatus: the argument is not a Kubernetes object: %v", err)
	}
	obj := native.(map[string]any)
	kind, _ := obj["kind"].(string)
	apiVersion, _ := obj["apiVersion"].(string)
	switch {
	case kind == "" || apiVersion == "":
		return types.NewErr("kstatus: the argument has no apiVersion and kind, so it is not a Kubernetes object")
	case strings.HasSuffix(kind, "List") && obj["items"] != nil:
		return types.NewErr("kstatus: the argument is a %s; take the status of each item: output.items.all(o, kstatus(o).status == \"Current\")", kind)
	}
	res, err := kstatus.Compute(&unstructured.Unstructured{Object: obj})
	if err != nil {
		return types.NewErr("kstatus: %s %s: %v", kind, name(obj), err)
	}
	return types.DefaultTypeAdapter.NativeToValue(map[string]any{
		"status":  string(res.Status),
		"message": res.Message,
	})
}

// name is an object's namespace/name for messages.
func name(obj map[string]any) string {
	md, _ := obj["metadata"].(map[string]any)
	n, _ := md["name"].(string)
	if ns, _ := md["namespace"].(string); ns != "" {
		return ns + "/" + n
	}
	return n
}

// kstatusPrice: kstatus reads the object (a map the run built converts to Go, and kstatus
// copies the parts it inspects), so it is priced as a traversal of the object: 0.1 per byte of
// its keys and strings and per 16-byte header of its other values, counted up to the limit.
func kstatusPrice(args []ref.Val) (price, bool) {
	if len(args) != 1 {
		return price{}, false
	}
	limit := uint64(float64(PerCallCostLimit) / traversalFactor)
	n := objectSize(args[0], limit)
	return price{satAdd(1, bytesCost(float64(n))), fmt.Sprintf("kstatus would read an object of %d bytes or more", n)}, true
}

// objectSize is the size of v in bytes as objectSize counts them (see kstatusPrice); it
// stops once past limit.
func objectSize(v ref.Val, limit uint64) uint64 {
	// A command's output or a value from vars is JSON data in Go, wrapped: walk the Go data,
	// which costs no CEL value per element.
	switch native := v.Value().(type) {
	case map[string]any:
		return nativeSize(native, limit)
	case []any:
		return nativeSize(native, limit)
	}
	switch x := v.(type) {
	case types.String:
		return uint64(len(x))
	case types.Bytes:
		return uint64(len(x))
	case traits.Mapper:
		n := uint64(elementBytes)
		it := x.Iterator()
		for it.HasNext() == types.True && n <= limit {
			k := it.Next()
			n = satAdd(n, objectSize(k, limit-n))
			if n <= limit {
				n = satAdd(n, objectSize(x.Get(k), limit-n))
			}
		}
		return n
	case traits.Lister:
		n := uint64(elementBytes)
		it := x.Iterator()
		for it.HasNext() == types.True && n <= limit {
			n = satAdd(n, objectSize(it.Next(), limit-n))
		}
		return n
	}
	return elementBytes
}

// nativeSize is objectSize for JSON data held in Go.
func nativeSize(v any, limit uint64) uint64 {
	switch x := v.(type) {
	case string:
		return uint64(len(x))
	case map[string]any:
		n := uint64(elementBytes)
		for k, e := range x {
			if n > limit {
				break
			}
			n = satAdd(n, satAdd(uint64(len(k)), nativeSize(e, limit-min(n, limit))))
		}
		return n
	case []any:
		n := uint64(elementBytes)
		for _, e := range x {
			if n > limit {
				break
			}
			n = satAdd(n, nativeSize(e, limit-n))
		}
		return n
	}
	return elementBytes
}
