// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * Two-rank MPI ping-pong that checks every byte it gets back: rank 0 sends
 * a pattern that depends on the size and the iteration, rank 1 checks it
 * and returns it with every byte complemented, rank 0 checks the reply.
 * Usage: mpi_pingpong [-n ITERS] [-s MAXSIZE] [-x SIZE] [-f] [-q]
 * (sizes 1, 8, 64, ... MAXSIZE, or only SIZE with -x). Prints "size iters
 * latency_us MB/s" per size (one-way latency: half the round trip; MB/s =
 * 1e6 bytes/s moved both ways); -f: see one_size. Exit 0 only if all
 * matched.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static unsigned char pat(size_t i, int size, int it)
{
	return (unsigned char)(i * 31 + (size_t)size * 7 + (size_t)it);
}

static int check(const unsigned char *b, int size, int it, unsigned char x)
{
	for (int i = 0; i < size; i++)
		if (b[i] != (unsigned char)(pat((size_t)i, size, it) ^ x))
			return -1;
	return 0;
}

/*
 * One size: iters round trips; returns the number of mismatches. fast:
 * only the first and the last round trip write and check the data (the
 * benchmark's mode: the byte loops would cost more than the transfer).
 */
static int one_size(int rank, unsigned char *buf, int size, int iters, int fast,
		    double *secs)
{
	int bad = 0, peer = !rank;
	double t0 = MPI_Wtime();

	for (int it = 0; it < iters; it++) {
		int full = !fast || it == 0 || it == iters - 1;

		if (!full) {
			if (rank == 0)
				MPI_Send(buf, size, MPI_BYTE, peer, it,
					 MPI_COMM_WORLD);
			MPI_Recv(buf, size, MPI_BYTE, peer, it, MPI_COMM_WORLD,
				 MPI_STATUS_IGNORE);
			if (rank == 1)
				MPI_Send(buf, size, MPI_BYTE, peer, it,
					 MPI_COMM_WORLD);
		} else if (rank == 0) {
			for (int i = 0; i < size; i++)
				buf[i] = pat((size_t)i, size, it);
			MPI_Send(buf, size, MPI_BYTE, peer, it, MPI_COMM_WORLD);
			memset(buf, 0, (size_t)size);
			MPI_Recv(buf, size, MPI_BYTE, peer, it, MPI_COMM_WORLD,
				 MPI_STATUS_IGNORE);
			bad += check(buf, size, it, 0xff) != 0;
		} else {
			MPI_Recv(buf, size, MPI_BYTE, peer, it, MPI_COMM_WORLD,
				 MPI_STATUS_IGNORE);
			bad += check(buf, size, it, 0) != 0;
			for (int i = 0; i < size; i++)
				buf[i] ^= 0xff;
			MPI_Send(buf, size, MPI_BYTE, peer, it, MPI_COMM_WORLD);
		}
	}
	*secs = MPI_Wtime() - t0;
	return bad;
}

int main(int argc, char **argv)
{
	int rank, nranks, iters = 200, maxsize = 1 << 20, quiet = 0, o;
	int bad = 0, allbad = 0, only = 0, fast = 0;

	MPI_Init(&argc, &argv);
	while ((o = getopt(argc, argv, "n:s:x:fq")) != -1) {
		if (o == 'n')
			iters = atoi(optarg);
		else if (o == 's')
			maxsize = atoi(optarg);
		else if (o == 'x')
			only = maxsize = atoi(optarg);
		else if (o == 'f')
			fast = 1;
		else
			quiet = 1;
	}
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &nranks);
	if (nranks != 2 || iters < 1 || maxsize < 1) {
		if (rank == 0)
			fprintf(stderr, "needs 2 ranks, -n >= 1, -s >= 1\n");
		MPI_Abort(MPI_COMM_WORLD, 2);
	}
	unsigned char *buf = malloc((size_t)maxsize);
	if (!buf)
		MPI_Abort(MPI_COMM_WORLD, 2);
	for (int size = only > 0 ? only : 1; size > 0 && size <= maxsize;
	     size = size < 8 ? 8 : size * 8) {
		double secs;
		int b = one_size(rank, buf, size, iters, fast, &secs);

		bad += b;
		if (rank == 0 && !quiet)
			printf("%d %d %.3f %.2f\n", size, iters,
			       secs * 1e6 / (2.0 * iters),
			       2.0 * size * iters / secs / 1e6);
	}
	MPI_Allreduce(&bad, &allbad, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (rank == 0)
		printf("pingpong: %s (%d mismatches)\n", allbad ? "FAIL" : "OK",
		       allbad);
	free(buf);
	MPI_Finalize();
	return allbad ? 1 : 0;
}
