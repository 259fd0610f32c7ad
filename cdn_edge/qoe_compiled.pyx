# cython: binding=False
# cython: language_level=3, boundscheck=True, wraparound=False, initializedcheck=True
"""Viewer QoE from CMCD, compiled: the same tracker as cdn_edge/qoe.py (which stays the reference
implementation, and what runs where this extension was not built), with everything a request
carrying CMCD pays at the default in C: the cut of a CMCD-only query off the raw request target,
the key scan of cdn_edge.cmcd.parse_cmcd (same keys, same bounds, same first-occurrence rule), the
session table (a TTLCache's semantics: TTL from the last write, least recently read evicted first)
and the per-request accumulators. Prometheus objects are touched at flush() and for rare events
only, as in qoe.py. tests/cdn_edge/test_qoe_differential.py feeds both the same lists and targets.

Every read of the request's bytes is at an index checked against the length of the buffer it is
in: the scan copies at most MAX_CMCD_BYTES into a fixed buffer and every look-ahead tests the
remaining length first (wraparound is off because no index here is negative).
"""

from cpython.bytes cimport PyBytes_AS_STRING, PyBytes_FromStringAndSize, PyBytes_GET_SIZE
from cpython.dict cimport PyDict_GetItem
from cpython.object cimport PyObject
from cpython.unicode cimport PyUnicode_DecodeASCII
from libc.stdlib cimport calloc, free
from libc.string cimport memchr, memcmp, memcpy, memset

import os
import time

from cdn_edge.cmcd import MAX_CMCD_BYTES, MAX_NUMBER, MAX_SID, Cmcd, sid_text, split_headers, split_query
from cdn_edge.qoe import MAX_GAP, RUNG_LABELS, RUNGS, SEGMENT_SUFFIXES, THROUGHPUT_BUCKETS

IMPLEMENTATION = "compiled"

cdef extern from "<time.h>" nogil:
    ctypedef int clockid_t
    cdef struct timespec:
        long tv_sec
        long tv_nsec
    int clock_gettime(clockid_t clk_id, timespec* tp)
    clockid_t CLOCK_REALTIME
    clockid_t CLOCK_MONOTONIC

cdef enum:
    LISTED = 1024 + 6  # MAX_CMCD_BYTES and two separators of three bytes
    SCAN_PAD = 18  # zeros after the list: scan()'s last 16-byte window and its two bytes of look-ahead

cdef Py_ssize_t C_MAX_CMCD = MAX_CMCD_BYTES
cdef Py_ssize_t C_MAX_SID = MAX_SID
cdef long long C_MAX_NUMBER = MAX_NUMBER
cdef double C_MAX_GAP = MAX_GAP
if C_MAX_SID > SID_BYTES:
    raise ImportError("MAX_SID grew past the compiled sid's buffer")
if C_MAX_CMCD + 6 > LISTED:
    raise ImportError("MAX_CMCD_BYTES grew past the compiled scan's buffer")

cdef enum:
    THROUGHPUT_BOUNDS = 8  # len(THROUGHPUT_BUCKETS)
    THROUGHPUT_COUNTS = 9  # and +Inf

# Object types (CMCD `ot`); 0: none or not one of these.
cdef enum:
    OT_NONE = 0
    OT_M, OT_A, OT_V, OT_AV, OT_I, OT_C, OT_TT, OT_K, OT_O
OBJECT_NAMES = (None, "m", "a", "v", "av", "i", "c", "tt", "k", "o")

# The keys kept, indexes into Scan.start/end
cdef enum:
    K_SID = 0
    K_SU, K_BS, K_BL, K_BR, K_MTP, K_OT, K_COUNT

cdef struct Scan:
    Py_ssize_t start[7]  # the value's first byte in buf, -1: no `key=` seen
    Py_ssize_t end[7]
    bint lone_su  # `su` as a lone key somewhere
    bint lone_bs

cdef enum:
    SID_BYTES = 64  # MAX_SID

cdef struct Parsed:
    bint su, bs
    long long bl, br, mtp  # -1: None
    int ot
    unsigned char sid[SID_BYTES]  # a sid of plain ASCII (no escape), sid_len bytes; 0: see parse()
    Py_ssize_t sid_len


# The scan: parse_cmcd's bytes.find per key, done as one pass over the separators. Every `key=`
# occurrence starts at a separator, so the first separator followed by `key=` is what find() returns;
# its value runs to the next separator (the key and `=` hold none). Lower-case hex (%2c, %3d) is
# matched where parse_cmcd rewrites it first: the rewrite changes one letter in place.

cdef inline bint at_separator(const unsigned char* buf, Py_ssize_t n, Py_ssize_t i, bint encoded):
    if encoded:
        return i + 2 < n and buf[i] == b'%' and buf[i + 1] == b'2' and (buf[i + 2] == b'C' or buf[i + 2] == b'c')
    return i < n and buf[i] == b','


