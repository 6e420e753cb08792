/* wimcore's own MSDelta decoding loops (see msdelta.h): an LSB-first bit reader, canonical
 * Huffman tables in MSDelta's order (longest codes take the smallest values), the PseudoLzx
 * decoder and the i386 E8 undo. C99; no allocation except the segment length tables, whose
 * size is bounded by MSD_MAX_SEGMENTS and grows only as the stream really holds them.
 */
#include "msdelta.h"

#include <stdlib.h>
#include <string.h>

#define MAIN_SYMS 600u
#define LEN_SYMS 256u
#define ALIGN_SYMS 16u
#define ALL_LENS (MAIN_SYMS + LEN_SYMS + ALIGN_SYMS) /* 872 lengths per segment */
#define PRE_SYMS 39u
#define MAX_CODE 16u
#define MAX_SYMS MAIN_SYMS

/* ---------------------------------------------------------------- bit reader */

/* Bits are taken LSB-first from little-endian bytes. Past the end of the data the reader
 * supplies zero bits and counts them, so the hot loop needs no per-bit bounds test; the
 * caller compares the bits consumed with the bits that exist. */
typedef struct {
    const uint8_t *start;
    const uint8_t *p;
    const uint8_t *end;
    uint64_t buf;     /* unread bits, the next one in bit 0 */
    unsigned avail;   /* valid bits in buf */
    uint64_t zeros;   /* zero bits supplied past the end */
} bitreader;

static void br_init(bitreader *br, const uint8_t *data, size_t len)
{
    br->start = data;
    br->p = data;
    br->end = data + len;
    br->buf = 0;
    br->avail = 0;
    br->zeros = 0;
}

static uint64_t load_le64(const uint8_t *p)
{
    return (uint64_t)p[0] | ((uint64_t)p[1] << 8) | ((uint64_t)p[2] << 16) |
           ((uint64_t)p[3] << 24) | ((uint64_t)p[4] << 32) | ((uint64_t)p[5] << 40) |
           ((uint64_t)p[6] << 48) | ((uint64_t)p[7] << 56);
}

/* Bring the buffer to at least 56 valid bits. */
static void br_refill(bitreader *br)
{
    if ((size_t)(br->end - br->p) >= 8) {
        br->buf |= load_le64(br->p) << br->avail;
        br->p += (63u - br->avail) >> 3;
        br->avail |= 56u;
        return;
    }
    while (br->avail <= 56u) {
        if (br->p < br->end) {
            br->buf |= (uint64_t)(*br->p++) << br->avail;
        } else {
            br->zeros += 8u;
        }
        br->avail += 8u;
    }
}

static inline void br_need(bitreader *br, unsigned n)
{
    if (br->avail < n)
        br_refill(br);
}

static inline void br_drop(bitreader *br, unsigned n)
{
    br->buf >>= n;
    br->avail -= n;
}

/* Read n bits (n <= 32), low bit first. */
static inline uint32_t br_bits(bitreader *br, unsigned n)
{
    uint32_t v;
    if (n == 0)
        return 0;
    br_need(br, n);
    v = (uint32_t)(br->buf & ((((uint64_t)1) << n) - 1u));
    br_drop(br, n);
    return v;
}

static uint64_t br_consumed(const bitreader *br)
{
    return (uint64_t)(br->p - br->start) * 8u + br->zeros - br->avail;
}

/* The header integer: z zero bits, a one bit (z <= 15), then 4 * (z + 1) value bits. */
static int br_integer(bitreader *br, uint64_t *out)
{
    unsigned z = 0, nbits;
    uint64_t v;
    while (br_bits(br, 1) == 0) {
        if (++z > 15u)
            return MSD_ERR_TRUNCATED;
    }
    nbits = 4u * (z + 1u);
    if (nbits > 32u) {
        v = br_bits(br, 32);
        v |= (uint64_t)br_bits(br, nbits - 32u) << 32;
    } else {
        v = br_bits(br, nbits);
    }
    *out = v;
    return MSD_OK;
}

/* ---------------------------------------------------------------- Huffman tables */

/* A decode table: a primary table indexed by the next `pbits` stream bits (entry = symbol
 * << 5 | length, 0 for a prefix of a longer code), and the canonical description for the
 * rare longer codes. */
