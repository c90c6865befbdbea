package hitlog

import (
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

const (
	headerSize = 8
	// MaxRecord bounds one record's payload; a length above it marks a damaged record.
	MaxRecord = 64 << 10
	// DefaultSegmentSize is how much each segment file preallocates.
	DefaultSegmentSize = 64 << 20
	// DefaultWriteTimeout bounds how long RecordHit waits for the disk: past it the
	// pixel is answered 503 rather than hang on a stuck disk.
	DefaultWriteTimeout = 3 * time.Second
	segmentSuffix       = ".hits"
	lockName            = "LOCK"
	idName              = "ID"
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// ErrLocked is returned by Open when another process (or another Log in this one)
// owns the directory.
var ErrLocked = errors.New("hit log directory is in use by another gateway process")

// ErrClosed is returned by Append after Close.
var ErrClosed = errors.New("hit log closed")

// Pos is a place in the log: a segment number and a byte offset in that segment.
// Everything before a drained Pos is in the store.
type Pos struct {
	Segment uint64
	Offset  int64
}

func (p Pos) String() string { return fmt.Sprintf("%d:%d", p.Segment, p.Offset) }

// Before reports whether p comes before q in the log.
func (p Pos) Before(q Pos) bool {
	return p.Segment < q.Segment || (p.Segment == q.Segment && p.Offset < q.Offset)
}

// segments is the file side of a log directory: the lock, the identity, appending
// with group commit and reading back. The drainer (drain.go) is built on it.
type segments struct {
	dir     string
	id      string
	lock    *os.File
	segSize int64
	timeout time.Duration // how long an append waits for its batch to be durable
	sync    func(*os.File) error

	mu      sync.Mutex
	buf     []byte // framed records waiting for the next write
	pending *batch // what the appenders of buf wait on
	closed  bool
	wake    chan struct{}

	// Owned by the writer goroutine.
	spare []byte
	seg   *os.File
	segNo uint64
	off   int64

	cmu       sync.Mutex
	committed Pos           // end of the durable records of the segment being written
	commitCh  chan struct{} // closed at the next commit

	quit       chan struct{}
	writerDone chan struct{}
}

// batch is the records of one write. Its appenders wait for done, or for expired:
// one timer per batch, started by its first record, bounds the wait on a stuck disk
// without each request paying for a timer of its own.
type batch struct {
	done    chan struct{}
	err     error
	expired chan struct{}
	timer   *time.Timer
}

func newBatch() *batch { return &batch{done: make(chan struct{}), expired: make(chan struct{})} }

// openSegments takes the directory's lock and reads or creates its identity; start
// starts the writer.
func openSegments(dir string, segSize int64, timeout time.Duration) (*segments, error) {
	if segSize <= 0 {
		segSize = DefaultSegmentSize
	}
	if timeout <= 0 {
		timeout = DefaultWriteTimeout
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("create hit log directory: %w", err)
	}
	lock, err := os.OpenFile(filepath.Join(dir, lockName), os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("open hit log lock: %w", err)
	}
	if err := unix.Flock(int(lock.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		lock.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("%w: %s (each gateway instance needs a directory of its own)", ErrLocked, dir)
		}
		return nil, fmt.Errorf("lock hit log directory: %w", err)
	}
	s := &segments{dir: dir, lock: lock, segSize: segSize, timeout: timeout, sync: fdatasync, pending: newBatch(), wake: make(chan struct{}, 1),
		commitCh: make(chan struct{}), quit: make(chan struct{}), writerDone: make(chan struct{})}
	if s.id, err = readOrCreateID(dir); err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

// start starts the writer. Its first write creates a segment numbered after every
// existing one and after the drained position: a number is never used twice.
func (s *segments) start(drained Pos) error {
	nums, err := s.list()
	if err != nil {
		return err
	}
	last := drained.Segment
	if len(nums) > 0 {
		last = max(last, nums[len(nums)-1])
	}
	// Nothing is written yet: every existing segment is sealed.
	s.segNo = last
	s.committed = Pos{Segment: last + 1}
	go s.run()
	return nil
}

func readOrCreateID(dir string) (string, error) {
	path := filepath.Join(dir, idName)
	raw, err := os.ReadFile(path)
	if err == nil {
		id := strings.TrimSpace(string(raw))
		if id == "" {
			return "", fmt.Errorf("hit log %s is empty", path)
		}
		return id, nil
	}
	if !errors.Is(err, os.ErrNotExist) {
		return "", fmt.Errorf("read hit log id: %w", err)
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	id := hex.EncodeToString(b[:])
	tmp := path + ".tmp"
	if err := writeFileSync(tmp, []byte(id+"\n")); err != nil {
		return "", fmt.Errorf("write hit log id: %w", err)
	}
	if err := os.Rename(tmp, path); err != nil {
		return "", fmt.Errorf("write hit log id: %w", err)
	}
	if err := syncDir(dir); err != nil {
		return "", err
	}
	return id, nil
}

func writeFileSync(path string, data []byte) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(data); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("sync hit log directory: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("sync hit log directory: %w", err)
	}
	return nil
}

func (s *segments) path(n uint64) string {
	return filepath.Join(s.dir, fmt.Sprintf("%020d%s", n, segmentSuffix))
}

// list returns the segment numbers on disk, in order.
func (s *segments) list() ([]uint64, error) {
	entries, err := os.ReadDir(s.dir)
	if err != nil {
		return nil, fmt.Errorf("list hit log: %w", err)
	}
	var nums []uint64
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), segmentSuffix)
		if !ok {
			continue
		}
		if n, err := strconv.ParseUint(name, 10, 64); err == nil {
			nums = append(nums, n)
		}
	}
	slices.Sort(nums)
	return nums, nil
}

