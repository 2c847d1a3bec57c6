/*
 * The practical limit, for measurement only: a minimal one-room chat broker in C, one thread,
 * level-triggered epoll, no limits, no rooms, no ids, no history, no slow-consumer rules. It
 * speaks just enough of protocol version 1 for `chatmesh bench --server`: a hello gets a
 * welcome and the roster, the others get user_joined; a chat goes to everybody, its sender too;
 * a client that goes away is announced with user_left.
 *
 * Each chat is formatted once and appended to every recipient's output buffer; the buffers are
 * written after the whole batch of ready sockets is handled (what Redis does before it sleeps),
 * so a recipient gets everything the batch made for it in one write.
 *
 *   cc -O2 -o epoll-broker epoll-broker.c
 *   ./epoll-broker 127.0.0.1:0      (prints "listening on 127.0.0.1:PORT")
 *
 * scripts/bench-reference builds it and runs it beside `chatmesh broker` (BENCHMARKS.md,
 * "The practical limit on this box").
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <unistd.h>

#define MAX_LINE (64 * 1024)
#define MAX_EVENTS 512

typedef struct client {
    int fd;
    int joined;
    int pending;    /* in the pending list */
    int want_out;   /* EPOLLOUT registered */
    int slot;       /* in `members` while joined */
    char nick[64];
    char *in;
    size_t in_len;
    char *out;
    size_t out_len, out_off, out_cap;
    struct client *next_pending;
} client;

static client **clients;    /* by fd */
static int max_fd = 65536;
static int epfd;
static client *pending_head;
static client **members;    /* the joined clients, densely */
static int member_count;

static void die(const char *what) { perror(what); exit(1); }