#define PBITS_MAX 11u

typedef struct {
    uint16_t table[1u << PBITS_MAX];
    uint16_t sorted[MAX_SYMS];          /* symbols by (length, index) */
    uint32_t first[MAX_CODE + 1];       /* first code value of each length */
    uint16_t count[MAX_CODE + 1];
    uint16_t offset[MAX_CODE + 1];      /* index into sorted of each length's first symbol */
    unsigned pbits;
    unsigned maxlen;                    /* 0: the table is empty */
} huffman;

/* Check the lengths: none above 16, and either all zero (an empty table, unusable) or a
 * complete prefix code (Kraft sum exactly one). */
static int huff_check(const uint8_t *lens, unsigned n)
{
    uint32_t kraft = 0;
    unsigned i, used = 0;
    for (i = 0; i < n; i++) {
        if (lens[i] > MAX_CODE)
            return MSD_ERR_TABLE;
        if (lens[i]) {
            used++;
            kraft += (uint32_t)1 << (MAX_CODE - lens[i]);
        }
    }
    if (used == 0)
        return MSD_OK;
    return kraft == ((uint32_t)1 << MAX_CODE) ? MSD_OK : MSD_ERR_TABLE;
}

static unsigned reverse_bits(uint32_t code, unsigned len)
{
    unsigned r = 0, i;
    for (i = 0; i < len; i++) {
        r = (r << 1) | (code & 1u);
        code >>= 1;
    }
    return r;
}

static int huff_build(huffman *h, const uint8_t *lens, unsigned n, unsigned pbits)
{
    uint32_t running = 0, next[MAX_CODE + 1];
    unsigned i, len, pos = 0;
    int rc = huff_check(lens, n);
    if (rc != MSD_OK)
        return rc;
    h->pbits = pbits;
    h->maxlen = 0;
    memset(h->count, 0, sizeof h->count);
    memset(h->table, 0, sizeof(uint16_t) << pbits);
    for (i = 0; i < n; i++) {
        h->count[lens[i]]++;
        if (lens[i] > h->maxlen)
            h->maxlen = lens[i];
    }
    if (h->maxlen == 0)
        return MSD_OK;
    /* MSDelta's canonical order: codes are handed out from the longest length down. */
    for (len = MAX_CODE; len >= 1; len--) {
        h->first[len] = running;
        running = (running + h->count[len]) >> 1;
    }
    for (len = 1; len <= MAX_CODE; len++) {
        h->offset[len] = (uint16_t)pos;
        pos += h->count[len];
        next[len] = pos - h->count[len];
    }
    /* Within one length, codes rise with the symbol index. */
    for (i = 0; i < n; i++)
        if (lens[i])
            h->sorted[next[lens[i]]++] = (uint16_t)i;
    /* Fill the primary table: walk each length's symbols in rising symbol order. */
    for (len = 1; len <= pbits && len <= h->maxlen; len++) {
        unsigned k;
        for (k = 0; k < h->count[len]; k++) {
            unsigned sym = h->sorted[h->offset[len] + k];
            unsigned r = reverse_bits(h->first[len] + k, len);
            unsigned step = 1u << len;
            uint16_t entry = (uint16_t)((sym << 5) | len);
            for (; r < (1u << pbits); r += step)
                h->table[r] = entry;
        }
    }
    return MSD_OK;
}

/* The rare path: walk the code bit by bit (the first bit read is the code's MSB). */
static int huff_slow(const huffman *h, bitreader *br, unsigned *sym)
{
    uint32_t code = 0;
    unsigned len;
    if (h->maxlen == 0)
        return MSD_ERR_SYMBOL;
    for (len = 1; len <= h->maxlen; len++) {
        code = (code << 1) | (uint32_t)((br->buf >> (len - 1u)) & 1u);
        if (h->count[len] && code >= h->first[len] && code - h->first[len] < h->count[len]) {
            *sym = h->sorted[h->offset[len] + (code - h->first[len])];
            br_drop(br, len);
            return MSD_OK;
        }
    }
    return MSD_ERR_SYMBOL;
}

