/*
 * strata-launch-helper: performs only the syscalls needed to start a process in new namespaces, or
 * in the namespaces of a running container (`joinPid`: docker exec).
 * All policy (which mounts, which capabilities, which user, which devices) is decided in TypeScript
 * and arrives as JSON on fd 3. Status lines go to fd 4:
 *   "pid <host-pid>"            the container process has exec'd
 *   "error <errno> <message>"   setup failed before exec (nothing is left running)
 *   "exit <code> <signal>"      the container's init ended (code is 128+N when killed by signal N)
 * The helper stays outside the container's pid namespace, forwards signals to its init, proxies
 * the pty when a terminal is requested, and exits with the container's exit code.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <linux/audit.h>
#include <linux/capability.h>
#include <linux/filter.h>
#include <linux/seccomp.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/signalfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/sysmacros.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#ifndef OPEN_TREE_CLONE
#define OPEN_TREE_CLONE 1
#endif
#ifndef OPEN_TREE_CLOEXEC
#define OPEN_TREE_CLOEXEC O_CLOEXEC
#endif
#ifndef MOVE_MOUNT_F_EMPTY_PATH
#define MOVE_MOUNT_F_EMPTY_PATH 0x00000004
#endif
#ifndef CLOSE_RANGE_CLOEXEC
#define CLOSE_RANGE_CLOEXEC (1U << 2)
#endif
#ifndef PR_CAP_AMBIENT
#define PR_CAP_AMBIENT 47
#define PR_CAP_AMBIENT_CLEAR_ALL 4
#endif

#define SPEC_FD 3
#define STATUS_FD 4
#define MAX_OPEN_TREES 64

/* ---------------------------------------------------------------- minimal JSON reader */

enum { J_NULL, J_BOOL, J_NUM, J_STR, J_ARR, J_OBJ };
typedef struct json {
  int type;
  double num;
  char *str;
  struct json **items; /* array items or object values */
  char **keys;         /* object keys */
  int len;
} json;

static const char *jp;

static void jfail(const char *why) {
  dprintf(STATUS_FD, "error %d invalid spec from the launcher: %s\n", EINVAL, why);
  _exit(125);
}

static void jws(void) {
  while (*jp == ' ' || *jp == '\n' || *jp == '\r' || *jp == '\t') jp++;
}

static json *jnew(int type) {
  json *j = calloc(1, sizeof(json));
  if (!j) jfail("out of memory");
  j->type = type;
  return j;
}

static char *jstring(void) {
  /* jp points after the opening quote; output is never longer than input */
  size_t cap = strlen(jp) + 1, n = 0;
  char *out = malloc(cap);
  if (!out) jfail("out of memory");
  while (*jp && *jp != '"') {
    char c = *jp++;
    if (c != '\\') {
      out[n++] = c;
      continue;
    }
    c = *jp++;
    switch (c) {
    case 'n': out[n++] = '\n'; break;
    case 't': out[n++] = '\t'; break;
    case 'r': out[n++] = '\r'; break;
    case 'b': out[n++] = '\b'; break;
    case 'f': out[n++] = '\f'; break;
    case 'u': {
      unsigned v = 0;
      for (int i = 0; i < 4; i++) {
        char h = *jp++;
        v = v * 16 + (h >= '0' && h <= '9' ? h - '0' : (h | 32) - 'a' + 10);
      }
      /* the launcher escapes only control characters, so one UTF-8 byte suffices */
      if (v == 0 || v > 0x7f) jfail("unsupported \\u escape");
      out[n++] = (char)v;
      break;
    }
    case 0: jfail("unterminated string"); break;
    default: out[n++] = c;
    }
  }
  if (*jp != '"') jfail("unterminated string");
  jp++;
  out[n] = 0;
  return out;
}

static json *jvalue(void) {
  jws();
  json *j;
  if (*jp == '{' || *jp == '[') {
    int obj = *jp == '{';
    char close = obj ? '}' : ']';
    j = jnew(obj ? J_OBJ : J_ARR);
    jp++;
    jws();
    int cap = 0;
    while (*jp != close) {
      if (j->len == cap) {
        cap = cap ? cap * 2 : 8;
        j->items = realloc(j->items, cap * sizeof(json *));
        j->keys = realloc(j->keys, cap * sizeof(char *));
        if (!j->items || !j->keys) jfail("out of memory");
      }
      if (obj) {
        jws();
        if (*jp++ != '"') jfail("expected a key");
        j->keys[j->len] = jstring();
        jws();
        if (*jp++ != ':') jfail("expected ':'");
      }
      j->items[j->len++] = jvalue();
      jws();
      if (*jp == ',') {
        jp++;
        jws();
      } else if (*jp != close) {
        jfail("expected ',' or a closing bracket");
      }
    }
    jp++;
  } else if (*jp == '"') {
    jp++;
    j = jnew(J_STR);
    j->str = jstring();
  } else if (!strncmp(jp, "true", 4) || !strncmp(jp, "false", 5)) {
    j = jnew(J_BOOL);
    j->num = *jp == 't';
    jp += *jp == 't' ? 4 : 5;
  } else if (!strncmp(jp, "null", 4)) {
    j = jnew(J_NULL);
    jp += 4;
  } else {
    char *end;
    j = jnew(J_NUM);
    j->num = strtod(jp, &end);
    if (end == jp) jfail("unexpected character");
    jp = end;
  }
  return j;
}

