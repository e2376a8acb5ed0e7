/* ebcap.capture.kernel._testrun: the per-packet loop of `ebcap -r` (pcap and pcapng files), in C.
 *
 * Why: in Python each packet cost ~6 us before any printing (a record header unpacked, a
 * ctypes BPF_PROG_TEST_RUN call, the ring drained, the EPB parsed, a Packet made), against
 * ~0.3 us for all of `tcpdump -r -w`. Here one pass over a chunk of the file does, for each
 * record: check its header, hand its bytes to the kernel program (BPF_PROG_TEST_RUN, the one
 * filter path), take the program's record from the ring (the kernel's cut: -s or headers
 * only), and either append an EPB to the output buffer (-w) or a Packet to a list (printing).
 * capture/session/offline_fast.py drives it; without this module ebcap keeps the Python loop.
 * Before the program, an XDP filter is asked where there is one (capture/kernel/xdp_offline.py,
 * xdp_verdict below): half the cost of a SCHED_CLS test run, and its answer needs no ring.
 *
 * Anything unusual stops the pass before the record, which the Python path then reads, checks
 * and filters on its own (so its errors and libpcap fallbacks stay the only ones): a record
 * cut off by the chunk's end, a caplen over libpcap's maximum, a frame shorter than an Ethernet
 * header, any test run the kernel refuses. The ring layout is _ringdrain.c's. */
#define PY_SSIZE_T_CLEAN
#include <Python.h>
#include <errno.h>
#include <stdint.h>
#include <string.h>
#include <sys/syscall.h>
#include <unistd.h>
#include <linux/bpf.h>

#define RINGBUF_BUSY_BIT (1u << 31)
#define RINGBUF_DISCARD_BIT (1u << 30)
#define RINGBUF_HDR_SZ 8u
#define PCAP_RECORD 16
#define MAXIMUM_SNAPLEN 262144u
#define ETH_HLEN 14u
#define EPB_HEAD 28u		/* type, total, interface, ts high, ts low, caplen, wirelen */
#define EPB_TAIL 16u		/* epb_flags (code, length, value), end of options, total */
#define BT_EPB 6u
#define OPT_EPB_FLAGS 2u
#define MAX_BLOCK (16u * 1024 * 1024)	/* capture/pcapng/format.py's, libpcap's */

enum status { TAKE = -1, NEED_DATA = 0, SLOW = 1, OUT_FULL = 2, LIMIT = 3 };	/* TAKE: a record */

struct ring {
	const unsigned char *pages;	/* producer page, then the data area (mapped once) */
	Py_ssize_t data_base;
	uint64_t mask;
	volatile uint64_t *consumer;
};

static uint32_t get_u32(const unsigned char *p, int swapped)
{
	uint32_t v;

	memcpy(&v, p, 4);
	return swapped ? __builtin_bswap32(v) : v;
}

static void put_u32(unsigned char *p, uint32_t v)
{
	memcpy(p, &v, 4);
}

/* The ring's bytes [pos, pos + n) into dst, in two pieces when they wrap. */
static void ring_copy(const struct ring *r, unsigned char *dst, uint64_t pos, uint32_t n)
{
	uint64_t size = r->mask + 1, start = pos & r->mask;
	uint64_t first = size - start < n ? size - start : n;

	memcpy(dst, r->pages + r->data_base + start, first);
	if (first < n)
		memcpy(dst + first, r->pages + r->data_base, n - first);
}

/* The packet bytes of the record the program just committed, or NULL when it wrote none (the
 * filter said no). Sets *caplen; the bytes are in `scratch` when the record wraps. */
static const unsigned char *take_record(const struct ring *r, unsigned char *scratch,
					uint32_t *caplen, int *corrupt)
{
	uint64_t cons = *r->consumer, prod;
	const unsigned char *rec = NULL;

	memcpy(&prod, r->pages, 8);
	__atomic_thread_fence(__ATOMIC_ACQUIRE);
	while (cons < prod && rec == NULL) {
		uint32_t header;
		unsigned char head[EPB_HEAD];

		memcpy(&header, r->pages + r->data_base + (cons & r->mask), 4);
		if (header & RINGBUF_BUSY_BIT)
			break;		/* cannot happen: the test run has returned */
		uint32_t len = header & (RINGBUF_DISCARD_BIT - 1);
		if (len > r->mask + 1 - RINGBUF_HDR_SZ) {
			*corrupt = 1;
			return NULL;
		}
		if (!(header & RINGBUF_DISCARD_BIT) && len >= EPB_HEAD) {
			ring_copy(r, head, cons + RINGBUF_HDR_SZ, EPB_HEAD);
			memcpy(caplen, head + 20, 4);
			if (*caplen > len - EPB_HEAD) {
				*corrupt = 1;
				return NULL;
			}
			uint64_t data = cons + RINGBUF_HDR_SZ + EPB_HEAD;
			if ((data & r->mask) + *caplen <= r->mask + 1) {
				rec = r->pages + r->data_base + (data & r->mask);
			} else {
				ring_copy(r, scratch, data, *caplen);
				rec = scratch;
			}
		}
		cons += (len + RINGBUF_HDR_SZ + 7) & ~7ULL;
	}
	*r->consumer = cons;	/* the bytes stay readable until the next test run */
	return rec;
}

