package xmlrpc

import (
	"bytes"
	"encoding/base64"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"math"
	"strconv"
	"strings"
	"unicode/utf8"
)

// Parser limits. The HTTP layer bounds the body (Config.MaxBodyBytes); these
// bound what one body may make the parser build, so a small hostile body
// cannot cost much more memory than its own size.
const (
	// MaxDepth is the deepest nesting of arrays and structs accepted. The
	// deepest legitimate request (none) and response (get_details: three
	// levels) are far below it.
	MaxDepth = 16
	// MaxValues is the most values (scalars, arrays, structs) one message
	// may hold. A get_details reply of 1024 one-byte values holds about
	// 5000; no request holds more than six.
	MaxValues = 1 << 14
	// MaxMethodNameLen is the longest method name accepted, in bytes.
	MaxMethodNameLen = 256
	// maxDoubleLen is the longest <double> text accepted: the spec forbids
	// exponents, so the smallest denormal takes over 320 digits.
	maxDoubleLen = 400
)

// ErrMalformed is wrapped by every parse error: the body is not an
// XML-RPC message this package understands.
var ErrMalformed = errors.New("xmlrpc: malformed message")

// Kind is the XML-RPC type of a Value.
type Kind int

// The XML-RPC types. A <value> without a type element is a String (the
// XML-RPC specification says so and old clients relied on it).
const (
	String Kind = iota
	Base64
	Int
	Bool
	Double
	Array
	Struct
	Nil
	DateTime
)

func (k Kind) String() string {
	switch k {
	case String:
		return "string"
	case Base64:
		return "base64"
	case Int:
		return "int"
	case Bool:
		return "boolean"
	case Double:
		return "double"
	case Array:
		return "array"
	case Struct:
		return "struct"
	case Nil:
		return "nil"
	case DateTime:
		return "dateTime.iso8601"
	}
	return fmt.Sprintf("kind(%d)", int(k))
}

// Value is one XML-RPC value. Only the fields of its Kind are set: Str for
// String and DateTime, Bytes for Base64, Int for Int, Bool for Bool, Double
// for Double, Array for Array, Members for Struct.
type Value struct {
	Kind    Kind
	Str     string
	Bytes   []byte
	Int     int64
	Bool    bool
	Double  float64
	Array   []Value
	Members []Member
}

// Member is one named member of a struct, in document order.
type Member struct {
	Name  string
	Value Value
}

// Constructors for the values the gateway answers with.

// StringValue returns a <string>.
func StringValue(s string) Value { return Value{Kind: String, Str: s} }

// Base64Value returns a <base64>; nil is encoded as empty.
func Base64Value(b []byte) Value { return Value{Kind: Base64, Bytes: b} }

// IntValue returns an <int>.
func IntValue(i int64) Value { return Value{Kind: Int, Int: i} }

// ArrayValue returns an <array>.
func ArrayValue(vs ...Value) Value { return Value{Kind: Array, Array: vs} }

// MethodCall is a parsed <methodCall>.
type MethodCall struct {
	Method string
	Params []Value
}

// MethodResponse is a parsed <methodResponse>: either Params or a Fault.
type MethodResponse struct {
	Params []Value
	Fault  *Fault
}

// Fault is an XML-RPC fault: a numeric code and a text saying what is wrong.
type Fault struct {
	Code   int64
	String string
}

func (f *Fault) Error() string { return fmt.Sprintf("xmlrpc fault %d: %s", f.Code, f.String) }

// ParseMethodCall parses a <methodCall>. It is liberal in what it accepts,
// as the original gateway had to be: <param> elements without a <params>
// wrapper, values without a type element (strings), whitespace anywhere
// between elements, base64 with embedded newlines, <i4>, <i8> and <int>,
// and a Latin-1 declared encoding.
func ParseMethodCall(body []byte) (*MethodCall, error) {
	if mc, ok := parseCanonicalCall(body); ok {
		return mc, nil
	}
	return parseMethodCallXML(body)
}

