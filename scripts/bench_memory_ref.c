/* The references for `make bench` (scripts/bench_memory.py), written apart from the probe:
 *   first-touch BUFFERS BUFFER_BYTES PASSES  plain mmap + memset per buffer, munmap after each pass
 *   memset BYTES REPEATS                     libc memset over one buffer touched beforehand
 * Each prints one JSON object: per-buffer (or per-repeat) times and their median. */
#define _GNU_SOURCE
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <time.h>

static double now_us(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1e6 + ts.tv_nsec / 1e3;
}

/* Tells the compiler the memory behind p is used, so no store to it is dropped. */
static void keep(void *p) { __asm__ volatile("" : : "r"(p) : "memory"); }

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static double median(double *v, size_t n) {
    qsort(v, n, sizeof *v, cmp);
    return n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
}

static void *map(size_t len) {
    void *p = mmap(NULL, len, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) {
        perror("mmap");
        exit(1);
    }
    return p;
}

static int first_touch(size_t buffers, size_t len, size_t passes) {
    double *us = malloc(buffers * passes * sizeof *us);
    void **held = malloc(buffers * sizeof *held);
    size_t n = 0;
    for (size_t pass = 1; pass <= passes; pass++) {
        for (size_t i = 0; i < buffers; i++) {
            double t0 = now_us();
            void *p = map(len);
            memset(p, (int)pass, len);
            keep(p);
            us[n++] = now_us() - t0;
            held[i] = p;
        }
        for (size_t i = 0; i < buffers; i++) munmap(held[i], len);
    }
    double mib = len / 1048576.0;
    for (size_t i = 0; i < n; i++) us[i] /= mib;
    printf("{\"us_per_mib_median\":%.3f,\"buffers\":%zu}\n", median(us, n), n);
    return 0;
}

static int memset_bw(size_t len, size_t repeats) {
    double *gbs = malloc(repeats * sizeof *gbs);
    unsigned char *p = map(len);
    memset(p, 0xff, len);
    keep(p);
    for (size_t r = 0; r < repeats; r++) {
        double t0 = now_us();
        memset(p, (int)(r % 254) + 1, len);
        keep(p);
        gbs[r] = len / ((now_us() - t0) * 1e3);
    }
    munmap(p, len);
    printf("{\"gb_per_s_median\":%.3f,\"repeats\":%zu}\n", median(gbs, repeats), repeats);
    return 0;
}

int main(int argc, char **argv) {
    if (argc == 5 && strcmp(argv[1], "first-touch") == 0)
        return first_touch(strtoull(argv[2], 0, 10), strtoull(argv[3], 0, 10),
                           strtoull(argv[4], 0, 10));
    if (argc == 4 && strcmp(argv[1], "memset") == 0)
        return memset_bw(strtoull(argv[2], 0, 10), strtoull(argv[3], 0, 10));
    fprintf(stderr,
            "usage: %s first-touch BUFFERS BUFFER_BYTES PASSES | memset BYTES REPEATS\n",
            argv[0]);
    return 2;
}