static int test_run(union bpf_attr *attr, unsigned char *ctx, uint32_t wire_off,
		    const unsigned char *data, uint32_t caplen, uint32_t wirelen, uint32_t max_wire)
{
	uint32_t wire = wirelen < max_wire ? wirelen : max_wire;

	if (wire < caplen)
		wire = caplen;
	put_u32(ctx + wire_off, wire);
	attr->test.data_in = (uint64_t)(uintptr_t)data;
	attr->test.data_size_in = caplen;
	/* the kernel writes these back; a data_size_out left over makes the next call ENOSPC */
	attr->test.retval = 0;
	attr->test.data_size_out = 0;
	attr->test.ctx_size_out = 0;
	attr->test.duration = 0;
	return syscall(__NR_bpf, BPF_PROG_TEST_RUN, attr, sizeof(*attr)) < 0 ? errno : 0;
}

/* The XDP filter's answer (capture/kernel/xdp_offline.py) for a record: XDP_NO, XDP_YES, or
 * XDP_ASK (the SCHED_CLS program decides: the filter could not, the frame is not one the XDP
 * program takes, or the kernel refused). It reads the wire length from the 4 bytes before the
 * frame, the pcap record header's or the EPB's last field, so it takes only a record whose
 * field there says its wire length as the file does, one the SCHED_CLS context would not clamp. */
enum { XDP_NO = 0, XDP_YES = 1, XDP_ASK = 2 };
#define XDP_MAX_FRAME 3000u	/* under a test run's page less headroom and shared info */

static int xdp_verdict(int xdp_fd, int swapped, const unsigned char *data, uint32_t caplen,
		       uint32_t wirelen, uint32_t max_wire)
{
	union bpf_attr attr;

	if (xdp_fd < 0 || swapped || caplen < ETH_HLEN || caplen > XDP_MAX_FRAME ||
	    caplen > wirelen || wirelen > max_wire || get_u32(data - 4, 0) != wirelen)
		return XDP_ASK;
	memset(&attr, 0, sizeof(attr.test));
	attr.test.prog_fd = xdp_fd;
	attr.test.repeat = 1;
	attr.test.data_in = (uint64_t)(uintptr_t)(data - 4);
	attr.test.data_size_in = caplen + 4;
	if (syscall(__NR_bpf, BPF_PROG_TEST_RUN, &attr, sizeof(attr.test)) < 0)
		return XDP_ASK;
	return attr.test.retval <= XDP_ASK ? (int)attr.test.retval : XDP_ASK;
}

/* The EPB ebcap's writer makes of a packet (capture/pcapng/writer.py encode_epb). */
static Py_ssize_t put_epb(unsigned char *out, uint64_t ts, uint32_t iface, uint32_t wirelen,
			  const unsigned char *data, uint32_t caplen, uint32_t direction)
{
	uint32_t padded = (caplen + 3) & ~3u, total = EPB_HEAD + padded + EPB_TAIL;
	uint32_t head[7] = {BT_EPB, total, iface, (uint32_t)(ts >> 32), (uint32_t)ts, caplen, wirelen};
	uint32_t tail[4] = {OPT_EPB_FLAGS | (4u << 16), direction, 0, total};

	memcpy(out, head, EPB_HEAD);
	memcpy(out + EPB_HEAD, data, caplen);
	memset(out + EPB_HEAD + caplen, 0, padded - caplen);
	memcpy(out + EPB_HEAD + padded, tail, EPB_TAIL);
	return total;
}

/* packet_type(ts_ns, interface, direction, wirelen, data, (), None): a Packet (capture/packet.py, a
 * NamedTuple: a tuple subclass without a dict) filled in place, as structseq does, without
 * the call to its Python __new__. */