/* Decode one symbol; needs 16 bits in the buffer (br_need before). */
static inline int huff_decode(const huffman *h, bitreader *br, unsigned *sym)
{
    uint16_t e = h->table[br->buf & ((1u << h->pbits) - 1u)];
    unsigned len = e & 31u;
    if (len) {
        *sym = (unsigned)e >> 5;
        br_drop(br, len);
        return MSD_OK;
    }
    return huff_slow(h, br, sym);
}

/* ---------------------------------------------------------------- segment tables */

typedef struct {
    uint64_t *starts;   /* window positions where each segment begins */
    uint8_t *lens;      /* ALL_LENS per segment */
    uint32_t n;
    uint32_t cap;
} segments;

static void seg_free(segments *s)
{
    free(s->starts);
    free(s->lens);
    s->starts = NULL;
    s->lens = NULL;
}

/* One segment's 872 lengths, coded with the pre-tree against the previous segment's. */
static int read_lengths(bitreader *br, const huffman *pre, const uint8_t *prev, uint8_t *cur)
{
    unsigned i = 0;
    while (i < ALL_LENS) {
        unsigned sym = 0;
        int rc;
        br_need(br, 16);
        rc = huff_decode(pre, br, &sym);
        if (rc != MSD_OK)
            return MSD_ERR_TABLE;
        if (sym <= 16u) {
            cur[i++] = (uint8_t)sym;
        } else if (sym <= 19u) {
            unsigned v = prev[i] + (sym - 16u);
            if (v > MAX_CODE)
                return MSD_ERR_TABLE;
            cur[i++] = (uint8_t)v;
        } else if (sym <= 22u) {
            unsigned d = sym - 19u;
            if (prev[i] < d)
                return MSD_ERR_TABLE;
            cur[i] = (uint8_t)(prev[i] - d);
            i++;
        } else {
            unsigned k = (sym - 23u) & 7u, run, j;
            if (k < 3u)
                run = k + 1u;
            else
                run = (1u << (k - 1u)) | br_bits(br, k - 1u);
            if (run > ALL_LENS - i)
                return MSD_ERR_TABLE;
            if (sym <= 30u) {
                if (i == 0)
                    return MSD_ERR_TABLE;
                for (j = 0; j < run; j++, i++)
                    cur[i] = cur[i - 1];
            } else {
                for (j = 0; j < run; j++, i++)
                    cur[i] = prev[i];
            }
        }
    }
    if (huff_check(cur, MAIN_SYMS) != MSD_OK || huff_check(cur + MAIN_SYMS, LEN_SYMS) != MSD_OK ||
        huff_check(cur + MAIN_SYMS + LEN_SYMS, ALIGN_SYMS) != MSD_OK)
        return MSD_ERR_TABLE;
    return MSD_OK;
}

static int read_composite(bitreader *br, segments *s, uint64_t total_bits)
{
    uint64_t n, acc = 0;
    uint8_t prelens[PRE_SYMS];
    static const uint8_t zeros[ALL_LENS];
    huffman *pre;
    uint32_t i;
    int rc = br_integer(br, &n);
    if (rc != MSD_OK)
        return MSD_ERR_SEGMENTS;
    if (n == 0 || n > MSD_MAX_SEGMENTS)
        return MSD_ERR_SEGMENTS;
    /* Each start costs at least 5 bits: a count the stream cannot hold is refused before
     * anything is allocated for it. */
    if (n * 5u > total_bits)
        return MSD_ERR_TRUNCATED;
    s->starts = (uint64_t *)malloc((size_t)n * sizeof(uint64_t));
    if (!s->starts)
        return MSD_ERR_NOMEM;
    s->n = (uint32_t)n;
    for (i = 0; i < s->n; i++) {
        uint64_t d;
        rc = br_integer(br, &d);
        if (rc != MSD_OK)
            return MSD_ERR_SEGMENTS;
        if (d > UINT64_MAX - acc)
            return MSD_ERR_SEGMENTS;
        acc += d;
        s->starts[i] = acc;
    }
    if (br_consumed(br) > total_bits)
        return MSD_ERR_TRUNCATED;
    for (i = 0; i < PRE_SYMS; i++)
        prelens[i] = (uint8_t)br_bits(br, 4);
    pre = (huffman *)malloc(sizeof *pre);
    if (!pre)
        return MSD_ERR_NOMEM;
    rc = huff_build(pre, prelens, PRE_SYMS, 8);
    if (rc != MSD_OK) {
        free(pre);
        return rc;
    }
    s->cap = 0;
    for (i = 0; i < s->n; i++) {
        const uint8_t *prev;
        if (i >= s->cap) {
            /* Grow as the stream proves it holds the tables. */
            uint32_t cap = s->cap ? s->cap * 2u : 8u;
            uint8_t *grown;
            if (cap > s->n)
                cap = s->n;
            grown = (uint8_t *)realloc(s->lens, (size_t)cap * ALL_LENS);
            if (!grown) {
                free(pre);
                return MSD_ERR_NOMEM;
            }
            s->lens = grown;
            s->cap = cap;
        }
        prev = i ? s->lens + (size_t)(i - 1u) * ALL_LENS : zeros;
        rc = read_lengths(br, pre, prev, s->lens + (size_t)i * ALL_LENS);
        if (rc == MSD_OK && br_consumed(br) > total_bits)
            rc = MSD_ERR_TRUNCATED;
        if (rc != MSD_OK) {
            free(pre);
            return rc;
        }
    }
    free(pre);
    return MSD_OK;
}

