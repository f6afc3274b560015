package cli

import (
	"fmt"
	"strings"
	"unicode/utf8"
)

// Text that preflight prints comes partly from elsewhere: command output and errors, the
// spec's messages and ids, node names, a recorded decision. A terminal acts on the control
// characters in it: ESC [ 2K erases a line, ESC [ 1A moves up, so output could erase its own
// FAIL line and print a fake "Gate: pass". Every such text is printed through safeText or
// oneLine, which show control characters escaped: C0 and DEL as \x1b, C1 as \u009b, bytes
// that are not UTF-8 as \xff, and the Unicode line separators and bidi overrides (which
// reorder or break what is shown) as \u202e.

// safeText returns s with every control character shown escaped. With layout, newlines and
// tabs are kept (multi-line error messages); without, they are escaped too.
func safeText(s string, layout bool) string {
	if isSafe(s, layout) {
		return s
	}
	var b strings.Builder
	b.Grow(len(s) + 16)
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case (r == '\n' || r == '\t') && layout:
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case isUnsafeRune(r):
			fmt.Fprintf(&b, `\u%04x`, r)
		default:
			b.WriteString(s[i : i+n])
		}
		i += n
	}
	return b.String()
}

// isSafe reports whether s holds nothing safeText would change.
func isSafe(s string, layout bool) bool {
	ascii := true
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 0x80:
			ascii = false
		case c == '\n' || c == '\t':
			if !layout {
				return false
			}
		case c < 0x20 || c == 0x7f:
			return false
		}
	}
	if ascii {
		return true
	}
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && n == 1) || isUnsafeRune(r) {
			return false
		}
		i += n
	}
	return true
}

// isUnsafeRune reports the non-ASCII runes shown escaped: C1 controls (U+0080-U+009F:
// U+009B is a one-character CSI), line and paragraph separators, and bidi controls.
func isUnsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x2028 || r == 0x2029:
		return true
	case r >= 0x202a && r <= 0x202e, r >= 0x2066 && r <= 0x2069, r == 0x200e || r == 0x200f, r == 0x061c:
		return true
	}
	return false
}

// escapeJSONControls escapes, in JSON that encoding/json produced, the C1 controls and DEL
// that it leaves raw (it escapes C0 and invalid UTF-8 itself). They can only occur inside
// strings, where \u0080 means the same character.
func escapeJSONControls(b []byte) []byte {
	clean := true
	for i := 0; i < len(b); i++ {
		if b[i] == 0x7f || (b[i] == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f) {
			clean = false
			break
		}
	}
	if clean {
		return b
	}
	out := make([]byte, 0, len(b)+32)
	for i := 0; i < len(b); i++ {
		switch {
		case b[i] == 0x7f:
			out = append(out, `\u007f`...)
		case b[i] == 0xc2 && i+1 < len(b) && b[i+1] >= 0x80 && b[i+1] <= 0x9f:
			out = fmt.Appendf(out, `\u%04x`, b[i+1])
			i++
		default:
			out = append(out, b[i])
		}
	}
	return out
}
