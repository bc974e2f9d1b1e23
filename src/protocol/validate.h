/* SPDX-License-Identifier: MIT */
/*
 * Input rules that libpigeon, the bridge and the server must agree on: valid
 * UTF-8, acceptable usernames and the confusable skeleton of a username.
 * Usernames are identifiers, not text: RFC 8265's UsernameCasePreserved
 * profile of PRECIS, refused rather than mapped, and UTS #39 skeletons,
 * through ICU.  It owns no state of its own but ICU's shared data (loaded on
 * first use, never freed: valgrind counts it as still reachable) and does no
 * I/O.  Thread-safe.
 */
#ifndef PIGEON_PROTOCOL_VALIDATE_H
#define PIGEON_PROTOCOL_VALIDATE_H

#include <stdbool.h>
#include <stddef.h>

#include <pigeon/wire.h>

#define PIGEON_USERNAME_MAX 64

/* The default limit on a message's content, bytes: pigeond's, and
 * pigeon-http's, so that both refuse the same messages. */
#define PIGEON_CONTENT_MAX_DEFAULT 65536

/* How content over the limit is refused, followed by " of N bytes": pigeond's
 * RESOURCE_EXHAUSTED message, and pigeon-http's 413, which it also answers
 * to a RESOURCE_EXHAUSTED from SendMessage that starts with it. */
#define PIGEON_CONTENT_TOO_LARGE "content is larger than the limit"

/* True when buf[0..len) is valid UTF-8 (no overlongs, no surrogates, nothing
 * above U+10FFFF).  NUL bytes count as valid here; callers that forbid them
 * check separately. */
bool validate_utf8(const char *buf, size_t len);

/* The caller's storage for why a username is refused. */
typedef struct validate_why {
	char text[96];
} validate_why;

/* Why name[0..len) is not an acceptable username, or NULL when it is; the
 * reason is written into *why, which the answer points into.  A username is
 * 1 to PIGEON_USERNAME_MAX bytes of valid UTF-8 that RFC 8265's
 * UsernameCasePreserved profile would leave as it is:
 *
 * - in Unicode normalization form C;
 * - every code point PVALID in the PRECIS IdentifierClass: letters, marks
 *   and digits, and printable ASCII (U+0021..U+007E).  Refused: controls,
 *   spaces, format and other default-ignorable characters (zero-width
 *   characters, bidi controls, variation selectors), noncharacters,
 *   unassigned and private-use code points, conjoining Hangul jamo, any code
 *   point that NFKC changes (fullwidth and halfwidth forms, ligatures,
 *   circled and styled letters), and symbols and punctuation outside ASCII;
 * - the few code points RFC 5892 allows only in a context (U+00B7 between
 *   two 'l', U+0375 before Greek, U+05F3 and U+05F4 after Hebrew, U+30FB
 *   with kana or Han, Arabic-Indic digits of one kind only) in that context;
 * - when it holds right-to-left characters, RFC 5893's Bidi Rule: it starts
 *   with a right-to-left letter, holds no left-to-right letter, ends with a
 *   letter or digit, and does not mix European and Arabic-Indic digits.
 *
 * Stricter than RFC 8265 in one point: ZERO WIDTH (NON-)JOINER, which PRECIS
 * allows after a virama, is refused as invisible.  Nothing is mapped: a
 * fullwidth 'Ａ' or a decomposed 'é' is refused, not changed.  A name of
 * printable ASCII alone is accepted without ICU (the hot path: SendMessage
 * checks two names per message). */
const char *validate_username(const char *name, size_t len, validate_why *why);

/* Room for the skeleton of any acceptable username, its NUL included.  ICU
 * 72's data needs at most 7 bytes per byte of name (a Hangul syllable, whose
 * three jamo each look like other letters), so 449; the unit test walks every
 * code point to check the bound. */
#define VALIDATE_SKELETON_MAX 1024

/* Writes into out (cap bytes) the confusable skeleton of name[0..len), NUL-
 * terminated: two usernames whose skeletons are equal look alike, and only
 * one of them may be registered.  The skeleton is UTS #39's skeleton of the
 * full case folding of UTS #39's skeleton, so it ignores case except where a
 * capital looks like another letter:
 *
 *   "Alice", "alice" and "Аlice" (Cyrillic А) share one;
 *   "Ilya", "ILYA" and "llya" share one (a capital 'I' looks like 'l'),
 *   which is also why "ALICE" has another;
 *   "Malory" and "rnalory" share one ('m' looks like "rn").
 *
 * Folding between the two skeleton passes, not before the first, keeps what
 * the first pass knows of capitals ('I' is 'l', not 'i'); the second pass
 * maps the lower case letters folding made ('m' to "rn").  Names that differ
 * only in case are one user to a reader, so they count as confusable even
 * though usernames keep their case and log in by their exact bytes.
 * The skeleton is for comparing, never for showing, and it may change with
 * ICU's confusables data.
 *
 * INVALID_ARGUMENT for a name validate_username refuses, RESOURCE_EXHAUSTED
 * when the skeleton needs more than cap bytes (VALIDATE_SKELETON_MAX always
 * suffices) or without memory, INTERNAL when ICU's data cannot be loaded;
 * out is written only on OK. */
pigeon_status validate_username_skeleton(const char *name, size_t len, char *out, size_t cap);

#endif