static PyObject *make_packet(PyTypeObject *type, uint64_t ts, uint32_t iface,
			     PyObject *direction, uint32_t wirelen, const unsigned char *data,
			     uint32_t caplen)
{
	PyObject *items[7] = {
		PyLong_FromUnsignedLongLong(ts), PyLong_FromUnsignedLong(iface), Py_NewRef(direction),
		PyLong_FromUnsignedLong(wirelen), PyBytes_FromStringAndSize((const char *)data, caplen),
		PyTuple_New(0), Py_NewRef(Py_None),
	};
	PyObject *packet = type->tp_alloc(type, 7);

	for (int i = 0; i < 7; i++) {
		if (!items[i] || !packet) {
			for (int j = 0; j < 7; j++)
				Py_XDECREF(items[j]);
			Py_XDECREF(packet);
			return NULL;
		}
	}
	for (int i = 0; i < 7; i++)
		PyTuple_SET_ITEM(packet, i, items[i]);
	return packet;
}

/* One record of the file: where its packet is and what the output needs of it. */
struct record {
	const unsigned char *data;
	uint32_t caplen, wirelen, iface, direction;
	uint64_t ts;
	Py_ssize_t size;	/* bytes the record takes in the file */
};

struct format {
	int pcapng, swapped;
	uint64_t ts_mult;	/* pcap: ns per timestamp fraction */
	const unsigned char *units;	/* pcapng: per interface, 0 (the Python path's), 1 ns, 2 us */
	Py_ssize_t interfaces;
};

/* A classic pcap record at p (avail bytes from there): TAKE and *rec, or NEED_DATA or SLOW. */
static int next_pcap(const struct format *f, const unsigned char *p, Py_ssize_t avail,
		     struct record *rec)
{
	if (avail < PCAP_RECORD)
		return NEED_DATA;
	uint32_t sec = get_u32(p, f->swapped), frac = get_u32(p + 4, f->swapped);
	rec->caplen = get_u32(p + 8, f->swapped);
	rec->wirelen = get_u32(p + 12, f->swapped);
	if (rec->caplen > MAXIMUM_SNAPLEN || rec->caplen < ETH_HLEN)
		return SLOW;
	if (avail - PCAP_RECORD < (Py_ssize_t)rec->caplen)
		return NEED_DATA;
	rec->data = p + PCAP_RECORD;
	rec->iface = 0;
	rec->direction = 0;
	rec->ts = (uint64_t)sec * 1000000000ULL + (uint64_t)frac * f->ts_mult;
	rec->size = PCAP_RECORD + rec->caplen;
	return TAKE;
}

static uint16_t get_u16(const unsigned char *p, int swapped)
{
	uint16_t v;

	memcpy(&v, p, 2);
	return swapped ? __builtin_bswap16(v) : v;
}

/* A pcapng block at p: TAKE for an EPB the fast path takes (on an interface whose `units` are
 * known, with at most an epb_flags option), else NEED_DATA or SLOW (any other block, any length
 * or option the reader must judge: capture/pcapng/reader.py says how). */
static int next_pcapng(const struct format *f, const unsigned char *p, Py_ssize_t avail,
		       struct record *rec)
{
	if (avail < 8)
		return NEED_DATA;
	uint32_t type = get_u32(p, f->swapped), total = get_u32(p + 4, f->swapped);
	if (type != BT_EPB || total < 32 || total % 4 || total > MAX_BLOCK)
		return SLOW;
	if (avail < (Py_ssize_t)total)
		return NEED_DATA;
	if (get_u32(p + total - 4, f->swapped) != total)
		return SLOW;
	rec->iface = get_u32(p + 8, f->swapped);
	uint64_t ticks = (uint64_t)get_u32(p + 12, f->swapped) << 32 | get_u32(p + 16, f->swapped);
	rec->caplen = get_u32(p + 20, f->swapped);
	rec->wirelen = get_u32(p + 24, f->swapped);
	if (rec->iface >= f->interfaces || !f->units[rec->iface] || rec->caplen < ETH_HLEN ||
	    rec->caplen > MAXIMUM_SNAPLEN || rec->caplen > total - 32)
		return SLOW;
	if (f->units[rec->iface] == 2) {
		if (ticks > UINT64_MAX / 1000)
			return SLOW;
		ticks *= 1000;
	}
	rec->direction = 0;
	uint32_t opt = 28 + ((rec->caplen + 3) & ~3u), end = total - 4;
	while (opt + 4 <= end) {
		uint16_t code = get_u16(p + opt, f->swapped), len = get_u16(p + opt + 2, f->swapped);
		if (code == 0)
			break;
		if (code != OPT_EPB_FLAGS || len != 4 || opt + 8 > end)
			return SLOW;	/* comments, other options, one running past the block */
		uint32_t bits = get_u32(p + opt + 4, f->swapped) & 3;
		rec->direction = bits < 3 ? bits : 0;
		opt += 8;
	}
	rec->data = p + 28;
	rec->ts = ticks;
	rec->size = total;
	return TAKE;
}

