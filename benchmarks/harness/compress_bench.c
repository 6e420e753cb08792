/*
 * compress_bench: libwimlib's raw compressor driven from C, the reference for
 * wimcore.Compressor.compress_into.
 *
 * Usage: compress_bench CTYPE BLOCK_SIZE LEVEL SAMPLE_FILE MIN_SECONDS
 *
 * CTYPE is libwimlib's number (1 XPRESS, 2 LZX, 3 LZMS). The sample is read
 * into memory once, then compressed block by block (BLOCK_SIZE bytes each,
 * output space BLOCK_SIZE - 1 as in a WIM chunk) in whole passes until at
 * least MIN_SECONDS have elapsed, after one untimed pass. The Python side runs the very same loop, so
 * the two throughputs differ only by the cost of calling through cffi.
 * Prints one JSON object: bytes in, bytes out (last pass), seconds, passes, calls.
 */
#include <stdio.h>
#include <stdlib.h>
#include <time.h>
#include <wimlib.h>

static double now(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

int main(int argc, char **argv)
{
	struct wimlib_compressor *comp = NULL;
	unsigned char *sample, *out;
	size_t block, size, got, pos, out_bytes = 0, calls = 0;
	double min_seconds, start, elapsed;
	unsigned long passes = 0;
	unsigned level;
	int ctype, ret;
	FILE *f;

	if (argc != 6) {
		fprintf(stderr, "usage: %s CTYPE BLOCK_SIZE LEVEL SAMPLE_FILE MIN_SECONDS\n",
			argv[0]);
		return 2;
	}
	ctype = atoi(argv[1]);
	block = strtoull(argv[2], NULL, 10);
	level = (unsigned)strtoul(argv[3], NULL, 10);
	min_seconds = atof(argv[5]);

	f = fopen(argv[4], "rb");
	if (!f) {
		perror(argv[4]);
		return 2;
	}
	fseek(f, 0, SEEK_END);
	size = (size_t)ftell(f);
	fseek(f, 0, SEEK_SET);
	sample = malloc(size ? size : 1);
	out = malloc(block);
	if (!sample || !out) {
		fprintf(stderr, "out of memory\n");
		return 2;
	}
	got = fread(sample, 1, size, f);
	fclose(f);
	if (got != size) {
		fprintf(stderr, "short read\n");
		return 2;
	}
	ret = wimlib_create_compressor(ctype, block, level, &comp);
	if (ret != 0) {
		fprintf(stderr, "wimlib_create_compressor: %s\n", wimlib_get_error_string(ret));
		return 1;
	}
	/* Untimed pass: page in the compressor's memory (the Python side does the same). */
	for (pos = 0; pos < size; pos += block) {
		size_t n = size - pos < block ? size - pos : block;
		wimlib_compress(sample + pos, n, out, block - 1, comp);
	}
	start = now();
	do {
		out_bytes = 0;
		for (pos = 0; pos < size; pos += block) {
			size_t n = size - pos < block ? size - pos : block;
			size_t c = wimlib_compress(sample + pos, n, out, block - 1, comp);
			out_bytes += c ? c : n;
			calls++;
		}
		passes++;
		elapsed = now() - start;
	} while (elapsed < min_seconds);
	printf("{\"bytes_in\": %llu, \"bytes_out\": %llu, \"seconds\": %.6f, \"passes\": %lu, "
	       "\"calls\": %llu}\n",
	       (unsigned long long)size * passes, (unsigned long long)out_bytes, elapsed, passes,
	       (unsigned long long)calls);
	wimlib_free_compressor(comp);
	free(sample);
	free(out);
	return 0;
}