static json *jget(json *o, const char *key) {
  if (!o || o->type != J_OBJ) return NULL;
  for (int i = 0; i < o->len; i++)
    if (!strcmp(o->keys[i], key)) return o->items[i];
  return NULL;
}
static const char *jstr(json *o, const char *key) {
  json *v = jget(o, key);
  return v && v->type == J_STR ? v->str : NULL;
}
static double jnum(json *o, const char *key, double dflt) {
  json *v = jget(o, key);
  return v && (v->type == J_NUM || v->type == J_BOOL) ? v->num : dflt;
}
static int jlen(json *a) { return a && a->type == J_ARR ? a->len : 0; }
static char **jstrv(json *a) {
  int n = jlen(a);
  char **v = calloc(n + 1, sizeof(char *));
  if (!v) jfail("out of memory");
  for (int i = 0; i < n; i++) {
    if (a->items[i]->type != J_STR) jfail("expected a string array");
    v[i] = a->items[i]->str;
  }
  return v;
}

/* ---------------------------------------------------------------- child-side errors */

static int sync_fd = -1; /* child end of the seqpacket pair to the supervising helper */

/* Report a setup failure to the supervisor and exit; the container command never runs. */
static void die(int err, const char *fmt, ...) {
  char msg[1024];
  va_list ap;
  va_start(ap, fmt);
  int n = snprintf(msg, sizeof msg, "E%d ", err);
  vsnprintf(msg + n, sizeof msg - n, fmt, ap);
  va_end(ap);
  for (char *p = msg; *p; p++)
    if (*p == '\n') *p = ' ';
  if (write(sync_fd, msg, strlen(msg)) < 0) _exit(125);
  _exit(125);
}

static void mkdir_p(const char *path, mode_t mode) {
  char buf[PATH_MAX];
  if (snprintf(buf, sizeof buf, "%s", path) >= (int)sizeof buf) die(ENAMETOOLONG, "path too long: %s", path);
  for (char *p = buf + 1; *p; p++) {
    if (*p != '/') continue;
    *p = 0;
    if (mkdir(buf, mode) < 0 && errno != EEXIST) die(errno, "mkdir %s: %s", buf, strerror(errno));
    *p = '/';
  }
  if (mkdir(buf, mode) < 0 && errno != EEXIST) die(errno, "mkdir %s: %s", buf, strerror(errno));
}

static void parent_dir(const char *path) {
  char buf[PATH_MAX];
  snprintf(buf, sizeof buf, "%s", path);
  char *slash = strrchr(buf, '/');
  if (slash && slash != buf) {
    *slash = 0;
    mkdir_p(buf, 0755);
  }
}

/* Make sure a mount target exists: a directory, or an empty file when binding a file. */
static void ensure_target(const char *target, int as_file) {
  struct stat st;
  if (lstat(target, &st) == 0) return;
  if (errno != ENOENT) die(errno, "stat %s: %s", target, strerror(errno));
  if (as_file) {
    parent_dir(target);
    int fd = open(target, O_CREAT | O_WRONLY | O_CLOEXEC | O_NOFOLLOW, 0644);
    if (fd < 0) die(errno, "create %s: %s", target, strerror(errno));
    close(fd);
  } else {
    mkdir_p(target, 0755);
  }
}

static unsigned long vfs_flags(const char *path) {
  struct statvfs sv;
  if (statvfs(path, &sv) < 0) return 0;
  unsigned long f = 0;
  if (sv.f_flag & ST_NOSUID) f |= MS_NOSUID;
  if (sv.f_flag & ST_NODEV) f |= MS_NODEV;
  if (sv.f_flag & ST_NOEXEC) f |= MS_NOEXEC;
  if (sv.f_flag & ST_NOATIME) f |= MS_NOATIME;
  if (sv.f_flag & ST_NODIRATIME) f |= MS_NODIRATIME;
  if (sv.f_flag & ST_RELATIME) f |= MS_RELATIME;
  return f;
}

static void remount_ro(const char *path, unsigned long extra) {
  if (mount(NULL, path, NULL, MS_BIND | MS_REMOUNT | MS_RDONLY | vfs_flags(path) | extra, NULL) < 0)
    die(errno, "remount %s read-only: %s", path, strerror(errno));
}

/* /dev/null must be the real device before it is bound over anything (CVE-2025-31133 class). */
static void check_dev_null(void) {
  struct stat st;
  if (lstat("/dev/null", &st) < 0 || !S_ISCHR(st.st_mode) || major(st.st_rdev) != 1 || minor(st.st_rdev) != 3)
    die(EPERM, "/dev/null in the container is not the null device; refusing to mask paths with it");
}

/* ---------------------------------------------------------------- the container init */

static void set_caps(json *caps) {
  uint64_t eff = (uint64_t)jnum(caps, "effective", 0);
  uint64_t prm = (uint64_t)jnum(caps, "permitted", 0);
  uint64_t inh = (uint64_t)jnum(caps, "inheritable", 0);
  struct __user_cap_header_struct hdr = {_LINUX_CAPABILITY_VERSION_3, 0};
  struct __user_cap_data_struct data[2] = {
      {(uint32_t)eff, (uint32_t)prm, (uint32_t)inh},
      {(uint32_t)(eff >> 32), (uint32_t)(prm >> 32), (uint32_t)(inh >> 32)},
  };
  if (syscall(SYS_capset, &hdr, data) < 0) die(errno, "capset: %s", strerror(errno));
  if (prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0) < 0 && errno != EINVAL)
    die(errno, "clear ambient capabilities: %s", strerror(errno));
}