// parseMethodCallXML is ParseMethodCall with the general XML decoder.
func parseMethodCallXML(body []byte) (*MethodCall, error) {
	p := newParser(body)
	var mc MethodCall
	gotName := false
	err := p.document("methodCall", func(t xml.StartElement) error {
		if t.Name.Local == "methodName" {
			s, err := p.text(MaxMethodNameLen)
			mc.Method, gotName = strings.TrimSpace(s), err == nil
			return err
		}
		ps, err := p.paramsIn(t, "methodCall")
		mc.Params = append(mc.Params, ps...)
		return err
	})
	switch {
	case err != nil:
		return nil, err
	case !gotName:
		return nil, p.errorf("no <methodName>")
	}
	return &mc, p.trailer()
}

// ParseMethodResponse parses a <methodResponse>, with the same liberality
// as ParseMethodCall. A fault is returned in MethodResponse.Fault, not as
// an error.
func ParseMethodResponse(body []byte) (*MethodResponse, error) {
	if mr, ok := parseCanonicalResponse(body); ok {
		return mr, nil
	}
	return parseMethodResponseXML(body)
}

// parseMethodResponseXML is ParseMethodResponse with the general XML
// decoder.
func parseMethodResponseXML(body []byte) (*MethodResponse, error) {
	p := newParser(body)
	var mr MethodResponse
	err := p.document("methodResponse", func(t xml.StartElement) error {
		if t.Name.Local == "fault" {
			f, err := p.fault()
			mr.Fault = f
			return err
		}
		ps, err := p.paramsIn(t, "methodResponse")
		mr.Params = append(mr.Params, ps...)
		return err
	})
	if err != nil {
		return nil, err
	}
	return &mr, p.trailer()
}

type parser struct {
	d      *xml.Decoder
	values int
	depth  int
}

func newParser(body []byte) *parser {
	d := xml.NewDecoder(bytes.NewReader(body))
	d.Strict = false // unknown entities and sloppy markup from old clients
	d.CharsetReader = charsetReader
	return &parser{d: d}
}

// charsetReader accepts the encodings old clients declared. Latin-1 is
// converted; anything ASCII-compatible is read as UTF-8.
func charsetReader(label string, in io.Reader) (io.Reader, error) {
	switch strings.ToLower(label) {
	case "iso-8859-1", "iso8859-1", "latin1", "latin-1", "l1":
		b, err := io.ReadAll(in) // already bounded by the body size
		if err != nil {
			return nil, err
		}
		var out []byte
		for _, c := range b {
			out = utf8.AppendRune(out, rune(c))
		}
		return bytes.NewReader(out), nil
	}
	return in, nil
}

func (p *parser) errorf(format string, args ...any) error {
	return fmt.Errorf("%w: %s", ErrMalformed, fmt.Sprintf(format, args...))
}

// next returns the next start or end element, skipping whitespace,
// comments, processing instructions and directives. Non-blank text between
// elements is an error.
func (p *parser) next() (xml.Token, error) {
	for {
		tok, err := p.d.Token()
		if err == io.EOF {
			return nil, p.errorf("unexpected end of message")
		}
		if err != nil {
			return nil, p.errorf("%v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement, xml.EndElement:
			return t, nil
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return nil, p.errorf("unexpected text %q", truncate(string(t)))
			}
		}
	}
}

func (p *parser) nextStart() (xml.StartElement, error) {
	tok, err := p.next()
	if err != nil {
		return xml.StartElement{}, err
	}
	s, ok := tok.(xml.StartElement)
	if !ok {
		return xml.StartElement{}, p.errorf("unexpected end element")
	}
	return s, nil
}

// trailer checks that only blanks, comments and the like follow the root.
func (p *parser) trailer() error {
	for {
		tok, err := p.d.Token()
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return p.errorf("%v", err)
		}
		switch t := tok.(type) {
		case xml.StartElement, xml.EndElement:
			return p.errorf("content after the root element")
		case xml.CharData:
			if len(bytes.TrimSpace(t)) != 0 {
				return p.errorf("text after the root element")
			}
		}
	}
}

