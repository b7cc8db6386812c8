package latch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/alexedwards/scs/v2"
)

// Codec is latch's [scs.Codec]: a compact binary encoding of session values
// that decodes without reflection, so loading a session on every request
// stays cheap. Strings, byte slices, booleans, signed integers, float64
// and time.Time values are encoded natively. A session holding any other
// type is encoded whole with [scs.GobCodec], so applications sharing the
// session manager may store what gob can encode. Register such types with
// gob.Register, as scs requires.
//
// Decoded byte slices are copies, never views of the stored bytes, except
// the values of latch's own "latch." keys, which latch only reads.
type Codec struct{}

var _ scs.Codec = Codec{}

// The first byte of an encoded session names the format that follows.
const (
	codecVersion byte = 0x4c // 'L': the native format below
	codecGob     byte = 0x47 // 'G': scs.GobCodec
)

// Value tags of the native format.
const (
	tagString byte = iota + 1
	tagBytes
	tagTrue
	tagFalse
	tagInt64
	tagInt
	tagFloat64
	tagTime
)

// maxCodecEntries bounds the number of values a stored session may claim
// to hold, so a corrupt record cannot make Decode allocate without limit.
const maxCodecEntries = 1 << 16

var errCorruptSession = errors.New("latch: corrupt session data")

// Encode implements [scs.Codec].
func (Codec) Encode(deadline time.Time, values map[string]any) ([]byte, error) {
	size := 1 + binary.MaxVarintLen64 + binary.MaxVarintLen64
	for k, v := range values {
		n, ok := encodedSize(v)
		if !ok {
			return encodeGob(deadline, values)
		}
		size += binary.MaxVarintLen64 + len(k) + n
	}

	b := make([]byte, 0, size)
	b = append(b, codecVersion)
	b = binary.AppendVarint(b, deadline.UnixNano())
	b = binary.AppendUvarint(b, uint64(len(values)))
	for k, v := range values {
		b = appendBytes(b, k)
		b = appendValue(b, v)
	}
	return b, nil
}

func encodeGob(deadline time.Time, values map[string]any) ([]byte, error) {
	g, err := scs.GobCodec{}.Encode(deadline, values)
	if err != nil {
		return nil, err
	}
	return append([]byte{codecGob}, g...), nil
}

// encodedSize returns an upper bound of the encoded size of v, and false
// when the native format cannot hold v.
func encodedSize(v any) (int, bool) {
	switch v := v.(type) {
	case string:
		return 1 + binary.MaxVarintLen64 + len(v), true
	case []byte:
		return 1 + binary.MaxVarintLen64 + len(v), true
	case bool:
		return 1, true
	case int64, int, float64, time.Time:
		return 1 + binary.MaxVarintLen64, true
	}
	return 0, false
}

func appendBytes[T string | []byte](b []byte, s T) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func appendValue(b []byte, v any) []byte {
	switch v := v.(type) {
	case string:
		b = append(b, tagString)
		return appendBytes(b, v)
	case []byte:
		b = append(b, tagBytes)
		return appendBytes(b, v)
	case bool:
		if v {
			return append(b, tagTrue)
		}
		return append(b, tagFalse)
	case int64:
		return binary.AppendVarint(append(b, tagInt64), v)
	case int:
		return binary.AppendVarint(append(b, tagInt), int64(v))
	case float64:
		return binary.AppendUvarint(append(b, tagFloat64), math.Float64bits(v))
	case time.Time:
		return binary.AppendVarint(append(b, tagTime), v.UnixNano())
	}
	panic(fmt.Sprintf("latch: codec cannot encode %T", v)) // encodedSize admitted it
}

// Decode implements [scs.Codec].
func (Codec) Decode(b []byte) (time.Time, map[string]any, error) {
	if len(b) == 0 {
		return time.Time{}, nil, errCorruptSession
	}
	switch b[0] {
	case codecGob:
		return scs.GobCodec{}.Decode(b[1:])
	case codecVersion:
	default:
		return time.Time{}, nil, errCorruptSession
	}

	r := reader{b: b[1:]}
	deadline := time.Unix(0, r.varint()).UTC()
	n := r.uvarint()
	if r.err != nil || n > maxCodecEntries || n > uint64(len(r.b)) {
		return time.Time{}, nil, errCorruptSession
	}
	values := make(map[string]any, n)
	for range n {
		k, own := internKey(r.bytes())
		values[k] = r.value(own)
	}
	if r.err != nil || len(r.b) != 0 {
		return time.Time{}, nil, errCorruptSession
	}
	return deadline, values, nil
}