static void drop_bounding(json *caps) {
  uint64_t bset = (uint64_t)jnum(caps, "bounding", 0);
  for (int cap = 0; cap < 64; cap++) {
    if (bset & (1ULL << cap)) continue;
    if (prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) < 0) {
      if (errno == EINVAL) break; /* past the kernel's last capability */
      die(errno, "drop capability %d from the bounding set: %s", cap, strerror(errno));
    }
  }
}

static void do_mounts(json *ops, int *tree_fds) {
  for (int i = 0; i < jlen(ops); i++) {
    json *op = ops->items[i];
    const char *kind = jstr(op, "op");
    const char *target = jstr(op, "target");
    if (!kind || !target) die(EINVAL, "mount op %d lacks op/target", i);
    if (!strcmp(kind, "mount")) {
      unsigned long flags = (unsigned long)jnum(op, "flags", 0);
      struct stat st;
      if (lstat(target, &st) == 0 && S_ISLNK(st.st_mode))
        die(ELOOP, "%s in the image is a symlink; refusing to mount over it", target);
      ensure_target(target, 0);
      if (mount(jstr(op, "source"), target, jstr(op, "fstype"), flags & ~MS_RDONLY, jstr(op, "data")) < 0)
        die(errno, "mount %s on %s: %s", jstr(op, "fstype"), target, strerror(errno));
      if (flags & MS_RDONLY) remount_ro(target, 0);
    } else if (!strcmp(kind, "bind")) {
      int idx = (int)jnum(op, "tree", -1);
      if (idx < 0 || idx >= MAX_OPEN_TREES || tree_fds[idx] < 0) die(EINVAL, "bind op %d has no source", i);
      struct stat st;
      if (fstat(tree_fds[idx], &st) < 0) die(errno, "stat bind source: %s", strerror(errno));
      ensure_target(target, !S_ISDIR(st.st_mode));
      if (syscall(SYS_move_mount, tree_fds[idx], "", AT_FDCWD, target, MOVE_MOUNT_F_EMPTY_PATH) < 0)
        die(errno, "bind-mount %s on %s: %s", jstr(op, "source"), target, strerror(errno));
      close(tree_fds[idx]);
      tree_fds[idx] = -1;
      unsigned long flags = (unsigned long)jnum(op, "flags", 0);
      if (flags & (MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC)) {
        if (mount(NULL, target, NULL, MS_BIND | MS_REMOUNT | vfs_flags(target) | flags, NULL) < 0)
          die(errno, "remount bind %s: %s", target, strerror(errno));
      }
    } else if (!strcmp(kind, "mknod")) {
      unlink(target);
      parent_dir(target);
      mode_t mode = (mode_t)jnum(op, "mode", 0666);
      if (mknod(target, S_IFCHR | mode, makedev((int)jnum(op, "major", 0), (int)jnum(op, "minor", 0))) < 0)
        die(errno, "mknod %s: %s", target, strerror(errno));
      if (chmod(target, mode) < 0) die(errno, "chmod %s: %s", target, strerror(errno));
    } else if (!strcmp(kind, "symlink")) {
      unlink(target);
      if (symlink(jstr(op, "source"), target) < 0) die(errno, "symlink %s: %s", target, strerror(errno));
    } else if (!strcmp(kind, "mask")) {
      struct stat st;
      if (lstat(target, &st) < 0) continue; /* absent: nothing to hide */
      if (S_ISDIR(st.st_mode)) {
        if (mount("tmpfs", target, "tmpfs", MS_RDONLY, NULL) < 0) die(errno, "mask %s: %s", target, strerror(errno));
      } else {
        check_dev_null();
        if (mount("/dev/null", target, NULL, MS_BIND, NULL) < 0) die(errno, "mask %s: %s", target, strerror(errno));
      }
    } else if (!strcmp(kind, "readonly")) {
      struct stat st;
      if (lstat(target, &st) < 0) continue;
      if (mount(target, target, NULL, MS_BIND | MS_REC, NULL) < 0) die(errno, "bind %s: %s", target, strerror(errno));
      remount_ro(target, MS_REC);
    } else if (!strcmp(kind, "remount-ro")) {
      remount_ro(target, 0);
    } else {
      die(EINVAL, "unknown mount op '%s'", kind);
    }
  }
}

