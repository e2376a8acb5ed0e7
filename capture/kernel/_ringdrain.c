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
 * payload, padded to 8. Each payload is a pcapng EPB (bpf/record.h) whose total_length, 4 bytes
 * in, says how much of the record is the block. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <stdint.h>
#include <string.h>

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

/* The EPB's length, checked against its record and the ring. */
static int read_block_len(const struct walk *w, uint64_t cons, uint32_t header, uint32_t *len)
{
	uint32_t record_len = header & (RINGBUF_DISCARD_BIT - 1);

	if (record_len < 8 || record_len > w->mask + 1 - RINGBUF_HDR_SZ) {
		PyErr_Format(PyExc_ValueError, "corrupt ring record of %u bytes at position %llu",
			     record_len, (unsigned long long)cons);
		return -1;
	}
	/* the payload is 8-aligned: its first 8 bytes do not wrap */
	*len = read_u32(at(w, cons + RINGBUF_HDR_SZ) + 4);
	if (*len > record_len) {
		PyErr_Format(PyExc_ValueError, "EPB of %u bytes in a ring record of %u bytes",
			     *len, record_len);
		return -1;
	}
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

/* drain_into(buffer, data_base, mask, cons, prod, limit, out, out_off) -> (out_off, cons, packets)
 *
 * Copies each committed EPB straight into `out` (a writable buffer: the pcapng writer's reusable
 * chunk) from `out_off` on, while whole blocks fit. One pass and no allocation: the earlier
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
	char *dst = out.buf;
	uint64_t pos = cons;
	Py_ssize_t packets = 0;
	uint32_t header, len;

	if (data_base < 0 || data_base > view.len || out_off < 0 || out_off > out.len) {
		PyErr_SetString(PyExc_ValueError, "offset outside the buffer");
		goto out;
	}
	if (mask < 7 || (mask & (mask + 1)) || mask >= (unsigned long long)(view.len - data_base)) {
		PyErr_SetString(PyExc_ValueError, "the data area is not a power of two inside the buffer");
		goto out;
	}
	while (pos < prod && (limit <= 0 || packets < limit)) {
		header = read_header(&w, pos);
		if (header & RINGBUF_BUSY_BIT)
			break;
		if (!(header & RINGBUF_DISCARD_BIT)) {
			if (read_block_len(&w, pos, header, &len) < 0)
				goto out;
			if (len > (uint64_t)(out.len - out_off))
				break;			/* no room: the caller writes out and comes back */
			copy_out(&w, pos + RINGBUF_HDR_SZ, dst + out_off, len);
			if (per_iface && len >= 12) {
				uint32_t iid = read_u32(dst + out_off + 8);	/* EPB interface id */
				if (iid < ifaces)
					per_iface[iid]++;
			}
			out_off += len;
			packets++;
		}
		pos += record_size(header);
	}
	result = Py_BuildValue("nKn", out_off, (unsigned long long)pos, packets);
out:
	if (counts.buf)
		PyBuffer_Release(&counts);
	PyBuffer_Release(&out);
	PyBuffer_Release(&view);
	return result;
}

static PyMethodDef methods[] = {
	{ "drain_into", drain_into, METH_VARARGS,
	  "drain_into(buffer, data_base, mask, cons, prod, limit, out, out_off[, counts])\n"
	  "-> (out_off, cons, packets)\n\n"
	  "Copies the EPBs of the committed records from cons on into out[out_off:], while whole\n"
	  "blocks fit; stops at a busy record, at prod, or after `limit` packets when limit > 0.\n"
	  "With `counts` (a writable buffer of native u64), adds 1 at each block's interface id." },
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
