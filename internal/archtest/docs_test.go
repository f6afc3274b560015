package archtest

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"unicode"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// maxReadmeLines is the README's budget: a front door, with the reference in docs/.
const maxReadmeLines = 300

// TestReadmeIsShort keeps the README a front door.
func TestReadmeIsShort(t *testing.T) {
	root := moduleRoot(t)
	text := readFile(t, filepath.Join(root, "README.md"))
	n := strings.Count(text, "\n")
	if !strings.HasSuffix(text, "\n") {
		n++
	}
	assert.LessOrEqual(t, n, maxReadmeLines, "README.md has %d lines; move reference material to docs/", n)
}

// TestDocsHaveContents checks that every page under docs/ has a table of contents.
func TestDocsHaveContents(t *testing.T) {
	root := moduleRoot(t)
	pages := docPages(t, root)
	require.NotEmpty(t, pages, "docs/ must hold the reference pages")
	for _, page := range pages {
		rel, _ := filepath.Rel(root, page)
		found := false
		for _, h := range headings(readFile(t, page)) {
			if h.level == 2 && h.text == "Contents" {
				found = true
			}
		}
		assert.True(t, found, "%s has no \"## Contents\" section", rel)
	}
}

// TestDocLinks checks every relative link of README.md and docs/*.md: the file it names
// exists and, for a link with a #fragment to a Markdown file, that file has a heading with
// that anchor.
func TestDocLinks(t *testing.T) {
	root := moduleRoot(t)
	files := append([]string{filepath.Join(root, "README.md")}, docPages(t, root)...)
	anchors := map[string]map[string]bool{}
	anchorsOf := func(path string) map[string]bool {
		if a, ok := anchors[path]; ok {
			return a
		}
		a := headingAnchors(headings(readFile(t, path)))
		anchors[path] = a
		return a
	}
	checked := 0
	for _, file := range files {
		rel, _ := filepath.Rel(root, file)
		for _, l := range markdownLinks(readFile(t, file)) {
			if isExternal(l.target) {
				continue
			}
			checked++
			path, fragment, _ := strings.Cut(l.target, "#")
			target := file
			if path != "" {
				target = filepath.Join(filepath.Dir(file), filepath.FromSlash(path))
				if _, err := os.Stat(target); err != nil {
					assert.Fail(t, "broken link", "%s:%d: %q: %s does not exist", rel, l.line, l.target, path)
					continue
				}
			}
			if fragment == "" {
				continue
			}
			if !strings.HasSuffix(target, ".md") {
				assert.Fail(t, "anchor to a non-Markdown file", "%s:%d: %q", rel, l.line, l.target)
				continue
			}
			assert.True(t, anchorsOf(target)[fragment], "%s:%d: %q: no heading with anchor #%s in %s",
				rel, l.line, l.target, fragment, filepath.Base(target))
		}
	}
	require.NotZero(t, checked, "the walk must find the documentation's relative links")
}

// TestSlug pins the anchor rules the link check relies on, GitHub's.
func TestSlug(t *testing.T) {
	for heading, want := range map[string]string{
		"Retry, depends_on and the decision":              "retry-depends_on-and-the-decision",
		"`disk_space_available`, `disk_space_total`":      "disk_space_available-disk_space_total",
		"1. Only when upgrading, and only from some ones": "1-only-when-upgrading-and-only-from-some-ones",
		"Measured on this project's machine":              "measured-on-this-projects-machine",
		"Fan-out":                                         "fan-out",
		"[Links](x.md) are *text*":                        "links-are-text",
		"`_private` and _emphasis_":                       "_private-and-emphasis",
	} {
		assert.Equal(t, want, slug(heading), heading)
	}
	a := headingAnchors([]heading{{2, "Limits"}, {2, "Limits"}, {3, "Limits"}})
	assert.Equal(t, map[string]bool{"limits": true, "limits-1": true, "limits-2": true}, a)
}

func moduleRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../..")
	require.NoError(t, err)
	_, err = os.Stat(filepath.Join(root, "go.mod"))
	require.NoError(t, err, "the module root must hold go.mod")
	return root
}

func docPages(t *testing.T, root string) []string {
	t.Helper()
	pages, err := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	require.NoError(t, err)
	return pages
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	require.NoError(t, err)
	return string(b)
}

type heading struct {
	level int
	text  string
}

type link struct {
	line   int
	target string
}

var (
	atxHeading = regexp.MustCompile(`^(#{1,6})\s+(.*?)\s*#*\s*$`)
	codeSpan   = regexp.MustCompile("`+[^`]*`+")
	// inlineLink matches [text](target) and ![alt](target), with an optional "title".
	inlineLink = regexp.MustCompile(`!?\[[^\]]*\]\(\s*<?([^)\s>]*)>?(?:\s+"[^"]*")?\s*\)`)
	mdLink     = regexp.MustCompile(`!?\[([^\]]*)\]\([^)]*\)`)
	emphasis   = regexp.MustCompile(`(^|[^\p{L}\p{N}])[*_]+|[*_]+($|[^\p{L}\p{N}])`)
)

// lines returns the lines of a Markdown text outside fenced code blocks, with their numbers.
func lines(text string) (out []string, nums []int) {
	fence := ""
	for i, l := range strings.Split(text, "\n") {
		trimmed := strings.TrimLeft(l, " ")
		if fence != "" {
			if strings.HasPrefix(trimmed, fence) && strings.Trim(trimmed, fence[:1]) == "" {
				fence = ""
			}
			continue
		}
		if strings.HasPrefix(trimmed, "```") || strings.HasPrefix(trimmed, "~~~") {
			fence = trimmed[:3]
			continue
		}
		out = append(out, l)
		nums = append(nums, i+1)
	}
	return out, nums
}

func headings(text string) []heading {
	var out []heading
	ls, _ := lines(text)
	for _, l := range ls {
		if m := atxHeading.FindStringSubmatch(l); m != nil {
			out = append(out, heading{len(m[1]), m[2]})
		}
	}
	return out
}

func markdownLinks(text string) []link {
	var out []link
	ls, nums := lines(text)
	for i, l := range ls {
		l = codeSpan.ReplaceAllString(l, "")
		for _, m := range inlineLink.FindAllStringSubmatch(l, -1) {
			out = append(out, link{nums[i], m[1]})
		}
	}
	return out
}

func isExternal(target string) bool {
	return target == "" || strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:")
}

// slug is GitHub's anchor for a heading: the rendered text, lowercased, without punctuation
// other than '-' and '_', spaces turned into '-'.
func slug(h string) string {
	h = mdLink.ReplaceAllString(h, "$1")
	// Emphasis markers are not text; inside code spans they are.
	parts := strings.Split(h, "`")
	for i := 0; i < len(parts); i += 2 {
		parts[i] = emphasis.ReplaceAllString(parts[i], "$1$2")
	}
	h = strings.Join(parts, "")
	var b strings.Builder
	for _, r := range strings.ToLower(h) {
		switch {
		case r == ' ':
			b.WriteRune('-')
		case r == '-' || r == '_' || unicode.IsLetter(r) || unicode.IsDigit(r) || unicode.Is(unicode.Mn, r):
			b.WriteRune(r)
		}
	}
	return b.String()
}

// headingAnchors returns the anchors of a page's headings; repeated ones get -1, -2, ...
func headingAnchors(hs []heading) map[string]bool {
	seen := map[string]int{}
	out := map[string]bool{}
	for _, h := range hs {
		s := slug(h.text)
		if n := seen[s]; n > 0 {
			out[s+"-"+strconv.Itoa(n)] = true
		} else {
			out[s] = true
		}
		seen[s]++
	}
	return out
}