/* Open the pty inside the container's devpts, make it the controlling terminal and stdio. */
static void setup_tty(json *spec, int bind_console) {
  int master = open("/dev/pts/ptmx", O_RDWR | O_NOCTTY | O_CLOEXEC);
  if (master < 0) die(errno, "open /dev/pts/ptmx: %s", strerror(errno));
  int unlock = 0;
  if (ioctl(master, TIOCSPTLCK, &unlock) < 0) die(errno, "unlock pty: %s", strerror(errno));
  int slave = ioctl(master, TIOCGPTPEER, O_RDWR | O_NOCTTY);
  if (slave < 0) die(errno, "open pty peer: %s", strerror(errno));
  if (bind_console) {
    ensure_target("/dev/console", 1);
    char path[64];
    snprintf(path, sizeof path, "/proc/self/fd/%d", slave);
    if (mount(path, "/dev/console", NULL, MS_BIND, NULL) < 0) die(errno, "bind /dev/console: %s", strerror(errno));
  }
  if (ioctl(slave, TIOCSCTTY, 0) < 0) die(errno, "set controlling terminal: %s", strerror(errno));
  /* size the pty before the container runs: from the launcher's terminal (still our fd 0) when
     there is one, else the requested size; resizing later would race the container's first read */
  struct winsize ws = {0};
  json *size = jget(spec, "consoleSize");
  if (!(isatty(0) && ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) && size) {
    ws.ws_row = (unsigned short)jnum(size, "rows", 24);
    ws.ws_col = (unsigned short)jnum(size, "cols", 80);
  }
  if (ws.ws_row > 0) ioctl(master, TIOCSWINSZ, &ws);
  for (int fd = 0; fd < 3; fd++)
    if (dup2(slave, fd) < 0) die(errno, "dup2 pty: %s", strerror(errno));
  if (slave > 2) close(slave);
  /* hand the master to the supervisor: it proxies bytes and follows the window size */
  char byte = 'T';
  struct iovec iov = {&byte, 1};
  union {
    char buf[CMSG_SPACE(sizeof(int))];
    struct cmsghdr align;
  } u;
  struct msghdr msg = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
  struct cmsghdr *c = CMSG_FIRSTHDR(&msg);
  c->cmsg_level = SOL_SOCKET;
  c->cmsg_type = SCM_RIGHTS;
  c->cmsg_len = CMSG_LEN(sizeof(int));
  memcpy(CMSG_DATA(c), &master, sizeof(int));
  if (sendmsg(sync_fd, &msg, 0) < 0) die(errno, "send pty to the helper: %s", strerror(errno));
  close(master);
}

static void close_fds(unsigned first, unsigned last) {
  if (syscall(SYS_close_range, first, last, 0) == 0) return;
  for (unsigned fd = first; fd < 65536 && fd <= last; fd++) close((int)fd);
}

/*
 * The seccomp filter of the spec (the policy is built in TypeScript: numbers for this architecture).
 * Everything is allowed except: a foreign architecture (e.g. i386 through int 0x80) and x86-64's x32
 * numbers, refused with EPERM; numbers above `newest` (syscalls newer than the policy) and the
 * `unimplemented` ones, ENOSYS; the `denied` numbers, EPERM; clone
 * with any of `cloneFlags` in its first argument, EPERM. Installed while the helper still has all
 * capabilities (so it needs no no_new_privs), after the last syscall of the setup the filter refuses.
 */
static void install_seccomp(json *sc) {
  if (!sc || sc->type != J_OBJ) return;
  json *denied = jget(sc, "denied"), *enosys = jget(sc, "unimplemented");
  int nden = jlen(denied), nenosys = jlen(enosys);
  int clone_nr = (int)jnum(sc, "clone", -1);
  uint32_t x32 = (uint32_t)jnum(sc, "x32Bit", 0);
  uint32_t newest = (uint32_t)jnum(sc, "newest", 0);
  size_t cap = 10 + 2 * (size_t)(nden + nenosys) + 6;
  struct sock_filter *f = calloc(cap, sizeof *f);
  size_t n = 0;
#define EMIT(c, k, jt, jf) (f[n++] = (struct sock_filter)BPF_JUMP((c), (k), (jt), (jf)))
#define RET(v) (f[n++] = (struct sock_filter)BPF_STMT(BPF_RET | BPF_K, (v)))
  EMIT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, arch), 0, 0);
  EMIT(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)jnum(sc, "arch", 0), 1, 0);
  RET(SECCOMP_RET_ERRNO | EPERM);
  EMIT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, nr), 0, 0);
  if (x32) {
    EMIT(BPF_JMP | BPF_JGE | BPF_K, x32, 0, 1);
    RET(SECCOMP_RET_ERRNO | EPERM);
  }
  if (newest > 0) {
    EMIT(BPF_JMP | BPF_JGT | BPF_K, newest, 0, 1);
    RET(SECCOMP_RET_ERRNO | ENOSYS);
  }
  for (int i = 0; i < nenosys; i++) {
    EMIT(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)enosys->items[i]->num, 0, 1);
    RET(SECCOMP_RET_ERRNO | ENOSYS);
  }
  for (int i = 0; i < nden; i++) {
    EMIT(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)denied->items[i]->num, 0, 1);
    RET(SECCOMP_RET_ERRNO | EPERM);
  }
  if (clone_nr >= 0) {
    EMIT(BPF_JMP | BPF_JEQ | BPF_K, (uint32_t)clone_nr, 0, 3);
    /* the low 32 bits of the first argument (both architectures are little-endian) */
    EMIT(BPF_LD | BPF_W | BPF_ABS, offsetof(struct seccomp_data, args[0]), 0, 0);
    EMIT(BPF_JMP | BPF_JSET | BPF_K, (uint32_t)jnum(sc, "cloneFlags", 0), 0, 1);
    RET(SECCOMP_RET_ERRNO | EPERM);
  }
  RET(SECCOMP_RET_ALLOW);