/* ---------------------------------------------------------------- the decoder */

typedef struct {
    huffman main;
    huffman len;
    huffman align;
} tables;

static int build_tables(tables *t, const uint8_t *lens)
{
    int rc = huff_build(&t->main, lens, MAIN_SYMS, 11);
    if (rc == MSD_OK)
        rc = huff_build(&t->len, lens + MAIN_SYMS, LEN_SYMS, 10);
    if (rc == MSD_OK)
        rc = huff_build(&t->align, lens + MAIN_SYMS + LEN_SYMS, ALIGN_SYMS, 8);
    return rc;
}

static void flat_lengths(uint8_t *lens)
{
    unsigned i;
    /* Default lengths, shorter ones on the lower symbols: main 424 x 9 + 176 x 10,
     * length tree all 8, aligned tree all 4. */
    for (i = 0; i < MAIN_SYMS; i++)
        lens[i] = (uint8_t)(i < 424u ? 9u : 10u);
    for (i = 0; i < LEN_SYMS; i++)
        lens[MAIN_SYMS + i] = 8;
    for (i = 0; i < ALIGN_SYMS; i++)
        lens[MAIN_SYMS + LEN_SYMS + i] = 4;
}

/* Copy len bytes from window[src] to window[dst] (src < dst, ranges may overlap: the copy
 * repeats the pattern, byte order preserved). `room` is how many bytes may be written at
 * dst (>= len), which lets the wide path overshoot harmlessly. */
static inline void copy_match(uint8_t *w, size_t dst, size_t src, size_t len, size_t room)
{
    size_t dist = dst - src;
    uint8_t *d = w + dst;
    const uint8_t *s = w + src;
    if (dist >= 8u && room >= len + 8u) {
        uint8_t tmp[8];
        size_t done = 0;
        while (done < len) {
            memcpy(tmp, s + done, 8);
            memcpy(d + done, tmp, 8);
            done += 8;
        }
    } else if (dist == 1u) {
        memset(d, *s, len);
    } else {
        size_t k;
        for (k = 0; k < len; k++)
            d[k] = s[k];
    }
}

