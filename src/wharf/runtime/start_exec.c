/* wharf-start-exec: what a container's pid 1 execs once its set-up is done, to wait for
 * the start signal and then execve the container's process.
 *
 *     wharf-start-exec SYNC_FD LINE_FD PATH ARGV0 [ARG...]      (environ: the process's)
 *
 * The Python set-up process execs this as soon as it has reported READY, so the kernel
 * tears its large address space down while the engine is still answering `create` and
 * sending `start`, not after. The start signal is a datagram whose first byte is 'S', on
 * SYNC_FD (from the monitor) or LINE_FD (from the engine; -1 for none). Anything else on
 * the line, or its end, only stops us watching it; on SYNC_FD it means no start will come
 * (exit 1). Both are closed before the execve. An execve failure is reported on stderr as
 * the shell would: exit 127 when PATH does not exist, 126 otherwise.
 *
 * No libc: a static binary of a few pages, so that its own exec and exit cost nothing.
 * See wharf/runtime/init.py (_exec_start_stub) for the caller's side.
 */

#include <asm/unistd.h>
#include <linux/errno.h>
#include <linux/poll.h>

typedef long word;

static word sys(word n, word a, word b, word c, word d) {
    word ret;
#if defined(__x86_64__)
    register word r10 __asm__("r10") = d;
    __asm__ volatile("syscall"
                     : "=a"(ret)
                     : "a"(n), "D"(a), "S"(b), "d"(c), "r"(r10)
                     : "rcx", "r11", "memory");
#elif defined(__aarch64__)
    register word x8 __asm__("x8") = n;
    register word x0 __asm__("x0") = a;
    register word x1 __asm__("x1") = b;
    register word x2 __asm__("x2") = c;
    register word x3 __asm__("x3") = d;
    __asm__ volatile("svc 0" : "+r"(x0) : "r"(x8), "r"(x1), "r"(x2), "r"(x3) : "memory");
    ret = x0;
#else
#error "wharf-start-exec: no system call stub for this architecture"
#endif
    return ret;
}

static void __attribute__((noreturn)) quit(int status) {
    for (;;)
        sys(__NR_exit_group, status, 0, 0, 0);
}

static word number(const char *s) {
    word sign = 1, n = 0;
    if (*s == '-') {
        sign = -1;
        s++;
    }
    while (*s >= '0' && *s <= '9')
        n = n * 10 + (*s++ - '0');
    return sign * n;
}

static word length(const char *s) {
    word n = 0;
    while (s[n])
        n++;
    return n;
}

static void say(const char *s) { sys(__NR_write, 2, (word)s, length(s), 0); }

/* The first byte of the next datagram on fd; 0 at its end (or a failed read). A reset
 * (the peer closed with our message unread) is reported once, ahead of its data. */
static char next_tag(word fd) {
    static char buf[256];
    for (int attempt = 0; attempt < 2; attempt++) {
        word n;
        do
            n = sys(__NR_read, fd, (word)buf, sizeof buf, 0);
        while (n == -EINTR);
        if (n == -ECONNRESET)
            continue;
        return n > 0 ? buf[0] : 0;
    }
    return 0;
}

static void wait_start(word sync, word line) {
    struct pollfd fds[2] = {{(int)sync, POLLIN, 0}, {(int)line, POLLIN, 0}};
    for (;;) {
        word n = sys(__NR_ppoll, (word)fds, line >= 0 ? 2 : 1, 0, 0);
        if (n == -EINTR)
            continue;
        if (n < 0)
            quit(1);
        if (line >= 0 && fds[1].revents) {
            if (next_tag(line) == 'S')
                return;
            sys(__NR_close, line, 0, 0, 0);
            line = -1;
            continue;
        }
        if (next_tag(sync) == 'S')
            return;
        quit(1);
    }
}

static const char *describe(word err) {
    switch (err) {
    case ENOENT:
        return "No such file or directory";
    case EACCES:
        return "Permission denied";
    case ENOEXEC:
        return "Exec format error";
    case ENOTDIR:
        return "Not a directory";
    case ELOOP:
        return "Too many levels of symbolic links";
    case ETXTBSY:
        return "Text file busy";
    case ENOMEM:
        return "Cannot allocate memory";
    case E2BIG:
        return "Argument list too long";
    default:
        return "execve failed";
    }
}

void __attribute__((noreturn, used)) start_main(word *stack) {
    word argc = stack[0];
    char **argv = (char **)(stack + 1);
    char **envp = argv + argc + 1;
    if (argc < 5)
        quit(1);
    word sync = number(argv[1]), line = number(argv[2]);
    wait_start(sync, line);
    sys(__NR_close, sync, 0, 0, 0);
    if (line >= 0)
        sys(__NR_close, line, 0, 0, 0);
    word err = -sys(__NR_execve, (word)argv[3], (word)(argv + 4), (word)envp, 0);
    say("exec '");
    say(argv[4]);
    say("': ");
    say(describe(err));
    say("\n");
    quit(err == ENOENT ? 127 : 126);
}

/* The entry point: the kernel leaves argc, argv and envp on the stack. */
#if defined(__x86_64__)
__asm__(".globl _start\n_start:\n mov %rsp, %rdi\n and $-16, %rsp\n call start_main\n");
#elif defined(__aarch64__)
__asm__(".globl _start\n_start:\n mov x0, sp\n bl start_main\n");
#endif
