package saga

import (
	"crypto/rand"
	"encoding/base32"
	"encoding/binary"
	"time"
)

var idEncoding = base32.NewEncoding("0123456789abcdefghjkmnpqrstvwxyz").WithPadding(base32.NoPadding)

// NewID returns a unique id that sorts by creation time: 6 bytes of
// milliseconds then 4 random bytes, in lowercase Crockford base32 (16
// characters). Time order keeps SQLite's indexes append-mostly.
func NewID() string {
	var b [10]byte
	ms := uint64(time.Now().UnixMilli())
	binary.BigEndian.PutUint16(b[0:2], uint16(ms>>32))
	binary.BigEndian.PutUint32(b[2:6], uint32(ms))
	_, _ = rand.Read(b[6:]) // crypto/rand never fails on Linux
	return idEncoding.EncodeToString(b[:])
}
