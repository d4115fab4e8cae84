/*
 * aigov_hs.h: Vectorscan for the bundled plugins, on a runtime that finds
 * every match. A plugin compiles its databases with aigov_hs_compile_multi()
 * or aigov_hs_compile_lit_multi() and scans with aigov_hs_scan(), in place
 * of hs_compile_multi(), hs_compile_lit_multi() and hs_scan().
 *
 * Why: libvectorscan 5.4.9 (Debian's libhs.so.5) is a fat library that
 * picks, once per process, the code for the CPU it runs on. On a CPU with
 * AVX-512 it runs avx512_hs_scan, whose one-byte search (vermicelli)
 * misses the byte when it lies in the last partial 64 bytes of a range
 * longer than 64; the SSE and AVX2 versions of the same search are right.
 * Vectorscan skips ahead with that search in the small engines it builds
 * for short expressions: the blocklist patterns \bx\b, x\b, \be\b, #\w+,
 * and x+ with start of match, were not found past about 70 bytes into a
 * text (\bx\b after "ha" x 0 to 300 bytes: 220 of 301 missed), guard
 * literals in the database or not.
 *
 * So on a CPU with AVX-512 (and AVX2), when the library exports its AVX2
 * entry point avx2_hs_scan, databases are compiled for the host's tuning
 * with AVX2 as the highest feature, the database Vectorscan builds on an
 * AVX2 machine, and scanned by avx2_hs_scan. Elsewhere, or with a
 * libhs without that symbol, this is hs_compile_multi() and hs_scan() as
 * they are. Scratch space (hs_alloc_scratch) is the same for both
 * runtimes. The choice is made once per process; each plugin that
 * includes this header makes its own copy of it, and all make the same.
 *
 * The unit tests of every plugin compare its findings after prefixes of
 * every length up to 300 bytes; t/unit/test_plugin_blocklist.c also
 * checks the library's own runtime, so a fixed Vectorscan shows there.
 */
#ifndef AIGOV_HS_H
#define AIGOV_HS_H

#include <pthread.h>
#include <stddef.h>

#include <hs.h>

/* The fat libhs exports each runtime by name; weak, so that a libhs
 * built for one CPU, without these names, still loads (it is then NULL). */
extern hs_error_t avx2_hs_scan(const hs_database_t *db, const char *data, unsigned int length,
                               unsigned int flags, hs_scratch_t *scratch,
                               match_event_handler onEvent, void *context)
    __attribute__((weak));

typedef hs_error_t (*aigov_hs_scan_fn)(const hs_database_t *, const char *, unsigned int,
                                       unsigned int, hs_scratch_t *, match_event_handler,
                                       void *);

static struct {
    pthread_once_t      once;
    aigov_hs_scan_fn    scan;
    hs_platform_info_t  platform;
    int                 avx2;       /* 1: platform limits to AVX2, scan is avx2_hs_scan */
} aigov_hs_rt = { PTHREAD_ONCE_INIT, NULL, { 0, 0, 0, 0 }, 0 };

static __attribute__((unused)) void aigov_hs_choose(void)
{
    hs_platform_info_t p;

    aigov_hs_rt.scan = hs_scan;
    if (avx2_hs_scan != NULL && hs_populate_platform(&p) == HS_SUCCESS
        && (p.cpu_features & HS_CPU_FEATURES_AVX512)
        && (p.cpu_features & HS_CPU_FEATURES_AVX2)) {
        p.cpu_features = HS_CPU_FEATURES_AVX2;
        aigov_hs_rt.platform = p;
        aigov_hs_rt.scan = avx2_hs_scan;
        aigov_hs_rt.avx2 = 1;
    }
}

/* The platform to compile for: NULL (the host) or the host limited to
 * AVX2, whichever aigov_hs_scan() runs. */
static inline const hs_platform_info_t *aigov_hs_platform(void)
{
    pthread_once(&aigov_hs_rt.once, aigov_hs_choose);
    return aigov_hs_rt.avx2 ? &aigov_hs_rt.platform : NULL;
}

/* 1 when scans go to avx2_hs_scan instead of the library's own choice. */
static inline int aigov_hs_avoids_avx512(void)
{
    return aigov_hs_platform() != NULL;
}

static inline hs_error_t aigov_hs_compile_multi(const char *const *expressions,
                                                const unsigned int *flags,
                                                const unsigned int *ids, unsigned int elements,
                                                unsigned int mode, hs_database_t **db,
                                                hs_compile_error_t **error)
{
    return hs_compile_multi(expressions, flags, ids, elements, mode, aigov_hs_platform(), db,
                            error);
}

static inline hs_error_t aigov_hs_compile_lit_multi(const char *const *expressions,
                                                    const unsigned int *flags,
                                                    const unsigned int *ids,
                                                    const size_t *lens, unsigned int elements,
                                                    unsigned int mode, hs_database_t **db,
                                                    hs_compile_error_t **error)
{
    return hs_compile_lit_multi(expressions, flags, ids, lens, elements, mode,
                                aigov_hs_platform(), db, error);
}

/* hs_scan() of a database compiled by the two above. */
static inline hs_error_t aigov_hs_scan(const hs_database_t *db, const char *data,
                                       unsigned int length, unsigned int flags,
                                       hs_scratch_t *scratch, match_event_handler onEvent,
                                       void *context)
{
    pthread_once(&aigov_hs_rt.once, aigov_hs_choose);
    return aigov_hs_rt.scan(db, data, length, flags, scratch, onEvent, context);
}

#endif /* AIGOV_HS_H */
