/* SPDX-License-Identifier: MIT */
/*
 * replay.c - the main() of a fuzz target outside libFuzzer: runs
 * LLVMFuzzerTestOneInput once on every regular file of a corpus directory
 * (so `make check` exercises each target) and reports one TAP result.
 */
#ifndef MSS_LIBFUZZER

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* read_all - the whole file into an allocation of exactly its size, so
 * that the sanitizers see any read past the input. */
static int
read_all(int dirfd, const char *name, uint8_t **data_r, size_t *size_r)
{
	struct stat sb;
	int fd = openat(dirfd, name, O_RDONLY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	if (fstat(fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return -1;
	}
	size_t size = (size_t)sb.st_size;
	uint8_t *data = malloc(size > 0 ? size : 1);
	size_t off = 0;
	while (data != NULL && off < size) {
		ssize_t n = read(fd, data + off, size - off);
		if (n <= 0) {
			if (n < 0 && errno == EINTR)
				continue;
			free(data);
			data = NULL;
			break;
		}
		off += (size_t)n;
	}
	close(fd);
	if (data == NULL)
		return -1;
	*data_r = data;
	*size_r = size;
	return 0;
}

static void
fail(const char *dir, const char *why)
{
	printf("not ok 1 - %s: %s\n", dir, why);
	printf("1..1\n");
	exit(1);
}

int
main(int argc, char **argv)
{
	struct dirent **names;
	unsigned long n_inputs = 0;

	if (argc != 2) {
		fprintf(stderr, "usage: %s CORPUS-DIRECTORY\n", argv[0]);
		return 2;
	}
	int dirfd = open(argv[1], O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dirfd < 0)
		fail(argv[1], strerror(errno));
	/* In name order, so a failure is easy to find again. */
	int n = scandir(argv[1], &names, NULL, alphasort);
	if (n < 0)
		fail(argv[1], strerror(errno));
	for (int i = 0; i < n; i++) {
		uint8_t *data;
		size_t size;
		if (names[i]->d_name[0] != '.' &&
		    read_all(dirfd, names[i]->d_name, &data, &size) == 0) {
			LLVMFuzzerTestOneInput(data, size);
			free(data);
			n_inputs++;
		}
		free(names[i]);
	}
	free(names);
	close(dirfd);
	if (n_inputs == 0)
		fail(argv[1], "no corpus inputs");
	printf("ok 1 - %lu corpus inputs replayed\n", n_inputs);
	printf("1..1\n");
	return 0;
}

#else

/* libFuzzer brings its own main(). */
typedef int mss_replay_unused;

#endif