// internKey returns latch's own session keys as their constants, so that
// decoding them allocates nothing, and reports whether the key is latch's.
func internKey(b []byte) (string, bool) {
	switch string(b) {
	case keyUser:
		return keyUser, true
	case keyTokens:
		return keyTokens, true
	case keyPending:
		return keyPending, true
	case keyDone:
		return keyDone, true
	}
	return string(b), false
}

// reader decodes the native format. The first error sticks, and every
// later read returns a zero value.
type reader struct {
	b   []byte
	err error
}

func (r *reader) fail() {
	r.err = errCorruptSession
	r.b = nil
}

func (r *reader) uvarint() uint64 {
	v, n := binary.Uvarint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

func (r *reader) varint() int64 {
	v, n := binary.Varint(r.b)
	if n <= 0 {
		r.fail()
		return 0
	}
	r.b = r.b[n:]
	return v
}

// bytes returns the next length-prefixed field without copying it.
func (r *reader) bytes() []byte {
	n := r.uvarint()
	if n > uint64(len(r.b)) {
		r.fail()
		return nil
	}
	s := r.b[:n:n]
	r.b = r.b[n:]
	return s
}

func (r *reader) byte() byte {
	if len(r.b) == 0 {
		r.fail()
		return 0
	}
	c := r.b[0]
	r.b = r.b[1:]
	return c
}

// skip passes over a value whose tag has been read, accepting exactly the
// values that value accepts.
func (r *reader) skip(tag byte) {
	switch tag {
	case tagString, tagBytes:
		r.bytes()
	case tagTrue, tagFalse:
	case tagInt64, tagInt, tagTime:
		r.varint()
	case tagFloat64:
		r.uvarint()
	default:
		r.fail()
	}
}

// peekSession returns latch's user and token records from an encoded
// session without allocating. It accepts exactly what Decode accepts and
// returns the slices that Decode would. native is false for the gob format,
// which only Decode reads.
func peekSession(b []byte) (user, tokens []byte, native bool, err error) {
	if len(b) == 0 {
		return nil, nil, false, errCorruptSession
	}
	switch b[0] {
	case codecGob:
		return nil, nil, false, nil
	case codecVersion:
	default:
		return nil, nil, false, errCorruptSession
	}

	r := reader{b: b[1:]}
	r.varint() // deadline: the store enforces it, as it does for scs
	n := r.uvarint()
	if r.err != nil || n > maxCodecEntries || n > uint64(len(r.b)) {
		return nil, nil, false, errCorruptSession
	}
	for range n {
		k := r.bytes()
		tag := r.byte()
		if tag != tagBytes {
			// A record stored as anything else reads as no record,
			// as it does through scs.
			switch string(k) {
			case keyUser:
				user = nil
			case keyTokens:
				tokens = nil
			}
			r.skip(tag)
			continue
		}
		v := r.bytes()
		switch string(k) {
		case keyUser:
			user = v
		case keyTokens:
			tokens = v
		}
	}
	if r.err != nil || len(r.b) != 0 {
		return nil, nil, false, errCorruptSession
	}
	return user, tokens, true, nil
}

// value decodes the next value. Byte slices of latch's own keys (own) are
// views of the stored bytes, which latch never changes, capped so that an
// append cannot write into them. Other byte slices are copies, since an
// application may change what it gets from scs.
func (r *reader) value(own bool) any {
	switch r.byte() {
	case tagString:
		return string(r.bytes())
	case tagBytes:
		if own {
			return r.bytes()
		}
		return append([]byte(nil), r.bytes()...)
	case tagTrue:
		return true
	case tagFalse:
		return false
	case tagInt64:
		return r.varint()
	case tagInt:
		return int(r.varint())
	case tagFloat64:
		return math.Float64frombits(r.uvarint())
	case tagTime:
		return time.Unix(0, r.varint())
	}
	r.fail()
	return nil
}
