/* ebcap.capture.kernel._ringdrain: the per-record loop of RingReader.drain_into (capture/kernel/ring.py), in C.
 *
 * Why: `ebcap -w` spent 0.6-0.76 us of CPython time per packet in that loop (one unpack, one
 * slice, one append per record), and 0.76 us/record is the floor for the minimal Python loop on
 * the test VM, while tcpdump spends ~0.22 us per packet in all. Here the walk over the ring costs
 * a few ns a record. ring.py keeps the Python loop for machines where this was not built
 * (setup.py marks the extension optional).
 *
 * `buffer` is the read-only mmap of the ring from the producer page on: the data area starts at
 * `data_base` and is mapped once (capture/kernel/ring.py says why), so the payload of a record near its
 * end wraps to its start; the 8-byte header never does (records are 8-aligned). The layout is
 * the kernel's (kernel/bpf/ringbuf.c): u32 len (bit 31 busy, bit 30 discard), u32 page offset,
 * payload, padded to 8. Each payload is one or more pcapng EPBs back to back (bpf/record.h),
 * whose total_lengths, 4 bytes into each, say where each ends. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>
#include <unistd.h>

#define RINGBUF_BUSY_BIT (1u << 31)
#define RINGBUF_DISCARD_BIT (1u << 30)
#define RINGBUF_HDR_SZ 8u

struct walk {
	const char *buf;
	Py_ssize_t data_base;
	uint64_t mask;		/* the data area's size - 1 (a power of two) */
};

static uint32_t read_u32(const char *p)
{
	uint32_t v;

	memcpy(&v, p, sizeof(v));
	return v;
}

/* Where ring position `pos` is in the buffer. */
static const char *at(const struct walk *w, uint64_t pos)
{
	return w->buf + w->data_base + (Py_ssize_t)(pos & w->mask);
}

/* The ring header of the record at `cons`, read as libbpf does (smp_load_acquire): nothing of
 * the payload may be read before the header says the record is committed. */
static uint32_t read_header(const struct walk *w, uint64_t cons)
{
	uint32_t header = read_u32(at(w, cons));

	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	return header;
}

/* How many bytes and blocks the record at `cons` holds, its first `limit` blocks only when
 * limit > 0 (bpf/record.h: EPBs back to back, up to the record's end or a total_length of 0),
 * each block's length checked against what is left of its record. */
static int record_blocks(const struct walk *w, uint64_t cons, uint32_t header, Py_ssize_t limit,
			 uint32_t *bytes, Py_ssize_t *blocks)
{
	uint32_t record_len = header & (RINGBUF_DISCARD_BIT - 1), taken = 0, len;
	Py_ssize_t n = 0;

	if (record_len < 12 || record_len > w->mask + 1 - RINGBUF_HDR_SZ) {
		PyErr_Format(PyExc_ValueError, "corrupt ring record of %u bytes at position %llu",
			     record_len, (unsigned long long)cons);
		return -1;
	}
	while (record_len - taken >= 12 && (limit <= 0 || n < limit)) {
		/* blocks are 4-aligned in an 8-aligned payload: a length word never wraps */
		len = read_u32(at(w, cons + RINGBUF_HDR_SZ + taken + 4));
		if (n && !len)
			break;
		if (len < 12 || len > record_len - taken) {
			PyErr_Format(PyExc_ValueError, "EPB of %u bytes in a ring record with %u left",
				     len, record_len - taken);
			return -1;
		}
		taken += len;
		n++;
	}
	*bytes = taken;
	*blocks = n;
	return 0;
}

/* Copy `len` bytes from ring position `pos` on, in two pieces if they wrap. */
static void copy_out(const struct walk *w, uint64_t pos, char *dst, uint32_t len)
{
	uint64_t to_end = w->mask + 1 - (pos & w->mask);

	if (len <= to_end) {
		memcpy(dst, at(w, pos), len);
		return;
	}
	memcpy(dst, at(w, pos), to_end);
	memcpy(dst + to_end, w->buf + w->data_base, len - to_end);
}

static uint64_t record_size(uint32_t header)
{
	return ((uint64_t)(header & (RINGBUF_DISCARD_BIT - 1)) + RINGBUF_HDR_SZ + 7) & ~(uint64_t)7;
}

/* The walk of drain_into and drain_write: copies each committed record's EPBs from `*pos` on
 * into dst[*out_off:out_len] while whole records fit, up to `prod` or `limit` packets (limit > 0:
 * the rest of the record that reaches it is dropped, -c ends the capture there); stops at a busy
 * record. A record's blocks are contiguous: one copy each. Returns -1 with an exception set on a
 * corrupt record. */
