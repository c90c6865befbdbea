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
	// DefaultSyncInterval is how often written hits are made durable with fdatasync
	// (unless each append waits for its own): what a machine crash can lose.
	DefaultSyncInterval = 100 * time.Millisecond
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
// and syncing, and reading back. The drainer (drain.go) is built on it.
//
// An append copies the framed record into the segment through a shared memory
// mapping, under a mutex and without a system call: once the copy is done the record
// is in the kernel's page cache and survives the end of this process, kill -9
// included. The disk goroutine does all the waiting on the disk: one fdatasync every
// syncInterval makes the written records safe from a machine crash too, and it
// creates and maps the next segment ahead of need. With syncEach an append also
// waits for the fdatasync that covers it (group commit: one fdatasync serves every
// record written meanwhile).
type segments struct {
	dir          string
	id           string
	lock         *os.File
	segSize      int64
	timeout      time.Duration // how long an append waits for the disk
	syncEach     bool
	syncInterval time.Duration
	sync         func(*os.File) error

	mu       sync.Mutex
	closed   bool
	seg      *os.File
	data     []byte // seg mapped shared, segSize bytes; nil when no segment is open
	segNo    uint64
	off      int64         // end of the written records in seg
	sealed   []sealed      // full segments the disk goroutine has yet to sync and close
	next     *openSeg      // the next segment, created ahead
	prepared chan struct{} // closed when the disk goroutine has tried to create next
	prepErr  error         // why its last try failed

	// written is signalled (without blocking) after each append: it wakes an idle
	// drainer.
	written chan struct{}
	kick    chan struct{} // the disk goroutine has work now

	smu      sync.Mutex
	synced   Pos           // end of the records made durable by fdatasync
	syncedCh chan struct{} // closed when synced moves or a sync fails
	lostSeg  uint64        // a segment whose fdatasync failed: its unsynced records may be lost

	lastNo   uint64 // the highest segment number used; owned by the disk goroutine
	quit     chan struct{}
	diskDone chan struct{}
}

// sealed is a full segment and the end of its records.
type sealed struct {
	f   *os.File
	end Pos
}

// openSeg is a created, preallocated and mapped segment.
type openSeg struct {
	f    *os.File
	data []byte
	no   uint64
}

