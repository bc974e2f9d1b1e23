/* SPDX-License-Identifier: MIT */
/* The standard process_* metrics, read from /proc/self; see process.h. */
#include "process.h"

#include <dirent.h>
#include <stdio.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <unistd.h>

/* Entries of /proc/self/fd, less the directory's own descriptor. */
static long
open_fds(void)
{
	DIR *d = opendir("/proc/self/fd");
	struct dirent *e;
	long n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n - 1;
}

static long
resident_pages(void)
{
	FILE *f = fopen("/proc/self/statm", "r");
	long size, resident;

	if (f == NULL)
		return -1;
	if (fscanf(f, "%ld %ld", &size, &resident) != 2)
		resident = -1;
	fclose(f);
	return resident;
}

void
process_render(prom_text *t, double start_time_s)
{
	long pages = resident_pages(), fds = open_fds(), page = sysconf(_SC_PAGESIZE);
	struct rusage ru;
	struct rlimit rl;

	if (pages >= 0 && page > 0) {
		prom_family(t, "process_resident_memory_bytes", "gauge",
		    "Resident memory size in bytes.");
		prom_printf(t, "process_resident_memory_bytes %ld\n", pages * page);
	}
	if (fds >= 0) {
		prom_family(t, "process_open_fds", "gauge", "Number of open file descriptors.");
		prom_printf(t, "process_open_fds %ld\n", fds);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur != RLIM_INFINITY) {
		prom_family(t, "process_max_fds", "gauge",
		    "Maximum number of open file descriptors.");
		prom_printf(t, "process_max_fds %llu\n", (unsigned long long)rl.rlim_cur);
	}
	if (getrusage(RUSAGE_SELF, &ru) == 0) {
		prom_family(t, "process_cpu_seconds_total", "counter",
		    "Total user and system CPU time spent in seconds.");
		prom_printf(t, "process_cpu_seconds_total %.6f\n",
		    (double)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) +
			(double)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) / 1e6);
	}
	prom_family(t, "process_start_time_seconds", "gauge",
	    "Start time of the process since the Unix epoch in seconds.");
	prom_printf(t, "process_start_time_seconds %.3f\n", start_time_s);
}