// text reads character data up to the end of the current element. An
// element inside is an error.
func (p *parser) text(limit int) (string, error) {
	var b strings.Builder
	for {
		tok, err := p.d.Token()
		if err != nil {
			return "", p.errorf("%v", err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			if limit > 0 && b.Len()+len(t) > limit {
				return "", p.errorf("text longer than %d bytes", limit)
			}
			b.Write(t)
		case xml.StartElement:
			return "", p.errorf("unexpected <%s> in text", t.Name.Local)
		case xml.EndElement:
			return b.String(), nil
		}
	}
}

// skipEmpty consumes the end of an element that must have no content
// (for <nil/>).
func (p *parser) skipEmpty() error {
	tok, err := p.next()
	if err != nil {
		return err
	}
	if _, ok := tok.(xml.EndElement); !ok {
		return p.errorf("element must be empty")
	}
	return nil
}

// document reads the root element, which must be <name>, and hands the
// start of each element in it to child, which reads that element.
func (p *parser) document(name string, child func(xml.StartElement) error) error {
	start, err := p.nextStart()
	if err != nil {
		return err
	}
	if start.Name.Local != name {
		return p.errorf("root element is <%s>, want <%s>", start.Name.Local, name)
	}
	for {
		tok, err := p.next()
		if err != nil {
			return err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return nil
		case xml.StartElement:
			if err := child(t); err != nil {
				return err
			}
		}
	}
}

// paramsIn reads the values of a <params> element whose start t was
// consumed, or the one of a bare <param> (sloppy clients send no <params>
// wrapper); any other element of the root element in is an error.
func (p *parser) paramsIn(t xml.StartElement, in string) ([]Value, error) {
	switch t.Name.Local {
	case "params":
		return p.params()
	case "param":
		v, err := p.param()
		if err != nil {
			return nil, err
		}
		return []Value{v}, nil
	}
	return nil, p.errorf("unexpected <%s> in <%s>", t.Name.Local, in)
}

// params reads <param> elements (or, liberally, bare <value> elements) up
// to </params>.
func (p *parser) params() ([]Value, error) {
	var vs []Value
	for {
		tok, err := p.next()
		if err != nil {
			return nil, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return vs, nil
		case xml.StartElement:
			var v Value
			switch t.Name.Local {
			case "param":
				v, err = p.param()
			case "value":
				v, err = p.value()
			default:
				return nil, p.errorf("unexpected <%s> in <params>", t.Name.Local)
			}
			if err != nil {
				return nil, err
			}
			vs = append(vs, v)
		}
	}
}

// param reads the <value> of a <param> and its end.
func (p *parser) param() (Value, error) {
	s, err := p.nextStart()
	if err != nil {
		return Value{}, err
	}
	if s.Name.Local != "value" {
		return Value{}, p.errorf("unexpected <%s> in <param>", s.Name.Local)
	}
	v, err := p.value()
	if err != nil {
		return Value{}, err
	}
	tok, err := p.next()
	if err != nil {
		return Value{}, err
	}
	if _, ok := tok.(xml.EndElement); !ok {
		return Value{}, p.errorf("more than one <value> in <param>")
	}
	return v, nil
}

// value reads the content of a <value> (its start already consumed) and
// its end.
func (p *parser) value() (Value, error) {
	p.values++
	if p.values > MaxValues {
		return Value{}, p.errorf("more than %d values", MaxValues)
	}
	var text strings.Builder
	for {
		tok, err := p.d.Token()
		if err != nil {
			return Value{}, p.errorf("%v", err)
		}
		switch t := tok.(type) {
		case xml.CharData:
			text.Write(t)
		case xml.EndElement:
			// No type element: a string.
			return Value{Kind: String, Str: text.String()}, nil
		case xml.StartElement:
			if len(strings.TrimSpace(text.String())) != 0 {
				return Value{}, p.errorf("text and <%s> mixed in <value>", t.Name.Local)
			}
			v, err := p.typed(t.Name.Local)
			if err != nil {
				return Value{}, err
			}
			tok, err := p.next()
			if err != nil {
				return Value{}, err
			}
			if _, ok := tok.(xml.EndElement); !ok {
				return Value{}, p.errorf("more than one type element in <value>")
			}
			return v, nil
		}
	}
}

// typed reads a type element whose start (named name) was consumed.
func (p *parser) typed(name string) (Value, error) {
	switch name {
	case "string":
		s, err := p.text(0)
		return Value{Kind: String, Str: s}, err
	case "base64":
		s, err := p.text(0)
		if err != nil {
			return Value{}, err
		}
		b, err := DecodeBase64(s)
		if err != nil {
			return Value{}, p.errorf("%v", err)
		}
		return Value{Kind: Base64, Bytes: b}, nil
	case "int", "i4", "i8":
		s, err := p.text(64)
		if err != nil {
			return Value{}, err
		}
		i, err := strconv.ParseInt(strings.TrimPrefix(strings.TrimSpace(s), "+"), 10, 64)
		if err != nil {
			return Value{}, p.errorf("bad <%s> %q", name, truncate(s))
		}
		return Value{Kind: Int, Int: i}, nil
	case "boolean":
		s, err := p.text(64)
		if err != nil {
			return Value{}, err
		}
		switch strings.ToLower(strings.TrimSpace(s)) {
		case "1", "true":
			return Value{Kind: Bool, Bool: true}, nil
		case "0", "false":
			return Value{Kind: Bool, Bool: false}, nil
		}
		return Value{}, p.errorf("bad <boolean> %q", truncate(s))
	case "double":
		s, err := p.text(maxDoubleLen)
		if err != nil {
			return Value{}, err
		}
		f, err := strconv.ParseFloat(strings.TrimSpace(s), 64)
		if err != nil || math.IsNaN(f) || math.IsInf(f, 0) {
			return Value{}, p.errorf("bad <double> %q", truncate(s))
		}
		return Value{Kind: Double, Double: f}, nil
	case "dateTime.iso8601":
		s, err := p.text(64)
		return Value{Kind: DateTime, Str: strings.TrimSpace(s)}, err
	case "nil":
		return Value{Kind: Nil}, p.skipEmpty()
	case "array":
		return p.array()
	case "struct":
		return p.structure()
	}
	return Value{}, p.errorf("unknown type <%s>", name)
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.errorf("nested deeper than %d", MaxDepth)
	}
	return nil
}