#undef EMIT
#undef RET
  struct sock_fprog prog = {.len = (unsigned short)n, .filter = f};
  if (prctl(PR_SET_SECCOMP, SECCOMP_MODE_FILTER, &prog, 0, 0) < 0) die(errno, "seccomp: %s", strerror(errno));
  free(f);
}

static void exec_in_container(json *spec, sigset_t *oldmask, int new_container);

static void container_init(json *spec, int netns_fd, int *cgroup_fds, int ncgroups, sigset_t *oldmask) {
  /* join the cgroups before anything else, so every later allocation is accounted there */
  for (int i = 0; i < ncgroups; i++)
  {
    if (write(cgroup_fds[i], "0", 1) < 0) die(errno, "join cgroup %s: %s", jget(spec, "cgroupProcs")->items[i]->str, strerror(errno));
    close(cgroup_fds[i]);
  }
  if (netns_fd >= 0) {
    if (setns(netns_fd, CLONE_NEWNET) < 0) die(errno, "join network namespace %s: %s", jstr(spec, "netns"), strerror(errno));
    close(netns_fd);
  }
  int flags = CLONE_NEWNS | CLONE_NEWUTS | CLONE_NEWIPC | CLONE_NEWCGROUP | (netns_fd < 0 ? CLONE_NEWNET : 0);
  if (unshare(flags) < 0) die(errno, "unshare namespaces: %s", strerror(errno));
  if (setsid() < 0) die(errno, "setsid: %s", strerror(errno));
  umask(0);

  if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0) die(errno, "make mounts private: %s", strerror(errno));

  /* clone the host-side bind sources now: after pivot_root they are out of reach by path */
  int tree_fds[MAX_OPEN_TREES];
  for (int i = 0; i < MAX_OPEN_TREES; i++) tree_fds[i] = -1;
  json *binds = jget(spec, "bindSources");
  if (jlen(binds) > MAX_OPEN_TREES) die(E2BIG, "too many bind mounts (at most %d)", MAX_OPEN_TREES);
  for (int i = 0; i < jlen(binds); i++) {
    const char *src = jstr(binds->items[i], "path");
    if (!src) die(EINVAL, "bind source %d has no path", i);
    unsigned flags = OPEN_TREE_CLONE | OPEN_TREE_CLOEXEC | (jnum(binds->items[i], "recursive", 0) ? AT_RECURSIVE : 0);
    tree_fds[i] = (int)syscall(SYS_open_tree, AT_FDCWD, src, flags);
    if (tree_fds[i] < 0) die(errno, "open bind source %s: %s", src, strerror(errno));
  }

  const char *rootfs = jstr(spec, "rootfs");
  json *overlay = jget(spec, "rootfsOverlay");
  if (overlay && overlay->type == J_OBJ) {
    /* mounted here, in the private namespace: it goes away with the container, the host never sees it.
       Relative lowerdir/upperdir (the page-size fallback) start from cwd, as moby's mountFrom does. */
    const char *ocwd = jstr(overlay, "cwd");
    if (ocwd && chdir(ocwd) < 0) die(errno, "chdir %s: %s", ocwd, strerror(errno));
    if (mount("overlay", rootfs, "overlay", 0, jstr(overlay, "data")) < 0)
      die(errno, "mount the overlay on %s: %s", rootfs, strerror(errno));
  }
  if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0) die(errno, "bind rootfs %s: %s", rootfs, strerror(errno));
  if (chdir(rootfs) < 0) die(errno, "chdir %s: %s", rootfs, strerror(errno));
  if (syscall(SYS_pivot_root, ".", ".") < 0) die(errno, "pivot_root into %s: %s", rootfs, strerror(errno));
  if (umount2(".", MNT_DETACH) < 0) die(errno, "detach the old root: %s", strerror(errno));
  if (chdir("/") < 0) die(errno, "chdir /: %s", strerror(errno));

  do_mounts(jget(spec, "mounts"), tree_fds);

  const char *hostname = jstr(spec, "hostname");
  if (hostname && sethostname(hostname, strlen(hostname)) < 0) die(errno, "sethostname: %s", strerror(errno));

  exec_in_container(spec, oldmask, 1);
}

/*
 * docker exec: enter the namespaces of a running container's init (fds opened and checked by main)
 * and its cgroups, then the same credentials, filter and exec as a new container's init. Nothing is
 * mounted. Not dumpable until exec, so no process of the container can ptrace this one or open
 * /proc/<pid>/exe (the helper binary) while it still holds host privileges.
 */
enum { NS_IPC, NS_UTS, NS_NET, NS_CGROUP, NS_MNT, NS_PID, NS_COUNT };
static const char *const ns_names[NS_COUNT] = {"ipc", "uts", "net", "cgroup", "mnt", "pid"};
static const int ns_types[NS_COUNT] = {CLONE_NEWIPC, CLONE_NEWUTS, CLONE_NEWNET, CLONE_NEWCGROUP, CLONE_NEWNS, CLONE_NEWPID};