int msd_pseudolzx_decode(const uint8_t *patch, size_t patch_len, uint8_t *window,
                         size_t window_len, size_t ref_len, size_t target_len,
                         msd_stats *stats)
{
    bitreader br;
    segments segs = {NULL, NULL, 0, 0};
    tables *t = NULL;
    uint8_t flat[ALL_LENS];
    uint64_t total_bits, rep0 = 0, rep1 = 0, rep2 = 0, next_switch;
    size_t pos, end;
    uint32_t seg = 0;
    int rc = MSD_OK;
    msd_stats local;

    if (!stats)
        stats = &local;
    memset(stats, 0, sizeof *stats);
    if ((!patch && patch_len) || !window || ref_len > window_len ||
        target_len > window_len - ref_len || patch_len > (SIZE_MAX >> 4))
        return MSD_ERR_ARGS;
    if (patch_len == 0)
        return target_len == 0 ? MSD_OK : MSD_ERR_TRUNCATED;

    br_init(&br, patch, patch_len);
    total_bits = (uint64_t)patch_len * 8u;
    {
        unsigned unused = br_bits(&br, 3);
        if (total_bits < 3u + unused)
            return MSD_ERR_TRUNCATED;
        total_bits -= unused;
    }
    stats->bits_total = total_bits;
    if (br_bits(&br, 1))
        return MSD_ERR_RIFT;

    t = (tables *)malloc(sizeof *t);
    if (!t)
        return MSD_ERR_NOMEM;
    if (br_bits(&br, 1)) {
        stats->flat = 1;
        stats->segments = 1;
        flat_lengths(flat);
        segs.n = 1;
        rc = build_tables(t, flat);
        next_switch = UINT64_MAX;
    } else {
        rc = read_composite(&br, &segs, total_bits);
        if (rc == MSD_OK) {
            uint32_t i;
            stats->segments = segs.n;
            for (i = 1; i < segs.n; i++)
                if (segs.starts[i] < segs.starts[i - 1])
                    rc = MSD_ERR_SEGMENTS;
        }
        if (rc == MSD_OK)
            rc = build_tables(t, segs.lens);
        next_switch = (rc == MSD_OK && segs.n > 1) ? segs.starts[1] : UINT64_MAX;
    }
    if (rc == MSD_OK && br_consumed(&br) > total_bits)
        rc = MSD_ERR_TRUNCATED;

    pos = ref_len;
    end = ref_len + target_len;
    while (rc == MSD_OK && pos < end) {
        unsigned sym, slot, lslot;
        uint64_t dist;
        size_t len;

        if ((uint64_t)pos >= next_switch) {
            /* Switch to the last segment whose start is <= pos. */
            while (seg + 1u < segs.n && segs.starts[seg + 1u] <= (uint64_t)pos)
                seg++;
            next_switch = seg + 1u < segs.n ? segs.starts[seg + 1u] : UINT64_MAX;
            rc = build_tables(t, segs.lens + (size_t)seg * ALL_LENS);
            if (rc != MSD_OK)
                break;
        }
        if (br.zeros && br_consumed(&br) > total_bits) {
            rc = MSD_ERR_TRUNCATED;
            break;
        }
        br_need(&br, 16);
        rc = huff_decode(&t->main, &br, &sym);
        if (rc != MSD_OK)
            break;
        if (sym < 256u) {
            window[pos++] = (uint8_t)sym;
            stats->literals++;
            continue;
        }
        sym -= 256u;
        slot = sym >> 3;
        lslot = sym & 7u;
        if (slot == 7u) {
            /* Escape to the long-distance slots 43..70. */
            unsigned a;
            if (br_bits(&br, 1) == 0)
                a = br_bits(&br, 2) + 36u;
            else if (br_bits(&br, 1) == 0)
                a = br_bits(&br, 3) + 40u;
            else
                a = br_bits(&br, 4) + 48u;
            slot = a + 7u;
        }
        if (slot <= 3u) {
            /* Reference-relative: copy from the reference near the same offset. */
            int64_t d = 0;
            uint32_t r;
            if (slot == 0u) {
                r = br_bits(&br, 14);
                d = (int64_t)r - 0x2000;
            } else if (slot == 1u) {
                r = br_bits(&br, 16);
                d = r < 0x8000u ? (int64_t)r - 0xA000 : (int64_t)r - 0x6000;
            } else if (slot == 2u) {
                r = br_bits(&br, 18);
                d = r < 0x20000u ? (int64_t)r - 0x2A000 : (int64_t)r - 0x16000;
            }
            /* Effective distance from pos: ref_len + d (source = output offset - d). */
            if (d < 0 && (uint64_t)(-d) >= (uint64_t)ref_len) {
                rc = MSD_ERR_DISTANCE;
                break;
            }
            dist = (uint64_t)ref_len + (uint64_t)d;
        } else if (slot <= 6u) {
            dist = slot == 4u ? rep0 : slot == 5u ? rep1 : rep2;
        } else if (slot <= 10u) {
            dist = slot - 7u;
        } else {
            unsigned a = slot - 7u, h = a / 2u - 1u;
            uint64_t top = 2u + (a & 1u);
            if (h < 4u) {
                dist = (top << h) + br_bits(&br, h);
            } else {
                unsigned al = 0;
                dist = ((top << (h - 4u)) + br_bits(&br, h - 4u)) << 4;
                br_need(&br, 16);
                rc = huff_decode(&t->align, &br, &al);
                if (rc != MSD_OK)
                    break;
                dist += al;
            }
        }
        if (lslot) {
            len = (size_t)lslot + 1u;
        } else {
            unsigned ls = 0;
            br_need(&br, 16);
            rc = huff_decode(&t->len, &br, &ls);
            if (rc != MSD_OK)
                break;
            if (ls) {
                len = (size_t)ls + 8u;
            } else {
                unsigned z = 0;
                uint64_t v;
                while (br_bits(&br, 1) == 0) {
                    if (++z > 23u)
                        break;
                }
                if (z > 23u) {
                    rc = MSD_ERR_LENGTH;
                    break;
                }
                v = ((uint64_t)1 << (z + 8u)) + br_bits(&br, z + 8u) + 8u;
                if (v > (uint64_t)(end - pos)) {
                    rc = MSD_ERR_OVERRUN;
                    break;
                }
                len = (size_t)v;
            }
        }
        /* The repeat queue: move to front, no duplicates, after every match. */
        if (dist != rep0) {
            uint64_t old1 = rep1;
            rep1 = rep0;
            rep0 = dist;
            if (old1 != dist)
                rep2 = old1;
        }
        if (dist == 0 || dist > (uint64_t)pos) {
            rc = MSD_ERR_DISTANCE;
            break;
        }
        if (len > end - pos) {
            rc = MSD_ERR_OVERRUN;
            break;
        }
        copy_match(window, pos, pos - (size_t)dist, len, window_len - pos);
        pos += len;
        stats->matches++;
    }
    /* Whatever went wrong after the real bits ran out is a truncation. */
    if (rc != MSD_ERR_NOMEM && br_consumed(&br) > total_bits)
        rc = MSD_ERR_TRUNCATED;
    stats->bits_read = br_consumed(&br);
    seg_free(&segs);
    free(t);
    return rc;
}