// appendRecord frames payload, queues it for the next write and waits until it is
// durable (written and fdatasynced) or ctx ends. A nil error means the record
// survives a crash of this process or of the machine.
func (s *segments) appendRecord(ctx context.Context, payload []byte) error {
	if len(payload) == 0 || len(payload) > MaxRecord {
		return fmt.Errorf("hit log record of %d bytes: want 1 to %d", len(payload), MaxRecord)
	}
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return ErrClosed
	}
	s.buf = frame(s.buf, payload)
	b := s.pending
	if b.timer == nil {
		b.timer = time.AfterFunc(s.timeout, func() { close(b.expired) })
	}
	s.mu.Unlock()
	select {
	case s.wake <- struct{}{}:
	default: // the writer is already due to run
	}
	select {
	case <-b.done:
		return b.err
	case <-b.expired:
		return fmt.Errorf("hit log write not durable after %s", s.timeout)
	case <-ctx.Done():
		return fmt.Errorf("hit log write not durable in time: %w", ctx.Err())
	}
}

func frame(buf, payload []byte) []byte {
	var h [headerSize]byte
	binary.LittleEndian.PutUint32(h[0:4], uint32(len(payload)))
	binary.LittleEndian.PutUint32(h[4:8], crc32.Checksum(payload, castagnoli))
	return append(append(buf, h[:]...), payload...)
}

// run is the writer: each round takes everything appended since the last one and
// makes it durable with one write and one fdatasync (group commit).
func (s *segments) run() {
	defer close(s.writerDone)
	for {
		select {
		case <-s.wake:
			s.flush()
		case <-s.quit:
			s.flush() // what was appended before Close
			return
		}
	}
}

func (s *segments) flush() {
	s.mu.Lock()
	data, b := s.buf, s.pending
	if len(data) == 0 {
		s.mu.Unlock()
		return
	}
	s.buf, s.pending = s.spare[:0], newBatch()
	s.mu.Unlock()
	b.err = s.write(data)
	b.timer.Stop()
	s.spare = data
	close(b.done)
}

func (s *segments) write(data []byte) error {
	if s.seg == nil || (s.off > 0 && s.off+int64(len(data)) > s.segSize) {
		if err := s.rotate(); err != nil {
			return err
		}
	}
	if _, err := s.seg.WriteAt(data, s.off); err != nil {
		s.abandon()
		return fmt.Errorf("write hit log: %w", err)
	}
	if err := s.sync(s.seg); err != nil {
		// After a failed fdatasync the kernel may have dropped the dirty pages:
		// nothing in this segment past the last good offset can be trusted, and the
		// next write goes to a fresh segment.
		s.abandon()
		return fmt.Errorf("sync hit log: %w", err)
	}
	s.off += int64(len(data))
	s.publish(Pos{Segment: s.segNo, Offset: s.off})
	return nil
}

// rotate seals the current segment and starts the next one, preallocated so that
// each fdatasync has no size change to journal.
func (s *segments) rotate() error {
	n := s.segNo + 1
	f, err := os.OpenFile(s.path(n), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return fmt.Errorf("create hit log segment: %w", err)
	}
	if err := unix.Fallocate(int(f.Fd()), 0, 0, s.segSize); err != nil && !errors.Is(err, unix.EOPNOTSUPP) {
		f.Close()
		os.Remove(s.path(n))
		return fmt.Errorf("preallocate hit log segment: %w", err)
	}
	if err := f.Sync(); err != nil {
		f.Close()
		os.Remove(s.path(n))
		return fmt.Errorf("sync hit log segment: %w", err)
	}
	if err := syncDir(s.dir); err != nil {
		f.Close()
		os.Remove(s.path(n))
		return err
	}
	if s.seg != nil {
		s.seg.Close()
	}
	s.seg, s.segNo, s.off = f, n, 0
	s.publish(Pos{Segment: n})
	return nil
}

func (s *segments) abandon() {
	if s.seg != nil {
		s.seg.Close()
		s.seg = nil
	}
}