static void join_container(json *spec, int *ns_fds, int *cgroup_fds, int ncgroups, sigset_t *oldmask) {
  if (prctl(PR_SET_DUMPABLE, 0, 0, 0, 0) < 0) die(errno, "set not dumpable: %s", strerror(errno));
  for (int i = 0; i < ncgroups; i++) {
    if (write(cgroup_fds[i], "0", 1) < 0) die(errno, "join cgroup %s: %s", jget(spec, "cgroupProcs")->items[i]->str, strerror(errno));
    close(cgroup_fds[i]);
  }
  /* the mount namespace last: it also moves root and cwd into the container */
  for (int i = 0; i < NS_PID; i++) {
    if (setns(ns_fds[i], ns_types[i]) < 0) die(errno, "join the container's %s namespace: %s", ns_names[i], strerror(errno));
    close(ns_fds[i]);
  }
  if (setsid() < 0) die(errno, "setsid: %s", strerror(errno));
  exec_in_container(spec, oldmask, 0);
}

/* The part of the setup a new container and an exec share: terminal, limits, fds, cwd, filter,
   credentials, exec. `new_container`: bind the pty to /dev/console (only a container's own init). */
static void exec_in_container(json *spec, sigset_t *oldmask, int new_container) {
  if (jnum(spec, "tty", 0)) setup_tty(spec, new_container);

  json *rl = jget(spec, "rlimits");
  for (int i = 0; i < jlen(rl); i++) {
    json *r = rl->items[i];
    double soft = jnum(r, "soft", -1), hard = jnum(r, "hard", -1);
    struct rlimit lim = {soft < 0 ? RLIM_INFINITY : (rlim_t)soft, hard < 0 ? RLIM_INFINITY : (rlim_t)hard};
    if (setrlimit((int)jnum(r, "resource", -1), &lim) < 0) die(errno, "setrlimit %s: %s", jstr(r, "name"), strerror(errno));
  }

  /* no host fd may reach the container (CVE-2024-21626): close everything above stdio but the
     sync socket now, before chdir, and that one closes at exec */
  if (sync_fd > 3) close_fds(3, (unsigned)sync_fd - 1);
  close_fds((unsigned)sync_fd + 1, ~0U);

  const char *cwd = jstr(spec, "cwd");
  if (!cwd || cwd[0] != '/') die(EINVAL, "the working directory must be an absolute path");
  ensure_target(cwd, 0);
  if (chdir(cwd) < 0) die(errno, "chdir %s: %s", cwd, strerror(errno));
  /* CVE-2024-21626: a cwd reached through a leaked fd is outside our root; getcwd says so */
  char real[PATH_MAX];
  if (!getcwd(real, sizeof real) || real[0] != '/') die(EPERM, "working directory %s is not inside the container root", cwd);

  /* the filter refuses none of the calls left before exec (prctl, setgroups, setres[ug]id, capset) */
  install_seccomp(jget(spec, "seccomp"));
  json *caps = jget(spec, "capabilities");
  drop_bounding(caps);

  json *groups = jget(spec, "additionalGids");
  int ngroups = jlen(groups);
  gid_t *gids = calloc(ngroups + 1, sizeof(gid_t));
  for (int i = 0; i < ngroups; i++) gids[i] = (gid_t)groups->items[i]->num;
  if (setgroups(ngroups, gids) < 0) die(errno, "setgroups: %s", strerror(errno));
  gid_t gid = (gid_t)jnum(spec, "gid", 0);
  uid_t uid = (uid_t)jnum(spec, "uid", 0);
  if (setresgid(gid, gid, gid) < 0) die(errno, "setgid %u: %s", gid, strerror(errno));
  if (setresuid(uid, uid, uid) < 0) die(errno, "setuid %u: %s", uid, strerror(errno));
  set_caps(caps);
  if (jnum(spec, "noNewPrivileges", 0) && prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) < 0)
    die(errno, "set no_new_privs: %s", strerror(errno));
  /* set after the uid change, which would clear it; the container dies with its supervisor */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
  umask(022);

  char **argv = jstrv(jget(spec, "args"));
  char **envp = jstrv(jget(spec, "env"));
  if (!argv[0]) die(EINVAL, "no command to run");
  for (int s = 1; s < NSIG; s++) signal(s, SIG_DFL);
  sigprocmask(SIG_SETMASK, oldmask, NULL);

  if (strchr(argv[0], '/')) {
    execve(argv[0], argv, envp);
    die(errno, "exec %s: %s", argv[0], strerror(errno));
  }
  /* look the command up in the container's PATH, as execvp would with the container env */
  const char *path = jstr(spec, "path");
  int saved = ENOENT;
  char candidate[PATH_MAX];
  for (const char *p = path ? path : ""; ; p++) {
    const char *end = strchrnul(p, ':');
    int n = (int)(end - p);
    snprintf(candidate, sizeof candidate, "%.*s%s%s", n, p, n ? "/" : "", argv[0]);
    execve(candidate, argv, envp);
    if (errno == EACCES) saved = EACCES;
    else if (errno != ENOENT && errno != ENOTDIR) saved = errno;
    if (!*end) break;
    p = end;
  }
  die(saved, "exec %s: %s (looked in PATH=%s)", argv[0], strerror(saved), path ? path : "");
}

/* ---------------------------------------------------------------- the supervisor */

static void status_line(const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vdprintf(STATUS_FD, fmt, ap);
  va_end(ap);
}

