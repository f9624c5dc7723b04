/* A stand-in for `sleep 3600` that notes its own start: it appends its wall-clock start
 * time (seconds.nanoseconds) and its pid, one short O_APPEND write so that lines never mix,
 * to the file argv[1], names itself "sleep" (the bench counts workers by that name) and
 * sleeps.
 * SIGTERM and SIGKILL end it as they end sleep. Built by the bench (bench/peers.py). */
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <sys/prctl.h>
#include <time.h>
#include <unistd.h>

int main(int argc, char **argv) {
    struct timespec now;
    clock_gettime(CLOCK_REALTIME, &now);
    if (argc < 2)
        return 2;
    char line[64];
    int n = snprintf(line, sizeof line, "%lld.%09ld %d\n", (long long)now.tv_sec, now.tv_nsec,
                     (int)getpid());
    int fd = open(argv[1], O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
    if (fd < 0 || write(fd, line, (size_t)n) != n)
        return 1;
    close(fd);
    prctl(PR_SET_NAME, "sleep", 0, 0, 0);
    sleep(3600);
    return 0;
}