func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

func (s *segments) publish(p Pos) {
	s.cmu.Lock()
	s.committed = p
	ch := s.commitCh
	s.commitCh = make(chan struct{})
	s.cmu.Unlock()
	close(ch)
}

// durable returns the end of the durable records and a channel closed when it moves.
func (s *segments) durable() (Pos, <-chan struct{}) {
	s.cmu.Lock()
	defer s.cmu.Unlock()
	return s.committed, s.commitCh
}

// closeWriter refuses further appends and waits for the writer to finish the last
// batch.
func (s *segments) closeWriter() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.writerDone
	s.abandon()
}

// unlock releases the directory; the log must not be used afterwards.
func (s *segments) unlock() { s.lock.Close() }

// removeBefore deletes the segments numbered below n: everything in them is drained.
func (s *segments) removeBefore(n uint64) error {
	nums, err := s.list()
	if err != nil {
		return err
	}
	for _, m := range nums {
		if m >= n {
			break
		}
		if err := os.Remove(s.path(m)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("remove drained hit log segment: %w", err)
		}
	}
	return nil
}

// reader reads records back in order; the drainer owns one.
type reader struct {
	s   *segments
	f   *os.File
	fno uint64
	buf []byte
}

// readChunk bounds one read; it holds any record whole.
const readChunk = 1 << 20

// read passes the payloads of the durable records from p on (at most about one
// chunk of them) to fn and returns the position after them. It returns p when there
// is nothing new. A sealed segment ends at its first zero length, bad checksum or
// record cut off by the end of the file; the position then moves to the next
// segment. Damage inside the durable part of the segment being written is an error.
func (r *reader) read(p Pos, fn func(payload []byte)) (Pos, error) {
	end, _ := r.s.durable()
	if end.Before(p) || end == p {
		return p, nil
	}
	sealed := p.Segment < end.Segment
	if r.f == nil || r.fno != p.Segment {
		r.closeFile()
		f, err := os.Open(r.s.path(p.Segment))
		if errors.Is(err, os.ErrNotExist) {
			if !sealed {
				return p, nil // the writer has not created it yet
			}
			return r.nextSegment(p, end)
		}
		if err != nil {
			return p, fmt.Errorf("open hit log segment: %w", err)
		}
		r.f, r.fno = f, p.Segment
	}
	limit := end.Offset
	if sealed {
		st, err := r.f.Stat()
		if err != nil {
			return p, fmt.Errorf("stat hit log segment: %w", err)
		}
		limit = st.Size()
	}
	n := min(limit-p.Offset, readChunk)
	if n <= 0 {
		if sealed {
			return r.nextSegment(p, end)
		}
		return p, nil
	}
	if int64(cap(r.buf)) < n {
		r.buf = make([]byte, n)
	}
	buf := r.buf[:n]
	if got, err := r.f.ReadAt(buf, p.Offset); err != nil && !(errors.Is(err, io.EOF) && int64(got) == n) {
		return p, fmt.Errorf("read hit log segment: %w", err)
	}
	// A chunk cut short by readChunk may end inside a record: that record is read
	// whole next time. Anything else that does not parse ends the data.
	cutShort := n < limit-p.Offset
	off, damaged := 0, false
	for {
		if off+headerSize > len(buf) {
			damaged = off < len(buf) && !cutShort // trailing bytes too short for a header
			break
		}
		size := int(binary.LittleEndian.Uint32(buf[off:]))
		sum := binary.LittleEndian.Uint32(buf[off+4:])
		if size == 0 || size > MaxRecord {
			damaged = true
			break
		}
		if off+headerSize+size > len(buf) {
			damaged = !cutShort || off == 0 // a chunk holds any whole record
			break
		}
		payload := buf[off+headerSize : off+headerSize+size]
		if crc32.Checksum(payload, castagnoli) != sum {
			damaged = true
			break
		}
		fn(payload)
		off += headerSize + size
	}
	next := Pos{Segment: p.Segment, Offset: p.Offset + int64(off)}
	if damaged {
		if !sealed {
			return next, fmt.Errorf("hit log segment %d damaged at offset %d, inside its durable part", p.Segment, next.Offset)
		}
		if off == 0 {
			return r.nextSegment(p, end)
		}
	}
	return next, nil
}

// nextSegment is the start of the first segment after p's that exists, or of the
// segment being written.
func (r *reader) nextSegment(p, end Pos) (Pos, error) {
	r.closeFile()
	nums, err := r.s.list()
	if err != nil {
		return p, err
	}
	for _, n := range nums {
		if n > p.Segment && n <= end.Segment {
			return Pos{Segment: n}, nil
		}
	}
	return Pos{Segment: end.Segment}, nil
}

func (r *reader) closeFile() {
	if r.f != nil {
		r.f.Close()
		r.f = nil
	}
}
