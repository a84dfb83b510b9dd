// SPDX-License-Identifier: GPL-2.0 OR Linux-OpenIB
/*
 * MPI_Allreduce (sum) over every rank, checked element by element against
 * the sum each rank computes itself: rank r contributes
 * (i * 3 + r + it) for element i in iteration it.
 * Usage: mpi_allreduce [-n ITERS] [-c COUNT]; exit 0 only if all matched.
 */
#include <mpi.h>
#include <stdio.h>
#include <stdlib.h>
#include <unistd.h>

int main(int argc, char **argv)
{
	int rank, nranks, iters = 50, count = 65536, o, bad = 0, allbad = 0;

	MPI_Init(&argc, &argv);
	while ((o = getopt(argc, argv, "n:c:")) != -1) {
		if (o == 'n')
			iters = atoi(optarg);
		else
			count = atoi(optarg);
	}
	MPI_Comm_rank(MPI_COMM_WORLD, &rank);
	MPI_Comm_size(MPI_COMM_WORLD, &nranks);
	if (iters < 1 || count < 1)
		MPI_Abort(MPI_COMM_WORLD, 2);
	long *in = malloc(sizeof(long) * (size_t)count);
	long *out = malloc(sizeof(long) * (size_t)count);
	if (!in || !out)
		MPI_Abort(MPI_COMM_WORLD, 2);
	for (int it = 0; it < iters; it++) {
		for (int i = 0; i < count; i++) {
			in[i] = (long)i * 3 + rank + it;
			out[i] = -1;
		}
		MPI_Allreduce(in, out, count, MPI_LONG, MPI_SUM,
			      MPI_COMM_WORLD);
		/* sum over r of (3i + r + it) */
		for (int i = 0; i < count; i++) {
			long want = ((long)i * 3 + it) * nranks +
				    (long)nranks * (nranks - 1) / 2;
			bad += out[i] != want;
		}
	}
	MPI_Allreduce(&bad, &allbad, 1, MPI_INT, MPI_SUM, MPI_COMM_WORLD);
	if (rank == 0)
		printf("allreduce: %s (%d ranks, %d x %d longs, %d "
		       "mismatches)\n",
		       allbad ? "FAIL" : "OK", nranks, iters, count, allbad);
	free(in);
	free(out);
	MPI_Finalize();
	return allbad ? 1 : 0;
}
