package xmlrpc

import (
	"bytes"
	"strconv"
	"strings"
)

// parseCanonicalCall reads the plain form of a <methodCall> that nearly
// every client sends, without the general XML decoder (which spends about
// 35 ns per byte of text, most of a put's cost at the gateway): ASCII
// without entities, comments, CDATA, attributes or carriage returns, an
// optional plain XML declaration, <params> of <param><value>s that are
// <base64>, <int>, <i4>, <i8>, <string>, <boolean> 0 or 1, untyped text,
// or (shallow) arrays and structs of those. Anything else,
// including every malformed body, gives ok false and ParseMethodCall reads
// it with the full parser; where both read a body they give the same call
// (TestCanonicalCallAgrees, FuzzCanonicalCall).
func parseCanonicalCall(body []byte) (mc *MethodCall, ok bool) {
	s, ok := plainDocument(body)
	if !ok || !s.tag("<methodCall>") {
		return nil, false
	}
	s.ws()
	if !s.tag("<methodName>") {
		return nil, false
	}
	name := s.text()
	if len(name) > MaxMethodNameLen || !s.tag("</methodName>") {
		return nil, false
	}
	mc = &MethodCall{Method: strings.TrimSpace(name)}
	s.ws()
	if s.tag("<params>") {
		if mc.Params, ok = s.params(); !ok {
			return nil, false
		}
	}
	if !s.end("</methodCall>") {
		return nil, false
	}
	return mc, true
}

// parseCanonicalResponse is parseCanonicalCall for a <methodResponse>
// with <params> (a fault goes to the full parser).
func parseCanonicalResponse(body []byte) (mr *MethodResponse, ok bool) {
	s, ok := plainDocument(body)
	if !ok || !s.tag("<methodResponse>") {
		return nil, false
	}
	s.ws()
	if !s.tag("<params>") {
		return nil, false
	}
	mr = &MethodResponse{}
	if mr.Params, ok = s.params(); !ok || !s.end("</methodResponse>") {
		return nil, false
	}
	return mr, true
}

// plainDocument checks that body is plain (ASCII without entities,
// comments, CDATA or carriage returns) and skips an optional plain XML
// declaration.
func plainDocument(body []byte) (*scanner, bool) {
	for _, b := range body {
		if b >= 0x80 || b == '&' || (b < 0x20 && b != '\t' && b != '\n') {
			return nil, false
		}
	}
	if bytes.Contains(body, []byte("<!")) || bytes.Contains(body, []byte("]]>")) {
		return nil, false
	}
	s := &scanner{b: body}
	s.ws()
	if s.has("<?") {
		end := bytes.Index(s.b[s.i:], []byte("?>"))
		if end < 0 {
			return nil, false
		}
		switch string(s.b[s.i : s.i+end+2]) {
		case `<?xml version="1.0"?>`, `<?xml version='1.0'?>`,
			`<?xml version="1.0" encoding="UTF-8"?>`, `<?xml version="1.0" encoding="utf-8"?>`,
			`<?xml version='1.0' encoding='UTF-8'?>`, `<?xml version='1.0' encoding='utf-8'?>`:
		default:
			return nil, false
		}
		s.i += end + 2
		s.ws()
	}
	return s, true
}

type scanner struct {
	b      []byte
	i      int
	depth  int // arrays open
	values int // values read
}

func (s *scanner) ws() {
	for s.i < len(s.b) && (s.b[s.i] == ' ' || s.b[s.i] == '\t' || s.b[s.i] == '\n') {
		s.i++
	}
}

func (s *scanner) has(p string) bool { return bytes.HasPrefix(s.b[s.i:], []byte(p)) }

// tag consumes p if it comes next.
func (s *scanner) tag(p string) bool {
	if !s.has(p) {
		return false
	}
	s.i += len(p)
	return true
}

// text consumes the text up to the next '<'.
func (s *scanner) text() string {
	j := bytes.IndexByte(s.b[s.i:], '<')
	if j < 0 {
		j = len(s.b) - s.i
	}
	t := string(s.b[s.i : s.i+j])
	s.i += j
	return t
}