/* 1: copied something, 0: nothing to read right now, -1: end of input or error */
static int copy_fd(int from, int to) {
  char buf[8192];
  ssize_t n = read(from, buf, sizeof buf);
  if (n < 0 && (errno == EAGAIN || errno == EINTR)) return 0;
  if (n <= 0) return -1;
  for (ssize_t off = 0; off < n;) {
    ssize_t w = write(to, buf + off, n - off);
    if (w < 0) {
      if (errno == EINTR) continue;
      return -1;
    }
    off += w;
  }
  return 1;
}

static void follow_winsize(int master, json *spec) {
  struct winsize ws = {0};
  if (isatty(0) && ioctl(0, TIOCGWINSZ, &ws) == 0 && ws.ws_row > 0) {
    ioctl(master, TIOCSWINSZ, &ws);
    return;
  }
  json *size = jget(spec, "consoleSize");
  if (size) {
    ws.ws_row = (unsigned short)jnum(size, "rows", 24);
    ws.ws_col = (unsigned short)jnum(size, "cols", 80);
    ioctl(master, TIOCSWINSZ, &ws);
  }
}

/*
 * The fd the container's init writes "0" to, to join a cgroup given by its cgroup.procs path. On a v1
 * hierarchy that is the sibling `tasks` file: writing "0" there moves only the writing thread, which
 * the kernel does without the global threadgroup lock whose write side waits for an RCU grace period
 * (4-16 ms per join measured on this project's VM, against 0.15 ms through `tasks`). The init is a
 * freshly forked single-threaded process, so moving its thread moves all of it, and everything it
 * starts later inherits the cgroup. v2 has no `tasks` (its cgroup.threads only works inside threaded
 * subtrees): there cgroup.procs is opened as given.
 */
static int open_cgroup_join(const char *procs) {
  const char *slash = strrchr(procs, '/');
  if (slash && !strcmp(slash + 1, "cgroup.procs")) {
    char tasks[PATH_MAX];
    if (snprintf(tasks, sizeof tasks, "%.*s/tasks", (int)(slash - procs), procs) < (int)sizeof tasks) {
      int fd = open(tasks, O_WRONLY | O_CLOEXEC);
      if (fd >= 0) return fd;
    }
  }
  return open(procs, O_WRONLY | O_CLOEXEC);
}

