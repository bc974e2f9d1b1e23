/* SPDX-License-Identifier: MIT */
/*
 * The OpenAPI 3.0 description of every route, served at /openapi.json.  The
 * text is openapi.json in this folder, embedded at build time by embed.py.
 */
#ifndef PIGEON_HTTP_OPENAPI_H
#define PIGEON_HTTP_OPENAPI_H

#include <stddef.h>

/* The document, NUL-terminated; its length without the NUL. */
extern const char http_openapi_json[];
extern const size_t http_openapi_json_len;

#endif