// array reads <data><value>...</value>...</data></array>; liberally, the
// <data> wrapper may be missing.
func (p *parser) array() (Value, error) {
	if err := p.enter(); err != nil {
		return Value{}, err
	}
	defer func() { p.depth-- }()
	v := Value{Kind: Array, Array: []Value{}}
	inData := false
	for {
		tok, err := p.next()
		if err != nil {
			return Value{}, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if inData {
				inData = false
				continue
			}
			return v, nil
		case xml.StartElement:
			switch {
			case t.Name.Local == "data" && !inData:
				inData = true
			case t.Name.Local == "value":
				e, err := p.value()
				if err != nil {
					return Value{}, err
				}
				v.Array = append(v.Array, e)
			default:
				return Value{}, p.errorf("unexpected <%s> in <array>", t.Name.Local)
			}
		}
	}
}

// structure reads <member><name/><value/></member>... up to </struct>.
func (p *parser) structure() (Value, error) {
	if err := p.enter(); err != nil {
		return Value{}, err
	}
	defer func() { p.depth-- }()
	v := Value{Kind: Struct, Members: []Member{}}
	for {
		tok, err := p.next()
		if err != nil {
			return Value{}, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			return v, nil
		case xml.StartElement:
			if t.Name.Local != "member" {
				return Value{}, p.errorf("unexpected <%s> in <struct>", t.Name.Local)
			}
			m, err := p.member()
			if err != nil {
				return Value{}, err
			}
			v.Members = append(v.Members, m)
		}
	}
}

func (p *parser) member() (Member, error) {
	var m Member
	gotName, gotValue := false, false
	for {
		tok, err := p.next()
		if err != nil {
			return m, err
		}
		switch t := tok.(type) {
		case xml.EndElement:
			if !gotName || !gotValue {
				return m, p.errorf("<member> needs a <name> and a <value>")
			}
			return m, nil
		case xml.StartElement:
			switch {
			case t.Name.Local == "name" && !gotName:
				s, err := p.text(0)
				if err != nil {
					return m, err
				}
				m.Name, gotName = s, true
			case t.Name.Local == "value" && !gotValue:
				v, err := p.value()
				if err != nil {
					return m, err
				}
				m.Value, gotValue = v, true
			default:
				return m, p.errorf("unexpected <%s> in <member>", t.Name.Local)
			}
		}
	}
}