static void append(client *c, const char *data, size_t len) {
    if (c->out_len + len > c->out_cap) {
        size_t cap = c->out_cap ? c->out_cap : 4096;
        while (cap < c->out_len + len) cap *= 2;
        c->out = realloc(c->out, cap);
        if (!c->out) die("realloc");
        c->out_cap = cap;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    if (!c->pending) {
        c->pending = 1;
        c->next_pending = pending_head;
        pending_head = c;
    }
}

static void broadcast(const char *frame, size_t len, client *except) {
    for (int i = 0; i < member_count; i++) {
        if (members[i] != except) append(members[i], frame, len);
    }
}

static void leave(client *c) {
    client *last = members[--member_count];
    members[c->slot] = last;
    last->slot = c->slot;
    c->joined = 0;
}

static void drop(client *c) {
    int was_joined = c->joined;
    char frame[160];
    epoll_ctl(epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    clients[c->fd] = NULL;
    if (was_joined) leave(c);
    c->fd = -1;    /* freed when it leaves the pending list */
    if (was_joined) {
        int n = snprintf(frame, sizeof frame, "{\"type\":\"user_left\",\"nickname\":\"%s\"}\n", c->nick);
        broadcast(frame, (size_t)n, NULL);
    }
    free(c->in);
    c->in = NULL;
    if (!c->pending) { free(c->out); free(c); }
}

/* The raw (still escaped) JSON string value after `"key":"`, or NULL. */
static const char *field(const char *line, size_t len, const char *key, size_t *value_len) {
    const char *p = memmem(line, len, key, strlen(key));
    if (!p) return NULL;
    p += strlen(key);
    const char *end = line + len;
    const char *q = p;
    while (q < end && *q != '"') q += (*q == '\\') ? 2 : 1;
    if (q >= end) return NULL;
    *value_len = (size_t)(q - p);
    return p;
}

static void handle_line(client *c, const char *line, size_t len) {
    size_t n;
    const char *v;
    if (!c->joined) {
        if (!memmem(line, len, "\"hello\"", 7) || !(v = field(line, len, "\"nickname\":\"", &n)) || n == 0 || n >= sizeof c->nick) {
            static const char bad[] = "{\"type\":\"error\",\"message\":\"expected hello\"}\n";
            append(c, bad, sizeof bad - 1);
            return;
        }
        memcpy(c->nick, v, n);
        c->nick[n] = 0;
        char head[160];
        int h = snprintf(head, sizeof head, "{\"type\":\"welcome\",\"nickname\":\"%s\"}\n{\"type\":\"roster\",\"participants\":[", c->nick);
        append(c, head, (size_t)h);
        for (int i = 0; i < member_count; i++) {
            if (i > 0) append(c, ",", 1);
            append(c, "\"", 1);
            append(c, members[i]->nick, strlen(members[i]->nick));
            append(c, "\"", 1);
        }
        append(c, "]}\n", 3);
        int j = snprintf(head, sizeof head, "{\"type\":\"user_joined\",\"nickname\":\"%s\"}\n", c->nick);
        broadcast(head, (size_t)j, c);
        c->joined = 1;
        c->slot = member_count;
        members[member_count++] = c;
        return;
    }
    if (memmem(line, len, "\"chat\"", 6) && (v = field(line, len, "\"text\":\"", &n))) {
        static char frame[MAX_LINE + 256];
        size_t nick = strlen(c->nick);
        size_t f = 0;
        memcpy(frame + f, "{\"type\":\"chat\",\"nickname\":\"", 27); f += 27;
        memcpy(frame + f, c->nick, nick); f += nick;
        memcpy(frame + f, "\",\"text\":\"", 10); f += 10;
        memcpy(frame + f, v, n); f += n;
        memcpy(frame + f, "\"}\n", 3); f += 3;
        broadcast(frame, f, NULL);
    }
}

static void handle_input(client *c) {
    for (;;) {
        if (c->in_len == MAX_LINE) { drop(c); return; }
        ssize_t r = read(c->fd, c->in + c->in_len, MAX_LINE - c->in_len);
        if (r == 0) { drop(c); return; }
        if (r < 0) {
            if (errno == EAGAIN || errno == EWOULDBLOCK) return;
            if (errno == EINTR) continue;
            drop(c);
            return;
        }
        c->in_len += (size_t)r;
        size_t start = 0;
        for (;;) {
            char *nl = memchr(c->in + start, '\n', c->in_len - start);
            if (!nl) break;
            size_t len = (size_t)(nl - (c->in + start));
            handle_line(c, c->in + start, len);
            start += len + 1;
        }
        memmove(c->in, c->in + start, c->in_len - start);
        c->in_len -= start;
        if ((size_t)r < 16 * 1024) return;    /* drained for now; level-triggered epoll says if not */
    }
}

/* Writes what is buffered; true when all of it went. */
static int flush(client *c) {
    while (c->out_off < c->out_len) {
        ssize_t w = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (w < 0) {
            if (errno == EINTR) continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) return 0;
            return -1;
        }
        c->out_off += (size_t)w;
    }
    c->out_off = c->out_len = 0;
    return 1;
}

static void set_out(client *c, int want) {
    if (c->want_out == want) return;
    struct epoll_event ev = { .events = EPOLLIN | (want ? EPOLLOUT : 0), .data.fd = c->fd };
    epoll_ctl(epfd, EPOLL_CTL_MOD, c->fd, &ev);
    c->want_out = want;
}

static void flush_pending(void) {
    while (pending_head) {
        client *c = pending_head;
        pending_head = c->next_pending;
        c->pending = 0;
        if (c->fd < 0) { free(c->out); free(c); continue; }
        int done = flush(c);
        if (done < 0) { drop(c); continue; }
        set_out(c, !done);
    }
}

int main(int argc, char **argv) {
    const char *listen_at = argc > 1 ? argv[argc - 1] : "127.0.0.1:0";
    char host[64];
    const char *colon = strrchr(listen_at, ':');
    if (!colon || (size_t)(colon - listen_at) >= sizeof host) { fprintf(stderr, "usage: %s HOST:PORT\n", argv[0]); return 2; }
    memcpy(host, listen_at, (size_t)(colon - listen_at));
    host[colon - listen_at] = 0;
    signal(SIGPIPE, SIG_IGN);
    clients = calloc((size_t)max_fd, sizeof *clients);
    members = calloc((size_t)max_fd, sizeof *members);

    int lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
    int one = 1;
    setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in addr = { .sin_family = AF_INET, .sin_port = htons((uint16_t)atoi(colon + 1)) };
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) { fprintf(stderr, "bad address %s\n", host); return 2; }
    if (bind(lfd, (struct sockaddr *)&addr, sizeof addr) < 0) die("bind");
    if (listen(lfd, 4096) < 0) die("listen");
    socklen_t alen = sizeof addr;
    getsockname(lfd, (struct sockaddr *)&addr, &alen);
    printf("listening on %s:%d\n", host, ntohs(addr.sin_port));
    fflush(stdout);

    epfd = epoll_create1(0);
    struct epoll_event ev = { .events = EPOLLIN, .data.fd = lfd };
    epoll_ctl(epfd, EPOLL_CTL_ADD, lfd, &ev);
    struct epoll_event events[MAX_EVENTS];
    for (;;) {
        int n = epoll_wait(epfd, events, MAX_EVENTS, -1);
        if (n < 0) { if (errno == EINTR) continue; die("epoll_wait"); }
        for (int i = 0; i < n; i++) {
            int fd = events[i].data.fd;
            if (fd == lfd) {
                int cfd;
                while ((cfd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK)) >= 0) {
                    if (cfd >= max_fd) { close(cfd); continue; }
                    setsockopt(cfd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
                    client *c = calloc(1, sizeof *c);
                    c->fd = cfd;
                    c->in = malloc(MAX_LINE);
                    clients[cfd] = c;
                    struct epoll_event cev = { .events = EPOLLIN, .data.fd = cfd };
                    epoll_ctl(epfd, EPOLL_CTL_ADD, cfd, &cev);
                }
                continue;
            }
            client *c = clients[fd];
            if (!c) continue;
            if (events[i].events & EPOLLOUT) {
                int done = flush(c);
                if (done < 0) { drop(c); continue; }
                set_out(c, !done);
            }
            if (events[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) handle_input(c);
        }
        flush_pending();
    }
}
