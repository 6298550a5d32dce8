/* fuzzFile.h - inputs as files, for the parsers that only read from a path.
 * Files live in one private directory under $FUZZ_TMPDIR, else /dev/shm when it
 * is writable (writing an input then costs no disk I/O), created on first use
 * and removed at exit.
 */
#ifndef INC_fuzzFile_H
#define INC_fuzzFile_H

#include <stddef.h>
#include <stdint.h>

/* The directory, created on first call. Aborts when it cannot be made. */
const char *fuzzDir(void);
/* Writes data to fuzzDir()/name and returns its path (a static buffer per
 * slot 0..3, so up to four paths may be held at once). Aborts on failure. */
const char *fuzzWriteFile(int slot, const char *name, const uint8_t *data, size_t n);

#endif