// fault reads <value><struct>faultCode, faultString</struct></value>.
func (p *parser) fault() (*Fault, error) {
	s, err := p.nextStart()
	if err != nil {
		return nil, err
	}
	if s.Name.Local != "value" {
		return nil, p.errorf("unexpected <%s> in <fault>", s.Name.Local)
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	if err := p.skipEmpty(); err != nil {
		return nil, err
	}
	if v.Kind != Struct {
		return nil, p.errorf("fault is a %v, want a struct", v.Kind)
	}
	f := &Fault{}
	for _, m := range v.Members {
		switch m.Name {
		case "faultCode":
			f.Code = m.Value.Int
		case "faultString":
			f.String = m.Value.Str
		}
	}
	return f, nil
}

// DecodeBase64 decodes standard base64, ignoring whitespace anywhere (Python's
// xmlrpc.client wraps lines at 76 characters) and accepting missing padding.
func DecodeBase64(s string) ([]byte, error) {
	clean := strings.Map(func(r rune) rune {
		switch r {
		case ' ', '\t', '\n', '\r', '\f', '\v':
			return -1
		}
		return r
	}, s)
	clean = strings.TrimRight(clean, "=")
	b, err := base64.RawStdEncoding.DecodeString(clean)
	if err != nil {
		return nil, fmt.Errorf("invalid base64: %w", err)
	}
	return b, nil
}

func truncate(s string) string {
	const n = 40
	if len(s) > n {
		return s[:n] + "..."
	}
	return s
}

// EncodeMethodCall writes a <methodCall>. Clients in tests use it; the
// server never does.
func EncodeMethodCall(mc *MethodCall) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<methodCall><methodName>")
	escape(&b, mc.Method)
	b.WriteString("</methodName><params>")
	for _, v := range mc.Params {
		b.WriteString("<param>")
		encodeValue(&b, v)
		b.WriteString("</param>")
	}
	b.WriteString("</params></methodCall>\n")
	return b.Bytes()
}

// EncodeResponse writes a <methodResponse> holding one value.
func EncodeResponse(v Value) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<methodResponse><params><param>")
	encodeValue(&b, v)
	b.WriteString("</param></params></methodResponse>\n")
	return b.Bytes()
}

// EncodeFault writes a <methodResponse> holding a fault.
func EncodeFault(f *Fault) []byte {
	var b bytes.Buffer
	b.WriteString(xml.Header)
	b.WriteString("<methodResponse><fault>")
	encodeValue(&b, Value{Kind: Struct, Members: []Member{
		{Name: "faultCode", Value: IntValue(f.Code)},
		{Name: "faultString", Value: StringValue(f.String)},
	}})
	b.WriteString("</fault></methodResponse>\n")
	return b.Bytes()
}

func escape(b *bytes.Buffer, s string) {
	// EscapeText also escapes \r and \n, so text survives a round trip.
	_ = xml.EscapeText(b, []byte(s)) // writes to a bytes.Buffer never fail
}

func encodeValue(b *bytes.Buffer, v Value) {
	b.WriteString("<value>")
	switch v.Kind {
	case String:
		b.WriteString("<string>")
		escape(b, v.Str)
		b.WriteString("</string>")
	case DateTime:
		b.WriteString("<dateTime.iso8601>")
		escape(b, v.Str)
		b.WriteString("</dateTime.iso8601>")
	case Base64:
		b.WriteString("<base64>")
		b.WriteString(base64.StdEncoding.EncodeToString(v.Bytes))
		b.WriteString("</base64>")
	case Int:
		if v.Int >= math.MinInt32 && v.Int <= math.MaxInt32 {
			fmt.Fprintf(b, "<int>%d</int>", v.Int)
		} else {
			fmt.Fprintf(b, "<i8>%d</i8>", v.Int)
		}
	case Bool:
		if v.Bool {
			b.WriteString("<boolean>1</boolean>")
		} else {
			b.WriteString("<boolean>0</boolean>")
		}
	case Double:
		b.WriteString("<double>")
		b.WriteString(strconv.FormatFloat(v.Double, 'f', -1, 64))
		b.WriteString("</double>")
	case Nil:
		b.WriteString("<nil/>")
	case Array:
		b.WriteString("<array><data>")
		for _, e := range v.Array {
			encodeValue(b, e)
		}
		b.WriteString("</data></array>")
	case Struct:
		b.WriteString("<struct>")
		for _, m := range v.Members {
			b.WriteString("<member><name>")
			escape(b, m.Name)
			b.WriteString("</name>")
			encodeValue(b, m.Value)
			b.WriteString("</member>")
		}
		b.WriteString("</struct>")
	default:
		panic(fmt.Sprintf("xmlrpc: encoding a value of unknown kind %d", int(v.Kind)))
	}
	b.WriteString("</value>")
}
