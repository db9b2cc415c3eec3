/* trap-loop: cost of one syscall, N times, the way vhqos' fast path sees it.
 *   cc -O2 -o trap-loop trap-loop.c && ./trap-loop [N] [read|getppid] [HOLD_MS] [DELAY_MS]
 * read (default): opens /dev/zero, does one read (under vhqos this is the
 *   read the native loop inspects: not a connection, so the fd is marked
 *   quiet), a short warm-up, then times N read(fd, buf, 1) calls.
 * getppid: times N getppid() calls (vhqos does not trap it: bare cost).
 * Output: mode=<read|getppid> us_per_syscall=<float> n=<N>
 * HOLD_MS: sleep that long after printing (nanosleep is not trapped), so a
 * benchmark can read the supervisor's counters before the process exits.
 * DELAY_MS: sleep that long before starting (lets a benchmark rearrange the
 * supervisor first).
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void sleep_ms(long ms) {
  struct timespec t = {ms / 1000, (ms % 1000) * 1000000L};
  while (nanosleep(&t, &t) != 0) {}
}

static double elapsed_us(struct timespec a, struct timespec b) {
  return ((b.tv_sec - a.tv_sec) * 1e9 + (b.tv_nsec - a.tv_nsec)) / 1000.0;
}

int main(int argc, char **argv) {
  long n = argc > 1 ? atol(argv[1]) : 200000;
  if (n <= 0) n = 200000;
  const char *mode = argc > 2 ? argv[2] : "read";
  long hold_ms = argc > 3 ? atol(argv[3]) : 0;
  long delay_ms = argc > 4 ? atol(argv[4]) : 0;
  struct timespec a, b;
  double us;
  if (delay_ms > 0) sleep_ms(delay_ms);
  if (strcmp(mode, "getppid") == 0) {
    for (long i = 0; i < n / 20 + 100; i++) syscall(__NR_getppid);
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++) syscall(__NR_getppid);
    clock_gettime(CLOCK_MONOTONIC, &b);
    us = elapsed_us(a, b) / n;
  } else if (strcmp(mode, "read") == 0) {
    int fd = open("/dev/zero", O_RDONLY | O_CLOEXEC);
    if (fd < 0) { perror("open /dev/zero"); return 1; }
    char buf[1];
    if (read(fd, buf, 1) != 1) { perror("read"); return 1; } /* inspected, marked quiet */
    for (long i = 0; i < n / 20 + 100; i++)                   /* warm-up */
      if (read(fd, buf, 1) != 1) { perror("read"); return 1; }
    clock_gettime(CLOCK_MONOTONIC, &a);
    for (long i = 0; i < n; i++)
      if (read(fd, buf, 1) != 1) { perror("read"); return 1; }
    clock_gettime(CLOCK_MONOTONIC, &b);
    us = elapsed_us(a, b) / n;
  } else {
    fprintf(stderr, "trap-loop: unknown mode %s (read|getppid)\n", mode);
    return 2;
  }
  printf("mode=%s us_per_syscall=%.3f n=%ld\n", mode, us, n);
  fflush(stdout);
  if (hold_ms > 0) sleep_ms(hold_ms);
  return 0;
}