static int fill(const struct walk *w, uint64_t *pos, uint64_t prod, Py_ssize_t limit, char *dst,
		Py_ssize_t *out_off, Py_ssize_t out_len, uint64_t *per_iface, uint64_t ifaces,
		Py_ssize_t *packets)
{
	uint32_t header, len;
	Py_ssize_t n;

	while (*pos < prod && (limit <= 0 || *packets < limit)) {
		header = read_header(w, *pos);
		if (header & RINGBUF_BUSY_BIT)
			break;
		if (!(header & RINGBUF_DISCARD_BIT)) {
			if (record_blocks(w, *pos, header, limit > 0 ? limit - *packets : 0, &len,
					  &n) < 0)
				return -1;
			if (len > (uint64_t)(out_len - *out_off))
				break;			/* no room: the caller writes out and comes back */
			char *block = dst + *out_off;

			copy_out(w, *pos + RINGBUF_HDR_SZ, block, len);
			for (Py_ssize_t i = 0; per_iface && i < n; i++) {
				uint32_t iid = read_u32(block + 8);	/* EPB interface id */
				if (iid < ifaces)
					per_iface[iid]++;
				block += read_u32(block + 4);
			}
			*out_off += len;
			*packets += n;
		}
		*pos += record_size(header);
	}
	return 0;
}

static int check_walk(const Py_buffer *view, Py_ssize_t data_base, unsigned long long mask,
		      const Py_buffer *out, Py_ssize_t out_off)
{
	if (data_base < 0 || data_base > view->len || out_off < 0 || out_off > out->len) {
		PyErr_SetString(PyExc_ValueError, "offset outside the buffer");
		return -1;
	}
	if (mask < 7 || (mask & (mask + 1)) || mask >= (unsigned long long)(view->len - data_base)) {
		PyErr_SetString(PyExc_ValueError, "the data area is not a power of two inside the buffer");
		return -1;
	}
	return 0;
}

/* drain_into(buffer, data_base, mask, cons, prod, limit, out, out_off) -> (out_off, cons, packets)
 *
 * Copies each committed EPB straight into `out` (a writable buffer: the pcapng writer's reusable
 * chunk) from `out_off` on, while whole records fit. One pass and no allocation: the earlier
 * version returned a new bytes object per batch, which the writer then joined; that malloc and
 * second copy were about a fifth of the capture process's CPU at 700k packets/s (perf, 64-byte
 * packets). */
static PyObject *drain_into(PyObject *self, PyObject *args)
{
	Py_buffer view, out, counts = { .buf = NULL, .len = 0 };
	Py_ssize_t data_base, limit, out_off;
	unsigned long long mask, cons, prod;
	PyObject *result = NULL;

	(void)self;
	if (!PyArg_ParseTuple(args, "y*nKKKnw*n|w*:drain_into", &view, &data_base, &mask, &cons,
			      &prod, &limit, &out, &out_off, &counts))
		return NULL;
	/* -i any into one file: blocks delivered per interface id, for its ISB */
	uint64_t *per_iface = counts.buf;
	uint64_t ifaces = (uint64_t)counts.len / sizeof(uint64_t);
	struct walk w = { view.buf, data_base, mask };
	uint64_t pos = cons;
	Py_ssize_t packets = 0;

	if (check_walk(&view, data_base, mask, &out, out_off) < 0)
		goto out;
	if (fill(&w, &pos, prod, limit, out.buf, &out_off, out.len, per_iface, ifaces, &packets) < 0)
		goto out;
	result = Py_BuildValue("nKn", out_off, (unsigned long long)pos, packets);
out:
	if (counts.buf)
		PyBuffer_Release(&counts);
	PyBuffer_Release(&out);
	PyBuffer_Release(&view);
	return result;
}

/* Writes out[0:*out_off] to fd; on a short write keeps the rest at the start of `out`. Returns
 * the bytes written; 0 and *out_off unchanged when write(2) failed (the caller's Python path
 * writes again and reports the error). */
static Py_ssize_t write_out(int fd, char *out, Py_ssize_t *out_off)
{
	Py_ssize_t n;

	Py_BEGIN_ALLOW_THREADS
	n = write(fd, out, (size_t)*out_off);
	Py_END_ALLOW_THREADS
	if (n <= 0)
		return 0;
	if (n < *out_off)
		memmove(out, out + n, (size_t)(*out_off - n));
	*out_off -= n;
	return n;
}

