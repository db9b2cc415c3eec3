/* burn-cgi: a lean CPU-bound CGI for bench/qos. QUERY_STRING "ms=N": burns N
 * ms of this process's CPU time (CLOCK_PROCESS_CPUTIME_ID, so the work is the
 * same however contended the CPU is), then prints, like the whoami fixture,
 * "vhost: $VHOST_NAME" and one "cgroup: <line>" per line of /proc/self/cgroup.
 * Built static, so it makes only a handful of syscalls (one read of
 * /proc/self/cgroup): under vhqos that is a few trapped syscalls per request
 * instead of the ~800 of the shell+perl fixture.
 *   cc -O2 -static -o burn-cgi burn-cgi.c
 */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double cpu_ms(void) {
  struct timespec t;
  clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}

int main(void) {
  const char *q = getenv("QUERY_STRING");
  const char *p = q ? strstr(q, "ms=") : NULL;
  long ms = p ? atol(p + 3) : 20;
  if (ms < 0) ms = 0;
  if (ms > 60000) ms = 60000;
  double start = cpu_ms();
  volatile unsigned x = 1;
  while (cpu_ms() - start < ms)
    for (int i = 0; i < 20000; i++) x = x * 1103515245u + 12345u;
  char cg[8192];
  ssize_t n = -1;
  int fd = open("/proc/self/cgroup", O_RDONLY | O_CLOEXEC);
  if (fd >= 0) {
    n = read(fd, cg, sizeof cg - 1);
    close(fd);
  }
  if (n < 0) n = 0;
  cg[n] = 0;
  const char *vh = getenv("VHOST_NAME");
  printf("Content-Type: text/plain\r\nCache-Control: no-store\r\n\r\n");
  printf("pid: %d\nvhost: %s\nburn_ms: %ld\ncpu_ms: %ld\n", (int)getpid(), vh ? vh : "", ms, (long)(cpu_ms() - start));
  for (char *line = strtok(cg, "\n"); line; line = strtok(NULL, "\n")) printf("cgroup: %s\n", line);
  return 0;
}