// openSegments takes the directory's lock and reads or creates its identity; start
// starts the writer.
func openSegments(dir string, o Options) (*segments, error) {
	segSize, timeout, interval := o.SegmentSize, o.WriteTimeout, o.SyncInterval
	if segSize <= 0 {
		segSize = DefaultSegmentSize
	}
	if timeout <= 0 {
		timeout = DefaultWriteTimeout
	}
	if interval <= 0 {
		interval = DefaultSyncInterval
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
	s := &segments{dir: dir, lock: lock, segSize: segSize, timeout: timeout, syncEach: o.SyncEach, syncInterval: interval,
		sync: fdatasync, prepared: make(chan struct{}), written: make(chan struct{}, 1), kick: make(chan struct{}, 1),
		syncedCh: make(chan struct{}), quit: make(chan struct{}), diskDone: make(chan struct{})}
	if s.id, err = readOrCreateID(dir); err != nil {
		lock.Close()
		return nil, err
	}
	return s, nil
}

// start starts the disk goroutine. The first segment it creates is numbered after
// every existing one and after the drained position: a number is never used twice.
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
	s.segNo, s.lastNo = last, last
	s.synced = Pos{Segment: last + 1}
	s.wakeDisk()
	go s.disk()
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

// appendRecord frames payload into the segment being written. It returns once the
// record is in the page cache (it survives this process ending, however it ends)
// or, with syncEach, once an fdatasync has made it durable; or with an error when
// the disk does not keep up within the write timeout or ctx ends first.
func (s *segments) appendRecord(ctx context.Context, payload []byte) error {
	if len(payload) == 0 || len(payload) > MaxRecord {
		return fmt.Errorf("hit log record of %d bytes: want 1 to %d", len(payload), MaxRecord)
	}
	size := int64(headerSize + len(payload))
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	s.mu.Lock()
	for s.closed || s.data == nil || s.off+size > s.segSize {
		if s.closed {
			s.mu.Unlock()
			return ErrClosed
		}
		if s.next != nil {
			s.switchToNext()
			continue
		}
		// The disk goroutine has not created the next segment yet: rare, unless the
		// disk is slow or full.
		prepared := s.prepared
		s.mu.Unlock()
		if err := s.waitDisk(ctx, prepared, &timer, "no segment to write"); err != nil {
			return err
		}
		s.mu.Lock()
		if err := s.prepErr; s.next == nil && err != nil {
			s.mu.Unlock()
			return err
		}
	}
	rec := s.data[s.off : s.off+size]
	binary.LittleEndian.PutUint32(rec[0:4], uint32(len(payload)))
	copy(rec[headerSize:], payload)
	// The checksum is taken of the copy, under the lock: a few ns for a hit's size,
	// and payload passed to crc32 would escape, costing the caller an allocation.
	binary.LittleEndian.PutUint32(rec[4:8], crc32.Checksum(rec[headerSize:], castagnoli))
	s.off += size
	end := Pos{Segment: s.segNo, Offset: s.off}
	s.mu.Unlock()
	select {
	case s.written <- struct{}{}:
	default: // the drainer is already due to look
	}
	if !s.syncEach {
		return nil
	}
	return s.waitSynced(ctx, end, &timer)
}

// waitDisk wakes the disk goroutine and waits for ch. One timer bounds all the waits
// of an append: it starts at the first.
func (s *segments) waitDisk(ctx context.Context, ch <-chan struct{}, timer **time.Timer, what string) error {
	s.wakeDisk()
	if *timer == nil {
		*timer = time.NewTimer(s.timeout)
	}
	select {
	case <-ch:
		return nil
	case <-(*timer).C:
		return fmt.Errorf("hit log: %s after %s", what, s.timeout)
	case <-ctx.Done():
		return fmt.Errorf("hit log: %s: %w", what, ctx.Err())
	}
}

// switchToNext seals the segment being written (the disk goroutine syncs and closes
// it) and starts writing the one created ahead. The caller holds s.mu.
func (s *segments) switchToNext() {
	if s.seg != nil {
		s.sealed = append(s.sealed, sealed{f: s.seg, end: Pos{Segment: s.segNo, Offset: s.off}})
		_ = unix.Munmap(s.data) // the written pages stay in the page cache
	}
	n := s.next
	s.seg, s.data, s.segNo, s.off, s.next = n.f, n.data, n.no, 0, nil
	s.wakeDisk()
}

func (s *segments) wakeDisk() {
	select {
	case s.kick <- struct{}{}:
	default: // already due to run
	}
}

// waitSynced waits until an fdatasync covers end (syncEach).
func (s *segments) waitSynced(ctx context.Context, end Pos, timer **time.Timer) error {
	for {
		s.smu.Lock()
		synced, moved, lost := s.synced, s.syncedCh, s.lostSeg
		s.smu.Unlock()
		if !synced.Before(end) {
			return nil
		}
		if lost == end.Segment {
			return fmt.Errorf("sync hit log segment %d failed", end.Segment)
		}
		if err := s.waitDisk(ctx, moved, timer, "write not durable"); err != nil {
			return err
		}
	}
}

// disk is the goroutine that waits on the disk so that appends do not: every
// syncInterval, and at once when kicked, it syncs and closes the sealed segments,
// syncs the one being written and creates the next one if there is none.
func (s *segments) disk() {
	defer close(s.diskDone)
	tick := time.NewTicker(s.syncInterval)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
		case <-s.kick:
		case <-s.quit:
			s.syncWritten() // what was appended before Close
			return
		}
		s.syncWritten()
		s.createNext()
	}
}

// syncWritten makes every record written so far durable.
func (s *segments) syncWritten() {
	s.mu.Lock()
	full := s.sealed
	s.sealed = nil
	f, end := s.seg, Pos{Segment: s.segNo, Offset: s.off}
	s.mu.Unlock()
	for _, sg := range full {
		err := s.sync(sg.f)
		sg.f.Close()
		s.publishSynced(sg.end, err)
	}
	s.smu.Lock()
	done := !s.synced.Before(end)
	s.smu.Unlock()
	if f == nil || done {
		return
	}
	err := s.sync(f)
	if err != nil {
		// After a failed fdatasync the kernel may have dropped the dirty pages:
		// nothing written to this segment since its last good sync can be trusted,
		// and the next append starts a fresh segment.
		s.mu.Lock()
		if s.seg == f {
			(&openSeg{f: s.seg, data: s.data}).close()
			s.seg, s.data = nil, nil
		}
		s.mu.Unlock()
	}
	s.publishSynced(end, err)
}