cdef inline bint at_equals(const unsigned char* buf, Py_ssize_t n, Py_ssize_t i, bint encoded):
    if encoded:
        return i + 2 < n and buf[i] == b'%' and buf[i + 1] == b'3' and (buf[i + 2] == b'D' or buf[i + 2] == b'd')
    return i < n and buf[i] == b'='


cdef inline bint key_at(const unsigned char* buf, Py_ssize_t n, Py_ssize_t i, const char* key, Py_ssize_t size):
    return i + size <= n and memcmp(buf + i, key, size) == 0


cdef extern from *:
    """
    #if defined(__SSE2__)
    #include <emmintrin.h>
    #endif
    /* Bit k set: a CMCD separator (`%2C` or `%2c` when encoded, else `,`) starts at p[k], k < 16.
       Reads p[0] to p[17]: the caller's buffer has them (zeros past the list). */
    static inline unsigned int cmcd_separators16(const unsigned char *p, int encoded) {
    #if defined(__SSE2__)
        __m128i a = _mm_loadu_si128((const __m128i *)p);
        if (!encoded)
            return (unsigned int)_mm_movemask_epi8(_mm_cmpeq_epi8(a, _mm_set1_epi8(',')));
        __m128i b = _mm_loadu_si128((const __m128i *)(p + 1));
        __m128i c = _mm_or_si128(_mm_loadu_si128((const __m128i *)(p + 2)), _mm_set1_epi8(0x20));
        __m128i m = _mm_and_si128(
            _mm_and_si128(_mm_cmpeq_epi8(a, _mm_set1_epi8('%')), _mm_cmpeq_epi8(b, _mm_set1_epi8('2'))),
            _mm_cmpeq_epi8(c, _mm_set1_epi8('c')));
        return (unsigned int)_mm_movemask_epi8(m);
    #else
        unsigned int mask = 0;
        for (int k = 0; k < 16; k++) {
            int hit = encoded ? (p[k] == '%' && p[k + 1] == '2' && (p[k + 2] | 0x20) == 'c') : p[k] == ',';
            mask |= (unsigned int)hit << k;
        }
        return mask;
    #endif
    }
    /* Bit k set: p[k] is `%`, a backslash or not ASCII (an escaped or non-ASCII sid), k < 16. */
    static inline unsigned int cmcd_escapes16(const unsigned char *p) {
    #if defined(__SSE2__)
        __m128i a = _mm_loadu_si128((const __m128i *)p);
        return (unsigned int)(_mm_movemask_epi8(a)
            | _mm_movemask_epi8(_mm_cmpeq_epi8(a, _mm_set1_epi8('%')))
            | _mm_movemask_epi8(_mm_cmpeq_epi8(a, _mm_set1_epi8('\\\\'))));
    #else
        unsigned int mask = 0;
        for (int k = 0; k < 16; k++)
            mask |= (unsigned int)(p[k] >= 0x80 || p[k] == '%' || p[k] == '\\\\') << k;
        return mask;
    #endif
    }
    static inline int cmcd_lowest_bit(unsigned int mask) { return __builtin_ctz(mask); }
    """
    unsigned int cmcd_separators16(const unsigned char* p, int encoded) nogil
    unsigned int cmcd_escapes16(const unsigned char* p) nogil
    int cmcd_lowest_bit(unsigned int mask) nogil


cdef void scan(const unsigned char* buf, Py_ssize_t n, bint encoded, Scan* found) noexcept:
    """`buf`: separator + list + separator, n bytes, then at least SCAN_PAD zero bytes (the 16-byte
    windows read past n; a separator can only start before n - 2, and zeros match none)."""
    cdef Py_ssize_t width = 3 if encoded else 1
    cdef Py_ssize_t i, k, after, chunk
    cdef int key, size, pending = -1
    cdef unsigned int mask
    cdef unsigned char c
    for key in range(K_COUNT):
        found.start[key] = -1
        found.end[key] = -1
    found.lone_su = found.lone_bs = False
    chunk = 0
    while chunk < n:
        mask = cmcd_separators16(buf + chunk, encoded)
        while mask:
            i = chunk + cmcd_lowest_bit(mask)
            mask &= mask - 1
            if i >= n:
                break
            if pending >= 0:
                found.end[pending] = i
                pending = -1
            k = i + width
            key = -1
            size = 0
            if k < n:
                c = buf[k]
                if c == b's':
                    if key_at(buf, n, k, b"sid", 3):
                        key, size = K_SID, 3
                    elif key_at(buf, n, k, b"su", 2):
                        key, size = K_SU, 2
                elif c == b'b':
                    if key_at(buf, n, k, b"bs", 2):
                        key, size = K_BS, 2
                    elif key_at(buf, n, k, b"bl", 2):
                        key, size = K_BL, 2
                    elif key_at(buf, n, k, b"br", 2):
                        key, size = K_BR, 2
                elif c == b'm':
                    if key_at(buf, n, k, b"mtp", 3):
                        key, size = K_MTP, 3
                elif c == b'o':
                    if key_at(buf, n, k, b"ot", 2):
                        key, size = K_OT, 2
            if key >= 0:
                after = k + size
                if at_equals(buf, n, after, encoded):
                    if found.start[key] < 0:
                        found.start[key] = after + width
                        pending = key
                elif at_separator(buf, n, after, encoded):
                    if key == K_SU:
                        found.lone_su = True
                    elif key == K_BS:
                        found.lone_bs = True
        chunk += 16
    if pending >= 0:  # unreachable (the list ends with a separator), as find() returning -1 is
        found.end[pending] = n - 1


