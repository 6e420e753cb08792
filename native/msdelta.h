/* wimcore's own MSDelta (PA30/PA31) decoding loops: the PseudoLzx codec and the i386 E8 undo.
 *
 * Written from ../shared/docs/update-formats.md (sections 4.4 and 4.5). Every read and write
 * is bounds-checked; errors are returned as codes, never by aborting. The caller (the Python
 * side, wimcore/packages/msdelta.py) allocates the window after checking the sizes.
 */
#ifndef WIMCORE_MSDELTA_H
#define WIMCORE_MSDELTA_H

#include <stddef.h>
#include <stdint.h>

/* Return codes (msd_strerror gives a sentence for each). */
#define MSD_OK 0
#define MSD_ERR_ARGS 1       /* a null pointer or a window too small for ref + target */
#define MSD_ERR_TRUNCATED 2  /* the stream ended before the target was complete */
#define MSD_ERR_RIFT 3       /* the rift bit is set (PE rift tables are not supported) */
#define MSD_ERR_TABLE 4      /* a Huffman table is incomplete, oversubscribed or too long */
#define MSD_ERR_SEGMENTS 5   /* the segment list is empty, too long or decreasing */
#define MSD_ERR_DISTANCE 6   /* a match reads before the window start or from its own output */
#define MSD_ERR_OVERRUN 7    /* a match runs past the end of the target */
#define MSD_ERR_SYMBOL 8     /* a symbol could not be decoded (e.g. from an empty table) */
#define MSD_ERR_LENGTH 9     /* a long match length has too many prefix bits */
#define MSD_ERR_NOMEM 10     /* the segment tables could not be allocated */

/* Limits. */
#define MSD_MAX_SEGMENTS 65536u

typedef struct msd_stats {
    uint64_t bits_total;  /* valid bits in the patch buffer (8 * size - unused bits) */
    uint64_t bits_read;   /* bits consumed, the 3-bit field included */
    uint64_t literals;    /* literal symbols decoded */
    uint64_t matches;     /* matches decoded */
    uint32_t segments;    /* segment tables in the stream (1 for the flat form) */
    uint32_t flat;        /* 1 when the flat (default lengths) form was used */
} msd_stats;

/* Decode a PseudoLzx patch buffer.
 *
 * `window` holds `ref_len` reference bytes followed by room for `target_len` output bytes
 * (window_len must be at least ref_len + target_len). On MSD_OK the output is complete;
 * `stats` (may be NULL) tells how many bits were read, so the caller can tell a clean end.
 */
int msd_pseudolzx_decode(const uint8_t *patch, size_t patch_len, uint8_t *window,
                         size_t window_len, size_t ref_len, size_t target_len,
                         msd_stats *stats);

/* Undo the i386 E8 (near CALL) translation over a whole buffer; returns the sites changed.
 * The caller decides whether the buffer is a native i386 PE and the header asked for it. */
size_t msd_e8_undo(uint8_t *buf, size_t len);

/* A short English sentence for a return code. */
const char *msd_strerror(int code);

#endif
