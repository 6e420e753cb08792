/* libFuzzer harness for native/msdelta.c (wimcore's own PseudoLzx decoder and E8 undo).
 *
 * Input layout: byte 0 picks the reference length (0..255 bytes, taken from the input's
 * tail), bytes 1-2 the target length (0..65535); the rest is the patch buffer. The window
 * is allocated exactly (no slack), so AddressSanitizer sees any write past the target.
 * Build and run (clang):  sh native/fuzz/run.sh [seconds]
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "../msdelta.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    size_t ref_len, target_len, window_len;
    uint8_t *window;
    msd_stats stats;
    int rc;
    if (size < 3)
        return 0;
    ref_len = data[0];
    target_len = (size_t)data[1] | ((size_t)data[2] << 8);
    data += 3;
    size -= 3;
    if (ref_len > size)
        ref_len = size;
    window_len = ref_len + target_len;
    window = (uint8_t *)malloc(window_len ? window_len : 1);
    if (!window)
        return 0;
    memcpy(window, data + size - ref_len, ref_len);
    rc = msd_pseudolzx_decode(data, size - ref_len, window, window_len, ref_len, target_len,
                              &stats);
    if (rc == MSD_OK) {
        if (stats.bits_read > stats.bits_total)
            abort(); /* a success must never have read past the stream */
        msd_e8_undo(window + ref_len, target_len);
    }
    (void)msd_strerror(rc);
    free(window);
    return 0;
}