cdef inline long long integer(const unsigned char* buf, Py_ssize_t start, Py_ssize_t end) noexcept:
    """parse_cmcd's _integer: ASCII digits only, at most 10 of them, at most MAX_NUMBER; -1: None."""
    cdef Py_ssize_t i
    cdef long long number = 0
    if start < 0 or end <= start or end - start > 10:
        return -1
    for i in range(start, end):
        if buf[i] < b'0' or buf[i] > b'9':
            return -1
        number = number * 10 + (buf[i] - c'0')
    return number if number <= C_MAX_NUMBER else -1


cdef inline bint flag(const unsigned char* buf, Py_ssize_t start, Py_ssize_t end, bint lone) noexcept:
    return lone or (start >= 0 and end - start == 4 and memcmp(buf + start, b"true", 4) == 0)


cdef int object_type(const unsigned char* buf, Py_ssize_t start, Py_ssize_t end) noexcept:
    cdef Py_ssize_t size = end - start
    if start < 0 or size < 1 or size > 2:
        return OT_NONE
    cdef unsigned char a = buf[start]
    if size == 1:
        if a == b'm':
            return OT_M
        if a == b'a':
            return OT_A
        if a == b'v':
            return OT_V
        if a == b'i':
            return OT_I
        if a == b'c':
            return OT_C
        if a == b'k':
            return OT_K
        if a == b'o':
            return OT_O
        return OT_NONE
    cdef unsigned char b = buf[start + 1]
    if a == b'a' and b == b'v':
        return OT_AV
    if a == b't' and b == b't':
        return OT_TT
    return OT_NONE


cdef object session_id(const unsigned char* buf, Py_ssize_t start, Py_ssize_t end, bint encoded, Parsed* out):
    """parse_cmcd's _string for the sid. Plain ASCII without escapes (what players send: a UUID) is
    copied to out.sid, and None returned; anything else is decoded by cdn_edge.cmcd.sid_text, the
    reference, and its text (or None) returned."""
    cdef Py_ssize_t q = 3 if encoded else 1
    cdef Py_ssize_t i
    cdef unsigned int mask
    cdef bint plain = True
    out.sid_len = 0
    if start < 0 or end - start < 2 * q:
        return None
    if encoded:
        if memcmp(buf + start, b"%22", 3) != 0 or memcmp(buf + end - 3, b"%22", 3) != 0:
            return None
    elif buf[start] != b'"' or buf[end - 1] != b'"':
        return None
    start += q
    end -= q
    i = start
    while i < end:  # 16-byte windows: buf has SCAN_PAD readable bytes past the list
        mask = cmcd_escapes16(buf + i)
        if mask and i + cmcd_lowest_bit(mask) < end:
            plain = False
            break
        i += 16
    if not plain:
        return sid_text(PyBytes_FromStringAndSize(<const char*>buf + start, end - start), encoded)
    if end - start < 1 or end - start > C_MAX_SID:
        return None
    memcpy(out.sid, buf + start, end - start)
    out.sid_len = end - start
    return None


cdef object parse(const unsigned char* raw, Py_ssize_t size, bint encoded, Parsed* out):
    """Scan one CMCD list into `out`; a sid other than plain ASCII is returned (see session_id)."""
    cdef unsigned char buf[LISTED + SCAN_PAD]
    cdef Scan found
    cdef Py_ssize_t width = 3 if encoded else 1
    if size > C_MAX_CMCD:
        size = C_MAX_CMCD
    if encoded:
        memcpy(buf, b"%2C", 3)
        memcpy(buf + 3 + size, b"%2C", 3)
    else:
        buf[0] = b','
        buf[1 + size] = b','
    memcpy(buf + width, raw, size)
    cdef Py_ssize_t n = size + 2 * width
    memset(buf + n, 0, SCAN_PAD)
    scan(buf, n, encoded, &found)
    out.su = flag(buf, found.start[K_SU], found.end[K_SU], found.lone_su)
    out.bs = flag(buf, found.start[K_BS], found.end[K_BS], found.lone_bs)
    out.bl = integer(buf, found.start[K_BL], found.end[K_BL])
    out.br = integer(buf, found.start[K_BR], found.end[K_BR])
    out.mtp = integer(buf, found.start[K_MTP], found.end[K_MTP])
    out.ot = object_type(buf, found.start[K_OT], found.end[K_OT])
    return session_id(buf, found.start[K_SID], found.end[K_SID], encoded, out)


