// Package hitlog is the durable local buffer in front of the tracking_hits table: a
// tracking hit is copied into a memory-mapped log file on the gateway's own disk
// before the pixel is answered 2xx, and a drainer copies the log into the store in
// large batches, recording how far it got in the same transaction.
//
// Why a local log: a pixel fetch must not be answered 2xx before its hit is safe,
// but waiting for a database commit per burst of hits costs a round trip and a
// transaction for a handful of rows. A record copied into a shared mapping of a
// preallocated file is in the kernel's page cache: it survives the gateway process
// ending in any way (kill -9, a panic, the OOM killer) at the cost of a memory copy,
// and the database sees a few large COPYs instead of many small ones.
//
// What a crash of the whole machine can lose is set by the sync policy: by default
// a background fdatasync every 100ms (Options.SyncInterval) bounds it to the hits of
// the last few milliseconds; with Options.SyncEach a hit is answered only after an
// fdatasync covers it (group commit: one fdatasync serves every hit written
// meanwhile), and nothing answered is lost.
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