/* drain_write(buffer, data_base, mask, consumer, limit, out, out_off, fd, write_at[, counts])
 * -> (out_off, packets, written)
 *
 * drain_into's walk, and each time `out` holds write_at bytes or more, one write(2) of it to fd,
 * until the ring has no more: a drain is one call, however many chunks it writes. consumer_pos
 * (the first 8 bytes of `consumer`) is read here and published after each fill, as libbpf does
 * (smp_store_release). Per-chunk Python (the call, the ctypes store, FileIO.write) cost ~30 us
 * a chunk after the reader slept, cache-cold (~0.15 ms of a 2 MiB drain's ~1.45 on the bench's
 * TCP stream). A short or failed write stops the loop with what was not written still in
 * `out`: the writer's Python path writes it and handles the error. */
static PyObject *drain_write(PyObject *self, PyObject *args)
{
	Py_buffer view, consumer, out, counts = { .buf = NULL, .len = 0 };
	Py_ssize_t data_base, limit, out_off, write_at, written = 0, packets = 0;
	unsigned long long mask;
	int fd;
	PyObject *result = NULL;

	(void)self;
	if (!PyArg_ParseTuple(args, "y*nKw*nw*nin|w*:drain_write", &view, &data_base, &mask,
			      &consumer, &limit, &out, &out_off, &fd, &write_at, &counts))
		return NULL;
	uint64_t *per_iface = counts.buf;
	uint64_t ifaces = (uint64_t)counts.len / sizeof(uint64_t);
	struct walk w = { view.buf, data_base, mask };
	uint64_t *consumer_pos = consumer.buf, pos, prod;

	if (check_walk(&view, data_base, mask, &out, out_off) < 0)
		goto out;
	if (consumer.len < 8 || ((uintptr_t)consumer.buf & 7) || view.len < 8 ||
	    ((uintptr_t)view.buf & 7)) {
		PyErr_SetString(PyExc_ValueError, "positions not 8 bytes, 8-aligned");
		goto out;
	}
	pos = __atomic_load_n(consumer_pos, __ATOMIC_RELAXED);	/* only this reader writes it */
	for (;;) {
		prod = __atomic_load_n((const uint64_t *)view.buf, __ATOMIC_ACQUIRE);
		int failed = fill(&w, &pos, prod, limit, out.buf, &out_off, out.len, per_iface, ifaces,
				  &packets);

		__atomic_store_n(consumer_pos, pos, __ATOMIC_RELEASE);
		if (failed)
			goto out;
		if (out_off < write_at || (limit > 0 && packets >= limit))
			break;
		Py_ssize_t before = out_off, n = write_out(fd, out.buf, &out_off);

		written += n;
		if (n < before)
			break;
	}
	result = Py_BuildValue("nnn", out_off, packets, written);
out:
	if (counts.buf)
		PyBuffer_Release(&counts);
	PyBuffer_Release(&out);
	PyBuffer_Release(&consumer);
	PyBuffer_Release(&view);
	return result;
}

static PyMethodDef methods[] = {
	{ "drain_into", drain_into, METH_VARARGS,
	  "drain_into(buffer, data_base, mask, cons, prod, limit, out, out_off[, counts])\n"
	  "-> (out_off, cons, packets)\n\n"
	  "Copies the EPBs of the committed records from cons on into out[out_off:], while whole\n"
	  "records fit; stops at a busy record, at prod, or after `limit` packets when limit > 0.\n"
	  "With `counts` (a writable buffer of native u64), adds 1 at each block's interface id." },
	{ "drain_write", drain_write, METH_VARARGS,
	  "drain_write(buffer, data_base, mask, consumer, limit, out, out_off, fd, write_at[, counts])\n"
	  "-> (out_off, packets, written)\n\n"
	  "drain_into from the consumer position held in `consumer`'s first 8 bytes (published after\n"
	  "each fill), writing out[:out_off] to fd whenever it reaches write_at bytes, until the ring\n"
	  "has no more; stops after a short or failed write with the rest still in out." },
	{ NULL, NULL, 0, NULL },
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "ebcap.capture.kernel._ringdrain",
	"The BPF ring buffer walk of capture/kernel/ring.py, into the pcapng writer's buffer.", -1, methods,
	NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__ringdrain(void)
{
	return PyModule_Create(&module);
}