def parse_cmcd(bytes raw, *, bint encoded):
    """cdn_edge.cmcd.parse_cmcd, compiled (the differential tests compare the two)."""
    cdef Parsed out
    sid = parse(<const unsigned char*>PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), encoded, &out)
    if out.sid_len:
        sid = PyUnicode_DecodeASCII(<const char*>out.sid, out.sid_len, NULL)
    return Cmcd(
        sid=sid, su=out.su, bs=out.bs, bl=None if out.bl < 0 else out.bl, br=None if out.br < 0 else out.br,
        mtp=None if out.mtp < 0 else out.mtp, ot=OBJECT_NAMES[out.ot],
    )


cdef bint ends_with_segment_suffix(const unsigned char* path, Py_ssize_t size) noexcept:
    """`path` (raw, ASCII) percent-decoded ends with one of SEGMENT_SUFFIXES: what the protocol's
    decoded path's endswith() says (an invalid UTF-8 sequence never takes the ASCII after it)."""
    cdef unsigned char tail[4]
    cdef unsigned char c
    cdef Py_ssize_t i = 0, kept = 0
    cdef int high, low
    tail[0] = tail[1] = tail[2] = tail[3] = 0
    while i < size:
        c = path[i]
        if c == b'%' and i + 2 < size:
            high = hex_value(path[i + 1])
            low = hex_value(path[i + 2])
            if high >= 0 and low >= 0:
                c = <unsigned char>(high * 16 + low)
                i += 2
        tail[0], tail[1], tail[2] = tail[1], tail[2], tail[3]
        tail[3] = c
        kept += 1
        i += 1
    if kept >= 3 and tail[1] == b'.' and tail[2] == b't' and tail[3] == b's':
        return True
    if kept < 4 or tail[0] != b'.':
        return False
    return (
        (tail[1] == b'm' and ((tail[2] == b'4' and tail[3] in b"sav") or (tail[2] == b'p' and tail[3] == b'4')))
        or (tail[1] == b'a' and tail[2] == b'a' and tail[3] == b'c')
    )


cdef inline int hex_value(unsigned char c) noexcept:
    if c'0' <= c <= c'9':
        return c - c'0'
    if c'a' <= c <= c'f':
        return c - c'a' + 10
    if c'A' <= c <= c'F':
        return c - c'A' + 10
    return -1


if SEGMENT_SUFFIXES != (".m4s", ".mp4", ".ts", ".m4a", ".m4v", ".aac"):
    raise ImportError("SEGMENT_SUFFIXES changed: ends_with_segment_suffix spells them out")


# One buffer of a session's player (qoe.Stream): its audio, or its video (or muxed) media.
cdef struct Stream:
    bint present
    double last  # time of its latest media request
    long long buffer_ms  # `bl` of that request, -1: None
    bint playing  # a media object of it was requested without `su`: past startup


cdef class Session:
    """A session's state (qoe.Session), its places in the table's two rings, and its plain sid's
    bytes when the raw index holds it."""

    cdef public double first, last, refreshed
    cdef public bint started, failed
    cdef Stream audio, video
    cdef object key
    cdef double expires
    cdef Session lru_prev, lru_next, ttl_prev, ttl_next
    cdef unsigned char raw[SID_BYTES]
    cdef Py_ssize_t raw_len  # 0: not in the raw index
    cdef unsigned long long raw_hash

    def __init__(self, double now):
        self.first = self.last = self.refreshed = now
        self.audio.buffer_ms = self.video.buffer_ms = -1


cdef enum:
    MAX_PROBE = 32  # slots a raw-index lookup reads at most; past it the dict answers (slower, same result)
    MAX_INDEX_SLOTS = 1 << 20


cdef inline unsigned long long raw_hash(const unsigned char* p, Py_ssize_t n, unsigned long long seed) noexcept:
    """Keyed (a random seed per table) and cheap; the probe bound caps what collisions can cost."""
    cdef unsigned long long h = seed ^ (<unsigned long long>n * 0x9E3779B97F4A7C15ULL)
    cdef unsigned long long word
    cdef Py_ssize_t i = 0
    while i + 8 <= n:
        memcpy(&word, p + i, 8)
        h = (h ^ word) * 0xBF58476D1CE4E5B9ULL
        h ^= h >> 31
        i += 8
    word = 0
    memcpy(&word, p + i, n - i)
    h = (h ^ word) * 0x94D049BB133111EBULL
    return h ^ (h >> 29)