// params reads the <param><value>s that follow <params>, up to and
// including </params>.
func (s *scanner) params() ([]Value, bool) {
	var out []Value
	for {
		s.ws()
		if s.tag("</params>") {
			return out, true
		}
		if !s.tag("<param>") {
			return nil, false
		}
		s.ws()
		if !s.tag("<value>") {
			return nil, false
		}
		v, ok := s.value()
		if !ok {
			return nil, false
		}
		out = append(out, v)
		s.ws()
		if !s.tag("</param>") {
			return nil, false
		}
	}
}

// end consumes the closing tag of the root element, then whitespace to
// the end of the document.
func (s *scanner) end(closing string) bool {
	s.ws()
	if !s.tag(closing) {
		return false
	}
	s.ws()
	return s.i == len(s.b)
}

// value reads what follows <value>, up to and including </value>.
func (s *scanner) value() (Value, bool) {
	s.values++
	if s.values > MaxValues {
		return Value{}, false
	}
	t := s.text()
	if s.tag("</value>") {
		return Value{Kind: String, Str: t}, true // untyped: a string
	}
	if strings.Trim(t, " \t\n") != "" {
		return Value{}, false
	}
	var v Value
	switch {
	case s.tag("<base64>"):
		b, err := DecodeBase64(s.text())
		if err != nil || !s.tag("</base64>") {
			return Value{}, false
		}
		v = Value{Kind: Base64, Bytes: b}
	case s.tag("<array>"):
		s.depth++
		if s.depth >= MaxDepth/2 {
			return Value{}, false
		}
		s.ws()
		if !s.tag("<data>") {
			return Value{}, false
		}
		v = Value{Kind: Array, Array: []Value{}}
		for {
			s.ws()
			if s.tag("</data>") {
				break
			}
			if !s.tag("<value>") {
				return Value{}, false
			}
			e, ok := s.value()
			if !ok {
				return Value{}, false
			}
			v.Array = append(v.Array, e)
		}
		s.ws()
		if !s.tag("</array>") {
			return Value{}, false
		}
		s.depth--
	case s.tag("<struct>"):
		// A shallow struct, as in a cas or read reply: members of a name
		// then a value.
		s.depth++
		if s.depth >= MaxDepth/2 {
			return Value{}, false
		}
		v = Value{Kind: Struct, Members: []Member{}}
		for {
			s.ws()
			if s.tag("</struct>") {
				break
			}
			if !s.tag("<member>") {
				return Value{}, false
			}
			s.ws()
			if !s.tag("<name>") {
				return Value{}, false
			}
			m := Member{Name: s.text()}
			if !s.tag("</name>") {
				return Value{}, false
			}
			s.ws()
			if !s.tag("<value>") {
				return Value{}, false
			}
			var ok bool
			if m.Value, ok = s.value(); !ok {
				return Value{}, false
			}
			s.ws()
			if !s.tag("</member>") {
				return Value{}, false
			}
			v.Members = append(v.Members, m)
		}
		s.depth--
	case s.tag("<boolean>"):
		switch t := strings.Trim(s.text(), " \t\n"); t {
		case "0", "1":
			v = Value{Kind: Bool, Bool: t == "1"}
		default:
			return Value{}, false
		}
		if !s.tag("</boolean>") {
			return Value{}, false
		}
	case s.tag("<string>"):
		v = Value{Kind: String, Str: s.text()}
		if !s.tag("</string>") {
			return Value{}, false
		}
	default:
		var closing string
		switch {
		case s.tag("<int>"):
			closing = "</int>"
		case s.tag("<i4>"):
			closing = "</i4>"
		case s.tag("<i8>"):
			closing = "</i8>"
		default:
			return Value{}, false
		}
		t := s.text()
		if len(t) > 64 || !s.tag(closing) {
			return Value{}, false
		}
		i, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(t), "+"), 10, 64)
		if err != nil {
			return Value{}, false
		}
		v = Value{Kind: Int, Int: i}
	}
	s.ws()
	return v, s.tag("</value>")
}
