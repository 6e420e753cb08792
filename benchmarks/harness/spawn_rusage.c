/*
 * spawn_rusage: run one command and report what the kernel accounted to it.
 *
 * Usage: spawn_rusage STDOUT_FILE PROGRAM [ARG...]
 *
 * The command's standard output goes to STDOUT_FILE; its standard error is
 * inherited. When it ends, one JSON object is printed on our standard output:
 * wall seconds (monotonic clock around fork and wait4), user and system CPU
 * seconds and peak resident set size (KiB) from wait4's rusage, and the exit
 * status (128 + signal number when killed).
 *
 * Why a C launcher: on Linux a child's ru_maxrss starts from the RSS of the
 * process that forked it (the pre-exec image counts). Forking from this tiny
 * program instead of the Python orchestrator keeps that floor at ~1 MiB, so
 * the peak memory of small tools such as wimlib-imagex is not overstated.
 *
 * Where the kernel allows it (perf_event_open), user-space instructions and
 * cycles of the command and all its threads are counted too ("instructions"
 * and "cycles", null when unavailable). On a shared, busy machine wall time
 * varies by +-10 % between identical runs; retired instructions barely move,
 * so they tell whether two commands really do the same amount of work.
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <linux/perf_event.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/syscall.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

/* A user-space hardware counter on pid and its future threads, enabled at exec. */
static int open_counter(pid_t pid, uint64_t config)
{
	struct perf_event_attr attr;

	memset(&attr, 0, sizeof(attr));
	attr.size = sizeof(attr);
	attr.type = PERF_TYPE_HARDWARE;
	attr.config = config;
	attr.disabled = 1;
	attr.enable_on_exec = 1;
	attr.inherit = 1;
	attr.exclude_kernel = 1;
	attr.exclude_hv = 1;
	return (int)syscall(SYS_perf_event_open, &attr, pid, -1, -1, PERF_FLAG_FD_CLOEXEC);
}

/* Print a counter's final value as JSON (null when it could not be opened or read). */
static void print_counter(const char *name, int fd)
{
	uint64_t value = 0;

	if (fd >= 0 && read(fd, &value, sizeof(value)) == (ssize_t)sizeof(value))
		printf(", \"%s\": %llu", name, (unsigned long long)value);
	else
		printf(", \"%s\": null", name);
}

int main(int argc, char **argv)
{
	struct timespec start, end;
	struct rusage usage;
	int status = 0, go[2], instructions, cycles;
	char token = 'g';
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: %s STDOUT_FILE PROGRAM [ARG...]\n", argv[0]);
		return 2;
	}
	fflush(stdout);
	if (pipe(go) != 0) {
		perror("pipe");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &start);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		int fd;

		/* Wait until the parent has attached the counters, then exec. */
		close(go[1]);
		if (read(go[0], &token, 1) != 1)
			_exit(125);
		close(go[0]);
		fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) {
			perror(argv[1]);
			_exit(126);
		}
		close(fd);
		execvp(argv[2], &argv[2]);
		perror(argv[2]);
		_exit(127);
	}
	close(go[0]);
	instructions = open_counter(pid, PERF_COUNT_HW_INSTRUCTIONS);
	cycles = open_counter(pid, PERF_COUNT_HW_CPU_CYCLES);
	if (write(go[1], &token, 1) != 1) {
		perror("write");
		return 2;
	}
	close(go[1]);
	if (wait4(pid, &status, 0, &usage) < 0) {
		perror("wait4");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	printf("{\"wall\": %.6f, \"utime\": %.6f, \"stime\": %.6f, \"maxrss_kib\": %ld, "
	       "\"status\": %d",
	       (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9,
	       seconds(usage.ru_utime), seconds(usage.ru_stime), usage.ru_maxrss,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	print_counter("instructions", instructions);
	print_counter("cycles", cycles);
	printf("}\n");
	return 0;
}