cdef class SessionTable:
    """cachetools.TTLCache(maxsize, ttl) as qoe.py uses it: an entry expires ttl after its last write
    (reads do not extend it), a read of an expired entry misses (it stays until expire()), and
    evict() removes the least recently read or written entry. Keyed by the sid's text (a dict, which
    holds the entries); sessions whose sid is plain ASCII are also in a raw index (open addressing,
    linear probing, borrowed pointers), so the hit path finds them from the bytes as sent, without
    making a str."""

    cdef dict entries
    cdef Session root  # of both rings: lru_next is the least recent, ttl_next the first to expire
    cdef double ttl
    cdef readonly Py_ssize_t maxsize
    cdef PyObject** slots
    cdef size_t mask
    cdef unsigned long long seed

    def __cinit__(self, Py_ssize_t maxsize, double ttl):
        cdef size_t size = 16
        while size < 2 * <size_t>maxsize and size < MAX_INDEX_SLOTS:
            size *= 2
        self.slots = <PyObject**>calloc(size, sizeof(PyObject*))
        if self.slots == NULL:
            raise MemoryError()
        self.mask = size - 1

    def __dealloc__(self):
        free(self.slots)

    def __init__(self, Py_ssize_t maxsize, double ttl):
        self.entries = {}
        self.root = Session(0.0)
        self.root.lru_prev = self.root.lru_next = self.root
        self.root.ttl_prev = self.root.ttl_next = self.root
        self.ttl = ttl
        self.maxsize = maxsize
        self.seed = int.from_bytes(os.urandom(8), "little")

    cdef inline void touch(self, Session s) noexcept:
        """Most recently used now."""
        s.lru_prev.lru_next = s.lru_next
        s.lru_next.lru_prev = s.lru_prev
        s.lru_prev = self.root.lru_prev
        s.lru_next = self.root
        self.root.lru_prev.lru_next = s
        self.root.lru_prev = s

    cdef Session get(self, key, double now):
        cdef PyObject* found = PyDict_GetItem(self.entries, key)
        if found == NULL:
            return None
        cdef Session s = <Session><object>found
        self.touch(s)
        return s if now < s.expires else None

    cdef Session find_raw(self, const unsigned char* raw, Py_ssize_t size):
        """The session whose plain sid is these bytes, if the raw index has it (expired or not; not touched)."""
        cdef unsigned long long h = raw_hash(raw, size, self.seed)
        cdef size_t i = h & self.mask
        cdef int probe
        cdef Session s
        for probe in range(MAX_PROBE):
            if self.slots[i] == NULL:
                return None
            s = <Session><object>self.slots[i]
            if s.raw_hash == h and s.raw_len == size and memcmp(s.raw, raw, size) == 0:
                return s
            i = (i + 1) & self.mask
        return None

    cdef void index_raw(self, Session s, const unsigned char* raw, Py_ssize_t size) noexcept:
        """Put `s` (in the table, its sid these plain bytes) in the raw index, if a slot is near."""
        cdef unsigned long long h
        cdef size_t i
        cdef int probe
        if s.raw_len or s.lru_prev is None:
            return
        h = raw_hash(raw, size, self.seed)
        i = h & self.mask
        for probe in range(MAX_PROBE):
            if self.slots[i] == NULL:
                self.slots[i] = <PyObject*>s
                memcpy(s.raw, raw, size)
                s.raw_len = size
                s.raw_hash = h
                return
            i = (i + 1) & self.mask

    cdef void unindex_raw(self, Session s) noexcept:
        """Take `s` out of the raw index; later entries of its run move back (no tombstones)."""
        cdef size_t i = s.raw_hash & self.mask
        cdef size_t hole, home
        cdef int probe
        if not s.raw_len:
            return
        s.raw_len = 0
        for probe in range(MAX_PROBE):
            if self.slots[i] == <PyObject*>s:
                break
            i = (i + 1) & self.mask
        else:
            return  # unreachable: an entry never sits further than MAX_PROBE from its home
        self.slots[i] = NULL
        hole = i
        while True:
            i = (i + 1) & self.mask
            if self.slots[i] == NULL:
                return
            home = (<Session><object>self.slots[i]).raw_hash & self.mask
            # It may fill the hole unless its home lies cyclically in (hole, i].
            if (i > hole and (home <= hole or home > i)) or (i < hole and home <= hole and home > i):
                self.slots[hole] = self.slots[i]
                self.slots[i] = NULL
                hole = i

    cdef void put(self, key, Session s, double now):
        """Store (again): expires ttl from now. The caller made room (evict) for a new key."""
        if s.lru_prev is None:  # new, or back after it was removed
            s.key = key
            self.entries[key] = s
            s.lru_prev = s.lru_next = s
            s.ttl_prev = s.ttl_next = s
        self.touch(s)
        s.ttl_prev.ttl_next = s.ttl_next
        s.ttl_next.ttl_prev = s.ttl_prev
        s.ttl_prev = self.root.ttl_prev
        s.ttl_next = self.root
        self.root.ttl_prev.ttl_next = s
        self.root.ttl_prev = s
        s.expires = now + self.ttl

    cdef void remove(self, Session s):
        self.unindex_raw(s)  # first: the dict holds the reference the index borrows
        s.lru_prev.lru_next = s.lru_next
        s.lru_next.lru_prev = s.lru_prev
        s.ttl_prev.ttl_next = s.ttl_next
        s.ttl_next.ttl_prev = s.ttl_prev
        s.lru_prev = s.lru_next = s.ttl_prev = s.ttl_next = None
        del self.entries[s.key]

    cdef list expire(self, double now):
        """Remove and return the entries expired at `now`, first to expire first (None: none)."""
        cdef Session s = self.root.ttl_next
        if s is self.root or now < s.expires:
            return None
        cdef list ended = []
        while s is not self.root and not (now < s.expires):
            ended.append(s)
            self.remove(s)
            s = self.root.ttl_next
        return ended

    cdef void evict(self):
        cdef Session s = self.root.lru_next
        if s is not self.root:
            self.remove(s)

    def __len__(self):
        return len(self.entries)


