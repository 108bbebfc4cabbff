/* phc_test.h - shared helpers for the cmocka unit tests. The code is in
 * phc_test.c, compiled into the test support library
 * (build/test/libphctest.a) that every unit test links. */
#ifndef PHC_TEST_H
#define PHC_TEST_H

#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

/* Read a whole file (a fixture under test/fixtures, relative to
 * test/unit where the tests run). Returns malloc'ed bytes, NUL-terminated
 * (not counted in *len), or NULL. */
char *phc_test_read_file(const char *path, size_t *len);

#endif
