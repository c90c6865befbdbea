// Package hitlog is the durable local buffer in front of the tracking_hits table: a
// tracking hit is appended to a log file on the gateway's own disk and made durable
// with fdatasync before the pixel is answered 2xx, and a drainer copies the log into
// the store in large batches, recording how far it got in the same transaction.
//
// Why a local log: a pixel fetch must not be answered 2xx before its hit is durable,
// but waiting for a database commit per burst of hits costs a round trip and a
// transaction for a handful of rows. One fdatasync on a preallocated file is shared
// by every hit that arrived meanwhile (group commit), and the database sees a few
// large COPYs instead of many small ones.
//
// Layout of a log directory:
//
//	LOCK                  flock(2)-held by the one process that owns the directory
//	ID                    the log's identity; the store keeps the drained position under it
//	00000000000000000001.hits, ...  segments, preallocated, appended in order
//
// A segment is a sequence of records: a 4-byte little-endian payload length, a
// 4-byte CRC-32C of the payload, the payload. A zero length (the preallocated zeros),
// a bad checksum or a record running past the end of the file ends a segment: a
// record torn by a crash was never acknowledged, so it and anything after it in that
// segment were not promised to anyone. A process never appends to a segment it did
// not create: after a restart it starts a new one, so bytes left behind by a torn
// write are never followed by good records.
package hitlog