cdef class QoeTracker:
    """cdn_edge.qoe.QoeTracker, compiled: the same constructor, methods and metrics."""

    cdef readonly object metrics
    cdef readonly object clock
    cdef int clock_id  # -1: call self.clock; else read this clock directly (it is time.time or time.monotonic)
    cdef readonly long one_in
    cdef SessionTable table
    cdef double refresh_after
    cdef public double pending_watch
    cdef long long rungs[6]
    cdef long long throughput[THROUGHPUT_COUNTS]  # mtp samples since the last flush, by bucket (throughput_bucket)
    cdef long long throughput_sum
    cdef object children  # cdn_edge.qoe.QoeChildren

    def __init__(self, metrics, clock, *, double ttl=120.0, Py_ssize_t max_sessions=100_000, long sample_one_in=1):
        if sample_one_in < 1:
            raise ValueError(f"sample_one_in must be at least 1, not {sample_one_in}")
        self.metrics = metrics
        self.clock = clock
        self.clock_id = CLOCK_REALTIME if clock is time.time else CLOCK_MONOTONIC if clock is time.monotonic else -1
        self.one_in = sample_one_in
        self.table = SessionTable(max_sessions, ttl)
        self.refresh_after = ttl / 8
        self.pending_watch = 0.0
        for i in range(6):
            self.rungs[i] = 0
        for i in range(THROUGHPUT_COUNTS):
            self.throughput[i] = 0
        self.throughput_sum = 0
        self.children = metrics.children()

    cdef inline double now(self) except? -1.0:
        cdef timespec ts
        if self.clock_id < 0:
            return self.clock()
        clock_gettime(self.clock_id, &ts)
        return ts.tv_sec + ts.tv_nsec * 1e-9

    @property
    def sessions(self):
        """The sessions followed now, by sid (as qoe.QoeTracker.sessions lists them: expired ones left out)."""
        now = self.now()
        return {key: s for key, s in self.table.entries.items() if now < (<Session>s).expires}

    @property
    def pending_rungs(self):
        return {label: self.rungs[i] for i, label in enumerate(RUNG_LABELS)}

    # The hit path
    def take_target(self, bytes target):
        """The request target without a query of nothing but CMCD, which is observed (qoe.QoeTracker.take_target)."""
        cdef const unsigned char* t = <const unsigned char*>PyBytes_AS_STRING(target)
        cdef Py_ssize_t n = PyBytes_GET_SIZE(target)
        cdef const unsigned char* mark
        cdef Py_ssize_t cut, listed
        if n < 1 or t[0] != b'/':
            return target
        mark = <const unsigned char*>memchr(t, b'?', n)
        if mark == NULL:
            return target
        cut = mark - t
        listed = cut + 6
        if listed > n or memcmp(mark, b"?CMCD=", 6) != 0 or memchr(t + listed, b'&', n - listed) != NULL:
            return target
        self.observe_raw(t + listed, n - listed, True, t, cut, None)
        return PyBytes_FromStringAndSize(<const char*>t, cut)

    def observe_list(self, str path, bytes listed):
        """One percent-encoded CMCD list, the value of a query that holds nothing else."""
        self.observe_raw(<const unsigned char*>PyBytes_AS_STRING(listed), PyBytes_GET_SIZE(listed), True, NULL, 0, path)

    def take(self, str path, bytes query, list headers, bint has_header):
        """qoe.QoeTracker.take: the query and headers without CMCD, which is observed."""
        if not has_header and query.startswith(b"CMCD=") and b"&" not in query:
            self.observe_list(path, query[5:])
            return b"", headers
        raw, query = split_query(query)
        if has_header:
            values, headers = split_headers(headers)
            joined = b",".join(values)
            self.observe_raw(<const unsigned char*>PyBytes_AS_STRING(joined), PyBytes_GET_SIZE(joined), False,
                             NULL, 0, path)
        elif raw is not None:
            self.observe_raw(<const unsigned char*>PyBytes_AS_STRING(raw), PyBytes_GET_SIZE(raw), True, NULL, 0, path)
        return query, headers

    cdef void observe_raw(self, const unsigned char* raw, Py_ssize_t size, bint encoded,
                          const unsigned char* raw_path, Py_ssize_t path_size, str path) except *:
        """`raw_path` (path_size bytes, up to a `#`) or `path` (decoded): where the request went."""
        cdef Parsed c
        cdef const unsigned char* fragment
        text = parse(raw, size, encoded, &c)
        if text is None and not c.sid_len:
            return  # without a session nothing can be attributed
        cdef int ot = c.ot
        cdef bint media
        if ot != OT_NONE:
            media = ot == OT_A or ot == OT_V or ot == OT_AV
        elif path is not None:
            media = path.endswith(SEGMENT_SUFFIXES)
        else:
            fragment = <const unsigned char*>memchr(raw_path, b'#', path_size)
            media = ends_with_segment_suffix(raw_path, (fragment - raw_path) if fragment != NULL else path_size)
        self.record(text, &c, media)

    def observe(self, cmcd, str path):
        """A parsed CMCD (cdn_edge.cmcd.Cmcd) of a request for `path`."""
        cdef Parsed c
        if cmcd.sid is None:
            return
        c.su, c.bs = cmcd.su, cmcd.bs
        c.bl = -1 if cmcd.bl is None else cmcd.bl
        c.br = -1 if cmcd.br is None else cmcd.br
        c.mtp = -1 if cmcd.mtp is None else cmcd.mtp
        c.sid_len = 0
        ot = cmcd.ot
        c.ot = OBJECT_NAMES.index(ot) if ot in OBJECT_NAMES else OT_NONE  # an unknown type: not media, not "i"
        media = ot in ("a", "v", "av") if ot is not None else path.endswith(SEGMENT_SUFFIXES)
        self.record(cmcd.sid, &c, media)

    cdef void record(self, str text, Parsed* c, bint media) except *:
        """One request of the session named `text`, or by c.sid's plain bytes (text None)."""
        cdef Session session = None
        cdef double now
        if c.sid_len:
            session = self.table.find_raw(c.sid, c.sid_len)  # only sessions followed are in the table
            if session is None:
                text = PyUnicode_DecodeASCII(<const char*>c.sid, c.sid_len, NULL)
        if session is None and self.one_in != 1 and hash(text) % self.one_in:
            return
        now = self.now()
        if session is not None:
            self.table.touch(session)  # a read of the table, as session() does
            if not (now < session.expires):
                session = None
                text = PyUnicode_DecodeASCII(<const char*>c.sid, c.sid_len, NULL)
        if session is None:
            session = self.session(text, now)
            if c.sid_len:
                self.table.index_raw(session, c.sid, c.sid_len)
        cdef double gap = now - session.last
        if gap > 0:
            self.pending_watch += gap if gap < C_MAX_GAP else C_MAX_GAP
        session.last = now
        if now - session.refreshed > self.refresh_after:
            session.refreshed = now
            self.keep(session, now)
        if c.mtp >= 0:
            self.throughput[throughput_bucket(c.mtp)] += 1
            self.throughput_sum += c.mtp
        if not media:
            # hls.js may flag a stall on an init segment (a switch down): it counts for the video.
            if c.bs and c.ot == OT_I and session.video.present:
                self.starved(&session.video, now)
            return
        if c.br >= 0:
            self.rungs[rung_index(c.br)] += 1
        self.buffer(&session.audio if c.ot == OT_A else &session.video, c, now)
        if not session.started:
            session.started = True
            self.children.startup_edge.observe(now - session.first)

    cdef void buffer(self, Stream* stream, Parsed* c, double now) except *:
        """qoe.QoeTracker._buffer: a media request of one of the session's streams."""
        if not stream.present:
            stream.present = True
        elif c.bs:
            self.starved(stream, now)
        stream.last = now
        stream.buffer_ms = c.bl
        if not c.su:
            stream.playing = True

    cdef void starved(self, Stream* stream, double now) except *:
        """qoe.QoeTracker._starved: a rebuffer if past startup and its buffer may have run dry."""
        if not stream.playing:
            return
        cdef double stalled
        if stream.buffer_ms < 0:
            self.children.rebuffers.inc(self.one_in)
            return
        stalled = now - stream.last - stream.buffer_ms / 1000.0
        if stalled > 0:
            self.children.rebuffers.inc(self.one_in)
            self.children.rebuffer_seconds.inc((stalled if stalled < C_MAX_GAP else C_MAX_GAP) * self.one_in)

    def tracks(self, str sid):
        return self.one_in == 1 or hash(sid) % self.one_in == 0

    def beacon(self, str sid, str event, startup_seconds):
        # Rare (rate-limited per client): the reference's logic on this table.
        if not self.tracks(sid):
            return
        cdef double now = self.now()
        cdef Session session = self.session(sid, now)
        self.keep(session, now)
        if event == "start":
            if startup_seconds is not None:
                self.children.startup_player.observe(startup_seconds)
            session.started = True
        elif session.started:
            self.children.errors.inc(self.one_in)
        else:
            self.failed(session)

    def flush(self):
        cdef double now = self.now()
        cdef Py_ssize_t i
        self.expire(now)
        self.metrics.active.labels(self.metrics.node).set(len(self.table) * self.one_in)
        if self.pending_watch:
            self.children.watch.inc(self.pending_watch * self.one_in)
            self.pending_watch = 0.0
        for i in range(6):
            if self.rungs[i]:
                self.children.rungs[i].inc(self.rungs[i] * self.one_in)
                self.rungs[i] = 0
        cdef bint counted = False
        for i in range(THROUGHPUT_COUNTS):
            counted = counted or self.throughput[i] != 0
        if counted:  # O(buckets) a scrape, however many requests (cdn_edge/counted_histogram.py)
            self.children.throughput.add([self.throughput[i] for i in range(THROUGHPUT_COUNTS)], self.throughput_sum)
            memset(self.throughput, 0, THROUGHPUT_COUNTS * sizeof(long long))
            self.throughput_sum = 0

    cdef void expire(self, double now) except *:
        ended = self.table.expire(now)
        if ended is not None:
            for session in ended:
                if not (<Session>session).started:
                    self.failed(session)

    cdef void failed(self, Session session) except *:
        """A start failure, counted once a session."""
        if not session.failed:
            session.failed = True
            self.children.failures.inc(self.one_in)

    cdef void keep(self, Session session, double now) except *:
        """Store again (the TTL restarts), after ending the expired (the write would drop them unseen)."""
        self.expire(now)
        self.table.put(session.key, session, now)

    cdef Session session(self, str sid, double now):
        cdef Session found = self.table.get(sid, now)
        if found is not None:
            return found
        self.expire(now)
        if len(self.table.entries) >= self.table.maxsize:
            self.table.evict()  # the least recently used: overload, not a verdict on it
            self.children.dropped.inc()
        found = Session(now)
        self.table.put(sid, found, now)
        self.children.sessions.inc(self.one_in)
        return found


