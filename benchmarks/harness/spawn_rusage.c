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
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds(struct timeval tv)
{
	return (double)tv.tv_sec + (double)tv.tv_usec / 1e6;
}

int main(int argc, char **argv)
{
	struct timespec start, end;
	struct rusage usage;
	int status = 0;
	pid_t pid;

	if (argc < 3) {
		fprintf(stderr, "usage: %s STDOUT_FILE PROGRAM [ARG...]\n", argv[0]);
		return 2;
	}
	fflush(stdout);
	clock_gettime(CLOCK_MONOTONIC, &start);
	pid = fork();
	if (pid < 0) {
		perror("fork");
		return 2;
	}
	if (pid == 0) {
		int fd = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0 || dup2(fd, STDOUT_FILENO) < 0) {
			perror(argv[1]);
			_exit(126);
		}
		close(fd);
		execvp(argv[2], &argv[2]);
		perror(argv[2]);
		_exit(127);
	}
	if (wait4(pid, &status, 0, &usage) < 0) {
		perror("wait4");
		return 2;
	}
	clock_gettime(CLOCK_MONOTONIC, &end);
	printf("{\"wall\": %.6f, \"utime\": %.6f, \"stime\": %.6f, \"maxrss_kib\": %ld, "
	       "\"status\": %d}\n",
	       (double)(end.tv_sec - start.tv_sec) + (double)(end.tv_nsec - start.tv_nsec) / 1e9,
	       seconds(usage.ru_utime), seconds(usage.ru_stime), usage.ru_maxrss,
	       WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status));
	return 0;
}
