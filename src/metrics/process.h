/* SPDX-License-Identifier: MIT */
/*
 * The process metrics every Prometheus client library exports, with their
 * standard names: resident memory, open and maximum file descriptors, CPU
 * time, start time.  Linux only (/proc/self).
 */
#ifndef PIGEON_METRICS_PROCESS_H
#define PIGEON_METRICS_PROCESS_H

#include "prom.h"

/* Renders them into t; start_time_s is when the process started, seconds
 * since the Unix epoch.  A figure that cannot be read is left out. */
void process_render(prom_text *t, double start_time_s);

#endif