cdef long long RUNG_BOUNDS[5]
for _i, (_bound, _) in enumerate(RUNGS):
    RUNG_BOUNDS[_i] = _bound
if len(RUNGS) != 5:
    raise ImportError("RUNGS changed: the compiled tracker counts five rungs and the top")


cdef inline int rung_index(long long kbps) noexcept:
    cdef int i
    for i in range(5):
        if kbps <= RUNG_BOUNDS[i]:
            return i
    return 5


cdef long long THROUGHPUT_BOUND[THROUGHPUT_BOUNDS]
if len(THROUGHPUT_BUCKETS) != THROUGHPUT_BOUNDS or list(THROUGHPUT_BUCKETS) != sorted(THROUGHPUT_BUCKETS):
    raise ImportError("THROUGHPUT_BUCKETS changed: the compiled tracker counts eight sorted bounds and +Inf")
for _i, _bound in enumerate(THROUGHPUT_BUCKETS):
    THROUGHPUT_BOUND[_i] = _bound


cdef inline int throughput_bucket(long long kbps) noexcept:
    """bisect_left(THROUGHPUT_BUCKETS, kbps): the first bucket whose bound is at least kbps (le), else +Inf's."""
    cdef int low = 0, high = THROUGHPUT_BOUNDS, middle
    while low < high:
        middle = (low + high) >> 1
        if THROUGHPUT_BOUND[middle] < kbps:
            low = middle + 1
        else:
            high = middle
    return low