int main(void) {
  /* fds 0-4 are all the helper needs; anything else the launching process let children inherit
     (no CLOEXEC) would be held for the helper's whole life, idle pre-spawned time included */
  close_fds(STATUS_FD + 1, ~0U);
  /* read the whole spec from fd 3 */
  size_t cap = 65536, len = 0;
  char *buf = malloc(cap);
  for (;;) {
    if (len + 1 >= cap) buf = realloc(buf, cap *= 2);
    if (!buf) jfail("out of memory");
    ssize_t n = read(SPEC_FD, buf + len, cap - len - 1);
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) jfail("cannot read fd 3");
    if (n == 0) break;
    len += n;
  }
  buf[len] = 0;
  close(SPEC_FD);
  jp = buf;
  json *spec = jvalue();
  fcntl(STATUS_FD, F_SETFD, FD_CLOEXEC);
  /* if Node dies, take the container down with us instead of leaving it orphaned */
  prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);

  int netns_fd = -1;
  const char *netns = jstr(spec, "netns");
  if (netns && (netns_fd = open(netns, O_RDONLY | O_CLOEXEC)) < 0) {
    status_line("error %d cannot open network namespace %s: %s\n", errno, netns, strerror(errno));
    return 125;
  }
  /* exec into a running container: its init's namespaces, opened now and checked to belong to the
     process that was meant (same start time), so a pid reused meanwhile is never entered */
  int join_pid = (int)jnum(spec, "joinPid", 0);
  int ns_fds[NS_COUNT];
  if (join_pid > 0) {
    for (int i = 0; i < NS_COUNT; i++) {
      char path[64];
      snprintf(path, sizeof path, "/proc/%d/ns/%s", join_pid, ns_names[i]);
      if ((ns_fds[i] = open(path, O_RDONLY | O_CLOEXEC)) < 0) {
        status_line("error %d cannot open %s: %s\n", errno, path, strerror(errno));
        return 125;
      }
    }
    const char *want = jstr(spec, "joinStart");
    char stat_path[64], stat[2048];
    snprintf(stat_path, sizeof stat_path, "/proc/%d/stat", join_pid);
    int sfd0 = open(stat_path, O_RDONLY | O_CLOEXEC);
    ssize_t n = sfd0 < 0 ? -1 : read(sfd0, stat, sizeof stat - 1);
    if (sfd0 >= 0) close(sfd0);
    const char *start = NULL;
    if (n > 0) {
      stat[n] = 0;
      /* field 22 (starttime): the 20th after the ")" that ends the command name */
      char *p = strrchr(stat, ')');
      for (int field = 2; p && field < 22; field++) p = strchr(p + 1, ' ');
      if (p) start = p + 1;
    }
    if (!want || !start || strncmp(start, want, strlen(want)) != 0 || (start[strlen(want)] != ' ' && start[strlen(want)] != 0)) {
      status_line("error %d the container's process %d is gone\n", ESRCH, join_pid);
      return 125;
    }
  }
  json *cg = jget(spec, "cgroupProcs");
  int ncg = jlen(cg);
  int *cg_fds = calloc(ncg + 1, sizeof(int));
  for (int i = 0; i < ncg; i++) {
    if ((cg_fds[i] = open_cgroup_join(cg->items[i]->str)) < 0) {
      status_line("error %d cannot open %s: %s\n", errno, cg->items[i]->str, strerror(errno));
      return 125;
    }
  }

  int sp[2];
  if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) < 0) {
    status_line("error %d socketpair: %s\n", errno, strerror(errno));
    return 125;
  }
  sigset_t fwd, old;
  sigemptyset(&fwd);
  int forwarded[] = {SIGTERM, SIGINT, SIGHUP, SIGQUIT, SIGUSR1, SIGUSR2, SIGWINCH, SIGCHLD};
  for (size_t i = 0; i < sizeof forwarded / sizeof *forwarded; i++) sigaddset(&fwd, forwarded[i]);
  sigprocmask(SIG_BLOCK, &fwd, &old);
  int sfd = signalfd(-1, &fwd, SFD_CLOEXEC);

  /* a closed stdout must not kill the supervisor (and, through pdeathsig, the container) */
  signal(SIGPIPE, SIG_IGN);
  if (join_pid > 0) {
    /* the container's pid namespace, for the child forked next (this process stays outside) */
    if (setns(ns_fds[NS_PID], CLONE_NEWPID) < 0) {
      status_line("error %d join the container's pid namespace: %s\n", errno, strerror(errno));
      return 125;
    }
    close(ns_fds[NS_PID]);
  } else if (unshare(CLONE_NEWPID) < 0) {
    status_line("error %d unshare pid namespace: %s\n", errno, strerror(errno));
    return 125;
  }
  pid_t child = fork();
  if (child < 0) {
    status_line("error %d fork: %s\n", errno, strerror(errno));
    return 125;
  }
  if (child == 0) {
    close(sp[0]);
    sync_fd = sp[1];
    close(STATUS_FD);
    if (join_pid > 0) join_container(spec, ns_fds, cg_fds, ncg, &old);
    else container_init(spec, netns_fd, cg_fds, ncg, &old);
    _exit(125);
  }
  close(sp[1]);
  if (join_pid > 0)
    for (int i = 0; i < NS_PID; i++) close(ns_fds[i]);
  if (netns_fd >= 0) close(netns_fd);
  for (int i = 0; i < ncg; i++) close(cg_fds[i]);

  /* wait for exec (the socket closes on exec) or a setup error; collect the pty master */
  int master = -1;
  for (;;) {
    char msg[1100];
    struct iovec iov = {msg, sizeof msg - 1};
    union {
      char buf[CMSG_SPACE(sizeof(int))];
      struct cmsghdr align;
    } u;
    struct msghdr mh = {.msg_iov = &iov, .msg_iovlen = 1, .msg_control = u.buf, .msg_controllen = sizeof u.buf};
    ssize_t n = recvmsg(sp[0], &mh, MSG_CMSG_CLOEXEC);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) break;
    msg[n] = 0;
    struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
    if (msg[0] == 'T' && c && c->cmsg_type == SCM_RIGHTS) {
      memcpy(&master, CMSG_DATA(c), sizeof(int));
      continue;
    }
    if (msg[0] == 'E') {
      int err = atoi(msg + 1);
      char *text = strchr(msg, ' ');
      waitpid(child, NULL, 0);
      status_line("error %d %s\n", err, text ? text + 1 : "setup failed");
      return err == ENOENT ? 127 : err == EACCES ? 126 : 125;
    }
  }
  close(sp[0]);
  status_line("pid %d\n", (int)child);

  int interactive = (int)jnum(spec, "interactive", 0);
  if (master >= 0) fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
  int stdin_open = master >= 0 && interactive;
  int master_open = master >= 0;
  int status = 0;
  for (;;) {
    struct pollfd p[3] = {{sfd, POLLIN, 0}, {master_open ? master : -1, POLLIN, 0}, {stdin_open ? 0 : -1, POLLIN, 0}};
    if (poll(p, 3, -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    if (p[1].revents & (POLLIN | POLLHUP | POLLERR)) {
      /* EIO once every slave fd is closed: stop polling the master until the child is reaped */
      if (copy_fd(master, 1) < 0) master_open = 0;
    }
    if (p[2].revents & (POLLIN | POLLHUP | POLLERR)) {
      if (copy_fd(0, master) < 0) stdin_open = 0;
    }
    if (p[0].revents & POLLIN) {
      struct signalfd_siginfo si;
      if (read(sfd, &si, sizeof si) != sizeof si) continue;
      if ((int)si.ssi_signo == SIGCHLD) {
        pid_t r = waitpid(child, &status, WNOHANG);
        if (r == child) break;
      } else if ((int)si.ssi_signo == SIGWINCH && master >= 0) {
        follow_winsize(master, spec);
      } else {
        kill(child, (int)si.ssi_signo);
      }
    }
  }
  if (master >= 0) {
    /* drain what the container wrote before it ended: the pty hands bytes over asynchronously, so
       read until EIO (every slave closed, buffer empty), not just until EAGAIN; the timeout only
       guards against a slave fd that somehow outlived the container */
    for (;;) {
      struct pollfd pm = {master, POLLIN, 0};
      if (poll(&pm, 1, 2000) <= 0) break;
      if (copy_fd(master, 1) < 0) break;
    }
  }
  int code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  int sig = WIFSIGNALED(status) ? WTERMSIG(status) : 0;
  status_line("exit %d %d\n", code, sig);
  return code;
}