// publishSynced records that everything before end is durable, or that syncing the
// segment of end failed, and wakes the appenders waiting for a sync.
func (s *segments) publishSynced(end Pos, err error) {
	s.smu.Lock()
	if err != nil {
		s.lostSeg = end.Segment
	} else if s.synced.Before(end) {
		s.synced = end
	}
	ch := s.syncedCh
	s.syncedCh = make(chan struct{})
	s.smu.Unlock()
	close(ch)
}

// createNext creates, preallocates and maps the next segment when there is none
// waiting, and tells the appenders waiting for it.
func (s *segments) createNext() {
	s.mu.Lock()
	need := s.next == nil && !s.closed
	s.mu.Unlock()
	if !need {
		return
	}
	n := s.lastNo + 1
	next, err := s.create(n)
	if err == nil {
		s.lastNo = n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if next != nil && s.closed {
		next.close()
		os.Remove(s.path(n))
		next = nil
	}
	s.next, s.prepErr = next, err
	close(s.prepared)
	s.prepared = make(chan struct{})
}

// create makes segment n: its blocks allocated (writing through the mapping then
// never meets a full disk), durable in the directory, and mapped.
func (s *segments) create(n uint64) (*openSeg, error) {
	f, err := os.OpenFile(s.path(n), os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
	if err != nil {
		return nil, fmt.Errorf("create hit log segment: %w", err)
	}
	fail := func(err error) (*openSeg, error) {
		f.Close()
		os.Remove(s.path(n))
		return nil, err
	}
	err = unix.Fallocate(int(f.Fd()), 0, 0, s.segSize)
	if errors.Is(err, unix.EOPNOTSUPP) {
		err = f.Truncate(s.segSize) // a file system without preallocation
	}
	if err != nil {
		return fail(fmt.Errorf("preallocate hit log segment: %w", err))
	}
	if err := f.Sync(); err != nil {
		return fail(fmt.Errorf("sync hit log segment: %w", err))
	}
	if err := syncDir(s.dir); err != nil {
		return fail(err)
	}
	data, err := unix.Mmap(int(f.Fd()), 0, int(s.segSize), unix.PROT_READ|unix.PROT_WRITE, unix.MAP_SHARED)
	if err != nil {
		return fail(fmt.Errorf("map hit log segment: %w", err))
	}
	return &openSeg{f: f, data: data, no: n}, nil
}

func (o *openSeg) close() {
	_ = unix.Munmap(o.data)
	o.f.Close()
}

func fdatasync(f *os.File) error { return unix.Fdatasync(int(f.Fd())) }

// end returns the end of the written records: everything before it can be read.
func (s *segments) end() Pos {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.data == nil {
		// Nothing is being written: the next append starts the next segment.
		return Pos{Segment: s.segNo + 1}
	}
	return Pos{Segment: s.segNo, Offset: s.off}
}

// closeWriter refuses further appends, syncs what was written and closes the
// segments.
func (s *segments) closeWriter() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	s.mu.Unlock()
	close(s.quit)
	<-s.diskDone
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.seg != nil {
		(&openSeg{f: s.seg, data: s.data}).close()
		s.seg, s.data = nil, nil
	}
	if s.next != nil {
		// Created ahead and never written: not a segment anyone needs.
		s.next.close()
		os.Remove(s.path(s.next.no))
		s.next = nil
	}
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

// read passes the payloads of the written records from p on (at most about one
// chunk of them) to fn and returns the position after them. It returns p when there
// is nothing new. A sealed segment ends at its first zero length, bad checksum or
// record cut off by the end of the file; the position then moves to the next
// segment. Damage inside the written part of the segment being written is an error.
func (r *reader) read(p Pos, fn func(payload []byte)) (Pos, error) {
	end := r.s.end()
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
			return next, fmt.Errorf("hit log segment %d damaged at offset %d, inside its written part", p.Segment, next.Offset)
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