PyDoc_STRVAR(scan_doc,
"scan(pcapng, chunk, pos, end, swapped, ts_mult, units, iface_base, prog_fd, ctx, wire_off,\n"
"     max_wire, ring, data_base, mask, consumer, cut, out, out_used, packets, packet_type,\n"
"     directions, limit) -> (pos, out_used, seen, matched, status)\n\n"
"Filter the records of chunk[pos:end]: classic pcap ones (ts_mult: ns per timestamp fraction)\n"
"or pcapng EPBs (units: one byte an interface, 1 ns, 2 us, 0 for the Python path; output\n"
"interface iface_base + the EPB's). prog_fd < 0: no filter, each packet cut at `cut`.\n"
"xdp_fd >= 0: an XDP filter is asked first (capture/kernel/xdp_offline.py), its matches\n"
"cut at xdp_cut.\n"
"`out` (a bytearray, or None) takes EPBs from out_used on; `packets` (a list, or None) takes\n"
"packet_type(ts_ns, interface, directions[bits], wirelen, data, (), None). Stops after `limit`\n"
"matches when limit > 0. status: 0 the chunk needs more data, 1 the next record is for the\n"
"Python path, 2 `out` is full, 3 the limit was reached.");

static PyObject *scan(PyObject *self, PyObject *args)
{
	Py_buffer chunk, units, ctxbuf, ringbuf = {0}, consbuf = {0}, outbuf = {0};
	Py_ssize_t pos, end, out_used, limit;
	int pcapng, swapped, prog_fd, xdp_fd;
	unsigned long long ts_mult, data_base, mask;
	unsigned int iface_base, wire_off, max_wire, cut, xdp_cut;
	PyObject *ring_obj, *cons_obj, *out_obj, *packets, *packet_type, *directions;

	if (!PyArg_ParseTuple(args, "py*nnpKy*Iiw*IIiIOKKOIOnOOOn", &pcapng, &chunk, &pos,
			      &end, &swapped, &ts_mult, &units, &iface_base, &prog_fd, &ctxbuf,
			      &wire_off, &max_wire, &xdp_fd, &xdp_cut, &ring_obj, &data_base, &mask,
			      &cons_obj, &cut, &out_obj, &out_used, &packets, &packet_type,
			      &directions, &limit))
		return NULL;

	PyObject *result = NULL;
	struct ring r = {0};
	struct format f = {pcapng, swapped, ts_mult, units.buf, units.len};
	union bpf_attr attr;
	unsigned char *scratch = NULL;
	Py_ssize_t seen = 0, matched = 0;
	int status = NEED_DATA;

	if (end > chunk.len || pos < 0 || pos > end || wire_off + 4 > (size_t)ctxbuf.len) {
		PyErr_SetString(PyExc_ValueError, "scan: bad bounds");
		goto done;
	}
	if (!PyTuple_Check(directions) || PyTuple_GET_SIZE(directions) != 4) {
		PyErr_SetString(PyExc_TypeError, "scan: directions must be a tuple of 4");
		goto done;
	}
	if (prog_fd >= 0) {
		if (PyObject_GetBuffer(ring_obj, &ringbuf, PyBUF_SIMPLE) < 0 ||
		    PyObject_GetBuffer(cons_obj, &consbuf, PyBUF_WRITABLE) < 0)
			goto done;
		if (consbuf.len < 8 || (mask & (mask + 1)) ||
		    (Py_ssize_t)data_base + (Py_ssize_t)mask + 1 > ringbuf.len) {
			PyErr_SetString(PyExc_ValueError, "scan: bad ring");
			goto done;
		}
		r.pages = ringbuf.buf;
		r.data_base = data_base;
		r.mask = mask;
		r.consumer = consbuf.buf;
		scratch = PyMem_Malloc(MAXIMUM_SNAPLEN);
		if (!scratch) {
			PyErr_NoMemory();
			goto done;
		}
		memset(&attr, 0, sizeof(attr));
		attr.test.prog_fd = prog_fd;
		attr.test.repeat = 1;
		attr.test.ctx_in = (uint64_t)(uintptr_t)ctxbuf.buf;
		attr.test.ctx_size_in = ctxbuf.len;
	}
	if (out_obj != Py_None && PyObject_GetBuffer(out_obj, &outbuf, PyBUF_WRITABLE) < 0)
		goto done;
	if (out_used < 0 || (outbuf.buf && out_used > outbuf.len)) {
		PyErr_SetString(PyExc_ValueError, "scan: bad output offset");
		goto done;
	}
	if (packets != Py_None && (!PyList_Check(packets) || !PyType_Check(packet_type) ||
				   !PyType_IsSubtype((PyTypeObject *)packet_type, &PyTuple_Type))) {
		PyErr_SetString(PyExc_TypeError, "scan: packets must be a list, packet_type a tuple type");
		goto done;
	}

	const unsigned char *base = chunk.buf;
	while (1) {
		struct record rec;

		if (limit > 0 && matched >= limit) {
			status = LIMIT;
			break;
		}
		status = (pcapng ? next_pcapng : next_pcap)(&f, base + pos, end - pos, &rec);
		if (status != TAKE)
			break;
		const unsigned char *keep = rec.data;
		uint32_t keep_len = rec.caplen < cut ? rec.caplen : cut;
		if (outbuf.buf && outbuf.len - out_used < (Py_ssize_t)(EPB_HEAD + keep_len + 3 + EPB_TAIL)) {
			status = OUT_FULL;
			break;
		}
		int verdict = prog_fd >= 0 ? xdp_verdict(xdp_fd, swapped, rec.data, rec.caplen,
							    rec.wirelen, max_wire) : XDP_ASK;
		if (verdict == XDP_NO)
			keep = NULL;
		else if (verdict == XDP_YES)
			keep_len = rec.caplen < xdp_cut ? rec.caplen : xdp_cut;
		else if (prog_fd >= 0) {
			int corrupt = 0, err;

			err = test_run(&attr, ctxbuf.buf, wire_off, rec.data, rec.caplen, rec.wirelen,
				       max_wire);
			if (err) {
				status = SLOW;	/* refused: the Python path decides, or says why */
				take_record(&r, scratch, &keep_len, &corrupt);	/* none is kept */
				break;
			}
			keep = take_record(&r, scratch, &keep_len, &corrupt);
			if (corrupt) {
				PyErr_SetString(PyExc_ValueError, "scan: corrupt ring record");
				goto done;
			}
			if (outbuf.buf && keep &&
			    outbuf.len - out_used < (Py_ssize_t)(EPB_HEAD + keep_len + 3 + EPB_TAIL)) {
				PyErr_SetString(PyExc_ValueError, "scan: kernel record longer than cut");
				goto done;
			}
		}
		pos += rec.size;
		seen++;
		if (!keep)
			continue;
		matched++;
		if (outbuf.buf)
			out_used += put_epb((unsigned char *)outbuf.buf + out_used, rec.ts,
					    iface_base + rec.iface, rec.wirelen, keep, keep_len,
					    rec.direction);
		if (packets != Py_None) {
			PyObject *packet = make_packet((PyTypeObject *)packet_type, rec.ts,
						       iface_base + rec.iface,
						       PyTuple_GET_ITEM(directions, rec.direction),
						       rec.wirelen, keep, keep_len);
			if (!packet || PyList_Append(packets, packet) < 0) {
				Py_XDECREF(packet);
				goto done;
			}
			Py_DECREF(packet);
		}
	}
	result = Py_BuildValue("nnnni", pos, out_used, seen, matched, status);
done:
	PyMem_Free(scratch);
	PyBuffer_Release(&chunk);
	PyBuffer_Release(&units);
	PyBuffer_Release(&ctxbuf);
	if (ringbuf.obj)
		PyBuffer_Release(&ringbuf);
	if (consbuf.obj)
		PyBuffer_Release(&consbuf);
	if (outbuf.obj)
		PyBuffer_Release(&outbuf);
	return result;
}

static PyMethodDef methods[] = {
	{"scan", scan, METH_VARARGS, scan_doc},
	{NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
	PyModuleDef_HEAD_INIT, "_testrun",
	"BPF_PROG_TEST_RUN over the records of a chunk of a capture file "
	"(capture/session/offline_fast.py).",
	-1, methods,
};

PyMODINIT_FUNC PyInit__testrun(void)
{
	return PyModule_Create(&module);
}