/* ---------------------------------------------------------------- E8 undo */

size_t msd_e8_undo(uint8_t *buf, size_t len)
{
    size_t i = 0, changed = 0;
    int64_t size;
    if (!buf || len <= 10u || len > 0x7FFFFFFFu)
        return 0;
    size = (int64_t)len;
    while (i < len - 10u) {
        int32_t v;
        uint32_t u;
        if (buf[i] != 0xE8) {
            i++;
            continue;
        }
        u = (uint32_t)buf[i + 1] | ((uint32_t)buf[i + 2] << 8) | ((uint32_t)buf[i + 3] << 16) |
            ((uint32_t)buf[i + 4] << 24);
        v = (int32_t)u; /* two's complement on every platform C99 wimcore targets */
        if ((int64_t)v >= -(int64_t)i && (int64_t)v < size) {
            int64_t nv = v >= 0 ? (int64_t)v - (int64_t)i : (int64_t)v + size;
            uint32_t w = (uint32_t)(nv & 0xFFFFFFFF);
            buf[i + 1] = (uint8_t)(w & 0xFFu);
            buf[i + 2] = (uint8_t)((w >> 8) & 0xFFu);
            buf[i + 3] = (uint8_t)((w >> 16) & 0xFFu);
            buf[i + 4] = (uint8_t)((w >> 24) & 0xFFu);
            changed++;
        }
        i += 5;
    }
    return changed;
}

const char *msd_strerror(int code)
{
    switch (code) {
    case MSD_OK: return "no error";
    case MSD_ERR_ARGS: return "invalid arguments to the decoder";
    case MSD_ERR_TRUNCATED: return "the patch stream ends before the target is complete";
    case MSD_ERR_RIFT: return "the stream carries a rift table";
    case MSD_ERR_TABLE: return "a Huffman table is incomplete, oversubscribed or malformed";
    case MSD_ERR_SEGMENTS: return "the segment list is malformed";
    case MSD_ERR_DISTANCE: return "a match reads outside the window";
    case MSD_ERR_OVERRUN: return "a match runs past the end of the target";
    case MSD_ERR_SYMBOL: return "a symbol cannot be decoded";
    case MSD_ERR_LENGTH: return "a long match length is malformed";
    case MSD_ERR_NOMEM: return "out of memory for the segment tables";
    default: return "unknown error";
    }
}
