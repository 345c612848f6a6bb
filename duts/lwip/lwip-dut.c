/*
 * lwip-dut: lwIP (Debian's liblwip, 2.1.3) as a device under test for
 * tcp-harness, speaking the DUT protocol (docs/adding-a-stack.md, version 1).
 *
 * - The wire: descriptor 3, one end of a SOCK_SEQPACKET socket pair; one IP
 *   datagram per message. An lwIP netif without a link layer reads it (a
 *   thread hands each datagram to the tcpip thread) and writes to it.
 * - The calls: one JSON object per line on stdin, one answer per line on
 *   stdout, made with lwIP's socket API on non-blocking sockets (the
 *   harness makes blocking sockets of them). Errors are errno names.
 * - Connection states come from the TCP PCBs, read under lwIP's core lock.
 *
 * Debian builds lwIP with NO_SYS=0 (a tcpip thread, real time) and its own
 * lwipopts.h (GNU Hurd's): TCP_WND 65535 with window scaling, TCP_MSS 1460,
 * keep-alive, SO_RCVBUF, SO_LINGER, SO_REUSEADDR.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <lwip/init.h>
#include <lwip/netif.h>
#include <lwip/pbuf.h>
#include <lwip/ip.h>
#include <lwip/ip_addr.h>
#include <lwip/tcpip.h>
#include <lwip/sockets.h>
#include <lwip/tcp.h>
#include <lwip/api.h>
#include <lwip/priv/sockets_priv.h>
#include <lwip/priv/tcp_priv.h>

#define LINK_FD 3
#define PROTOCOL_VERSION 1

static struct netif link_netif;

/* Datagrams taken in from the wire so far: a request names how many the
 * harness had sent before it ("sent"), and is answered once all of those
 * have gone through the stack. */
static unsigned long long taken;
static pthread_mutex_t taken_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t taken_more = PTHREAD_COND_INITIALIZER;

static void wait_taken(unsigned long long sent) {
    pthread_mutex_lock(&taken_lock);
    while (taken < sent) pthread_cond_wait(&taken_more, &taken_lock);
    pthread_mutex_unlock(&taken_lock);
}

/* ------------------------------------------------------------ the wire */

static err_t link_send(struct pbuf *p) {
    unsigned char buf[65536];
    pbuf_copy_partial(p, buf, p->tot_len, 0);
    if (send(LINK_FD, buf, p->tot_len, 0) < 0) return ERR_IF;
    return ERR_OK;
}

static err_t link_output4(struct netif *n, struct pbuf *p, const ip4_addr_t *to) {
    (void)n; (void)to;
    return link_send(p);
}

static err_t link_output6(struct netif *n, struct pbuf *p, const ip6_addr_t *to) {
    (void)n; (void)to;
    return link_send(p);
}

static err_t link_init(struct netif *n) {
    n->name[0] = 'h';
    n->name[1] = 'w';
    n->mtu = 1500;
    n->output = link_output4;
    n->output_ip6 = link_output6;
    n->flags = NETIF_FLAG_LINK_UP;
    return ERR_OK;
}

/* Datagrams from the harness, through the stack at once (under the core
 * lock, as the tcpip thread would), then counted. */
static void *link_reader(void *arg) {
    (void)arg;
    unsigned char buf[65536];
    for (;;) {
        ssize_t n = recv(LINK_FD, buf, sizeof buf, 0);
        if (n < 0) {
            if (errno == EINTR) continue;
            break;
        }
        if (n == 0) break; /* the harness closed its end */
        struct pbuf *p = pbuf_alloc(PBUF_RAW, (u16_t)n, PBUF_RAM);
        if (p) {
            pbuf_take(p, buf, (u16_t)n);
            LOCK_TCPIP_CORE();
            if (ip_input(p, &link_netif) != ERR_OK) pbuf_free(p);
            UNLOCK_TCPIP_CORE();
        }
        pthread_mutex_lock(&taken_lock);
        taken++;
        pthread_cond_broadcast(&taken_more);
        pthread_mutex_unlock(&taken_lock);
    }
    return NULL;
}

/* ------------------------------------------------- a little JSON, flat */

/* The value of "key" in a flat JSON object: a pointer just past `"key":`
 * and any blanks, or NULL. */
static const char *field(const char *obj, const char *key) {
    char pat[64];
    snprintf(pat, sizeof pat, "\"%s\"", key);
    const char *p = obj;
    while ((p = strstr(p, pat)) != NULL) {
        p += strlen(pat);
        while (*p == ' ') p++;
        if (*p == ':') {
            p++;
            while (*p == ' ') p++;
            return p;
        }
    }
    return NULL;
}

static long long num(const char *obj, const char *key, long long dflt) {
    const char *p = field(obj, key);
    if (!p) return dflt;
    if (!strncmp(p, "true", 4)) return 1;
    if (!strncmp(p, "false", 5)) return 0;
    return strtoll(p, NULL, 10);
}

/* A string value (no escapes are used by the harness in these fields). */
static char *str(const char *obj, const char *key) {
    const char *p = field(obj, key);
    if (!p || *p != '"') return NULL;
    p++;
    const char *e = strchr(p, '"');
    if (!e) return NULL;
    return strndup(p, (size_t)(e - p));
}

/* ------------------------------------------------------------ answers */

static void reply(long long id, const char *fmt, ...) {
    printf("{\"id\": %lld", id);
    if (fmt && *fmt) {
        va_list ap;
        va_start(ap, fmt);
        printf(", ");
        vprintf(fmt, ap);
        va_end(ap);
    }
    printf("}\n");
    fflush(stdout);
}

static void fail(long long id, int e) {
    const char *name = strerrorname_np(e);
    if (!name) name = "EINVAL";
    if (e == EWOULDBLOCK) name = "EAGAIN";
    reply(id, "\"errno\": \"%s\"", name);
}

static const char *state_name(enum tcp_state s) {
    switch (s) {
    case CLOSED: return "CLOSED";
    case LISTEN: return "LISTEN";
    case SYN_SENT: return "SYN-SENT";
    case SYN_RCVD: return "SYN-RECEIVED";
    case ESTABLISHED: return "ESTABLISHED";
    case FIN_WAIT_1: return "FIN-WAIT-1";
    case FIN_WAIT_2: return "FIN-WAIT-2";
    case CLOSE_WAIT: return "CLOSE-WAIT";
    case CLOSING: return "CLOSING";
    case LAST_ACK: return "LAST-ACK";
    case TIME_WAIT: return "TIME-WAIT";
    }
    return "CLOSED";
}

/* ------------------------------------------------------------ addresses */

static int sockaddr_of(const char *ip, int port, struct sockaddr_storage *ss, socklen_t *len) {
    memset(ss, 0, sizeof *ss);
    struct sockaddr_in *a4 = (struct sockaddr_in *)ss;
    struct sockaddr_in6 *a6 = (struct sockaddr_in6 *)ss;
    if (inet_pton(AF_INET, ip, &a4->sin_addr) == 1) {
        a4->sin_family = AF_INET;
        a4->sin_port = htons((uint16_t)port);
        *len = sizeof *a4;
        return 0;
    }
    if (inet_pton(AF_INET6, ip, &a6->sin6_addr) == 1) {
        a6->sin6_family = AF_INET6;
        a6->sin6_port = htons((uint16_t)port);
        *len = sizeof *a6;
        return 0;
    }
    return -1;
}

/* "ip:port" or "[ip6]:port" into an lwIP address and a port. */
static int endpoint(const char *s, ip_addr_t *ip, u16_t *port) {
    char buf[80];
    snprintf(buf, sizeof buf, "%s", s);
    char *colon = strrchr(buf, ':');
    if (!colon) return -1;
    *colon = 0;
    *port = (u16_t)atoi(colon + 1);
    char *h = buf;
    if (*h == '[') {
        h++;
        char *e = strchr(h, ']');
        if (e) *e = 0;
    }
    return ipaddr_aton(h, ip) ? 0 : -1;
}

static const char *pcb_state(struct tcp_pcb *list, const ip_addr_t *lip, u16_t lport, const ip_addr_t *rip,
                             u16_t rport) {
    for (struct tcp_pcb *p = list; p; p = p->next) {
        if (p->local_port == lport && p->remote_port == rport && ip_addr_cmp(&p->local_ip, lip) &&
            ip_addr_cmp(&p->remote_ip, rip))
            return state_name(p->state);
    }
    return NULL;
}

/* ------------------------------------------------------------ calls */

static void tcpip_ready(void *arg) {
    sys_sem_signal((sys_sem_t *)arg);
}

static void setup(long long id, const char *req) {
    char *addr = str(req, "address");
    int prefix = (int)num(req, "prefix", 24);
    if (!addr) {
        fail(id, EINVAL);
        return;
    }
    sys_sem_t ready;
    sys_sem_new(&ready, 0);
    tcpip_init(tcpip_ready, &ready);
    sys_sem_wait(&ready);
    ip_addr_t ip;
    if (!ipaddr_aton(addr, &ip)) {
        free(addr);
        fail(id, EINVAL);
        return;
    }
    LOCK_TCPIP_CORE();
    if (IP_IS_V4(&ip)) {
        ip4_addr_t mask, gw;
        ip4_addr_set_u32(&mask, lwip_htonl(prefix ? 0xffffffffu << (32 - prefix) : 0));
        ip4_addr_set_u32(&gw, ip4_addr_get_u32(ip_2_ip4(&ip)));
        netif_add(&link_netif, ip_2_ip4(&ip), &mask, &gw, NULL, link_init, tcpip_input);
    } else {
        netif_add(&link_netif, NULL, NULL, NULL, NULL, link_init, tcpip_input);
        s8_t idx = 0;
        netif_add_ip6_address(&link_netif, ip_2_ip6(&ip), &idx);
        netif_ip6_addr_set_state(&link_netif, idx, IP6_ADDR_VALID);
    }
    /* No link layer: every datagram goes out over the wire as it is. */
    netif_set_default(&link_netif);
    netif_set_up(&link_netif);
    netif_set_link_up(&link_netif);
    UNLOCK_TCPIP_CORE();
    pthread_t t;
    pthread_create(&t, NULL, link_reader, NULL);
    pthread_detach(t);
    free(addr);
    reply(id, "\"ok\": true");
}

static int nonblocking(int fd) {
    int fl = lwip_fcntl(fd, F_GETFL, 0);
    return lwip_fcntl(fd, F_SETFL, fl | O_NONBLOCK);
}

static void call_socket(long long id, const char *req) {
    int fd = lwip_socket(num(req, "ipv6", 0) ? AF_INET6 : AF_INET, SOCK_STREAM, 0);
    if (fd < 0) return fail(id, errno);
    nonblocking(fd);
    reply(id, "\"fd\": %d", fd);
}

static void call_bind_connect(long long id, const char *req, int connect) {
    int fd = (int)num(req, "fd", -1);
    char *ip = str(req, "addr");
    struct sockaddr_storage ss;
    socklen_t len;
    if (!ip || sockaddr_of(ip, (int)num(req, "port", 0), &ss, &len) < 0) {
        free(ip);
        return fail(id, EINVAL);
    }
    free(ip);
    int r = connect ? lwip_connect(fd, (struct sockaddr *)&ss, len) : lwip_bind(fd, (struct sockaddr *)&ss, len);
    if (r < 0) return fail(id, errno);
    reply(id, "\"ok\": true");
}

static void call_accept(long long id, const char *req) {
    int fd = lwip_accept((int)num(req, "fd", -1), NULL, NULL);
    if (fd < 0) return fail(id, errno);
    nonblocking(fd);
    reply(id, "\"fd\": %d", fd);
}

static int unhex(const char *h, unsigned char *out, size_t max) {
    size_t n = 0;
    while (h[0] && h[1] && h[0] != '"' && n < max) {
        unsigned v;
        if (sscanf(h, "%2x", &v) != 1) return -1;
        out[n++] = (unsigned char)v;
        h += 2;
    }
    return (int)n;
}

static void call_send(long long id, const char *req) {
    const char *d = field(req, "data");
    if (!d || *d != '"') return fail(id, EINVAL);
    size_t cap = strlen(d) / 2 + 1;
    unsigned char *buf = malloc(cap);
    int n = unhex(d + 1, buf, cap);
    if (n < 0) {
        free(buf);
        return fail(id, EINVAL);
    }
    ssize_t r = lwip_send((int)num(req, "fd", -1), buf, (size_t)n, MSG_DONTWAIT);
    free(buf);
    if (r < 0) return fail(id, errno);
    reply(id, "\"n\": %zd", r);
}

static void call_recv(long long id, const char *req) {
    long long len = num(req, "len", 0);
    if (len < 0 || len > (1 << 24)) return fail(id, EINVAL);
    unsigned char *buf = malloc((size_t)len + 1);
    int flags = MSG_DONTWAIT | (num(req, "peek", 0) ? MSG_PEEK : 0);
    ssize_t r = lwip_recv((int)num(req, "fd", -1), buf, (size_t)len, flags);
    if (r < 0) {
        free(buf);
        return fail(id, errno);
    }
    printf("{\"id\": %lld, \"data\": \"", id);
    for (ssize_t i = 0; i < r; i++) printf("%02x", buf[i]);
    printf("\"}\n");
    fflush(stdout);
    free(buf);
}

static void call_shutdown(long long id, const char *req) {
    char *how = str(req, "how");
    int h = !how ? -1 : !strcmp(how, "SHUT_RD") ? SHUT_RD : !strcmp(how, "SHUT_WR") ? SHUT_WR : SHUT_RDWR;
    free(how);
    if (lwip_shutdown((int)num(req, "fd", -1), h) < 0) return fail(id, errno);
    reply(id, "\"ok\": true");
}

static void call_close(long long id, const char *req) {
    if (lwip_close((int)num(req, "fd", -1)) < 0) return fail(id, errno);
    reply(id, "\"ok\": true");
}

/* Option names to lwIP's level and number (lwIP's own numbers for the
 * TCP ones: TCP_KEEPIDLE is 3 here, 4 on Linux). */
static int opt_of(const char *name, int *level, int *opt) {
    static const struct { const char *n; int level, opt; } t[] = {
        {"TCP_NODELAY", IPPROTO_TCP, TCP_NODELAY},   {"TCP_KEEPIDLE", IPPROTO_TCP, TCP_KEEPIDLE},
        {"TCP_KEEPINTVL", IPPROTO_TCP, TCP_KEEPINTVL}, {"TCP_KEEPCNT", IPPROTO_TCP, TCP_KEEPCNT},
        {"SO_KEEPALIVE", SOL_SOCKET, SO_KEEPALIVE},  {"SO_RCVBUF", SOL_SOCKET, SO_RCVBUF},
        {"SO_REUSEADDR", SOL_SOCKET, SO_REUSEADDR},  {"SO_LINGER", SOL_SOCKET, SO_LINGER},
        {"SO_ERROR", SOL_SOCKET, SO_ERROR},
    };
    for (size_t i = 0; i < sizeof t / sizeof t[0]; i++)
        if (!strcmp(t[i].n, name)) {
            *level = t[i].level;
            *opt = t[i].opt;
            return 0;
        }
    return -1;
}

static void call_sockopt(long long id, const char *req, int set) {
    int fd = (int)num(req, "fd", -1), level, opt;
    char *name = str(req, "opt");
    if (!name || opt_of(name, &level, &opt) < 0) {
        free(name);
        return fail(id, ENOPROTOOPT);
    }
    int linger = !strcmp(name, "SO_LINGER");
    free(name);
    if (set) {
        long long v = num(req, "value", 0);
        int r;
        if (linger) {
            struct linger l = {.l_onoff = v >= 0, .l_linger = v >= 0 ? (int)v : 0};
            r = lwip_setsockopt(fd, level, opt, &l, sizeof l);
        } else {
            int iv = (int)v;
            r = lwip_setsockopt(fd, level, opt, &iv, sizeof iv);
        }
        if (r < 0) return fail(id, errno);
        return reply(id, "\"ok\": true");
    }
    if (linger) {
        struct linger l;
        socklen_t len = sizeof l;
        if (lwip_getsockopt(fd, level, opt, &l, &len) < 0) return fail(id, errno);
        return reply(id, "\"value\": %d", l.l_onoff ? l.l_linger : -1);
    }
    int v = 0;
    socklen_t len = sizeof v;
    if (lwip_getsockopt(fd, level, opt, &v, &len) < 0) return fail(id, errno);
    if (opt == SO_ERROR && level == SOL_SOCKET && v) {
        const char *n = strerrorname_np(v);
        return reply(id, "\"value\": \"%s\"", n ? n : "EIO");
    }
    reply(id, "\"value\": %d", v);
}

static void call_poll(long long id, const char *req) {
    struct pollfd p = {.fd = (int)num(req, "fd", -1), .events = POLLIN | POLLOUT | POLLPRI | POLLRDHUP};
    int r = lwip_poll(&p, 1, 0);
    if (r < 0) return fail(id, errno);
    if (p.revents & POLLNVAL) return fail(id, EBADF);
    printf("{\"id\": %lld, \"events\": [", id);
    static const struct { short bit; const char *n; } names[] = {
        {POLLIN, "POLLIN"}, {POLLOUT, "POLLOUT"}, {POLLPRI, "POLLPRI"},
        {POLLERR, "POLLERR"}, {POLLHUP, "POLLHUP"}, {POLLRDHUP, "POLLRDHUP"},
    };
    int first = 1;
    for (size_t i = 0; i < sizeof names / sizeof names[0]; i++)
        if (p.revents & names[i].bit) {
            printf("%s\"%s\"", first ? "" : ", ", names[i].n);
            first = 0;
        }
    printf("]}\n");
    fflush(stdout);
}

static void call_state(long long id, const char *req) {
    struct lwip_sock *s = lwip_socket_dbg_get_socket((int)num(req, "fd", -1));
    if (!s || !s->conn) return fail(id, EBADF);
    LOCK_TCPIP_CORE();
    const char *st = s->conn->pcb.tcp ? state_name(s->conn->pcb.tcp->state) : "CLOSED";
    UNLOCK_TCPIP_CORE();
    reply(id, "\"state\": \"%s\"", st);
}

static void call_conn_state(long long id, const char *req) {
    char *l = str(req, "local"), *r = str(req, "remote");
    ip_addr_t lip, rip;
    u16_t lport, rport;
    if (!l || !r || endpoint(l, &lip, &lport) < 0 || endpoint(r, &rip, &rport) < 0) {
        free(l);
        free(r);
        return fail(id, EINVAL);
    }
    free(l);
    free(r);
    LOCK_TCPIP_CORE();
    const char *st = pcb_state(tcp_active_pcbs, &lip, lport, &rip, rport);
    if (!st) st = pcb_state(tcp_tw_pcbs, &lip, lport, &rip, rport);
    UNLOCK_TCPIP_CORE();
    if (st)
        reply(id, "\"state\": \"%s\"", st);
    else
        reply(id, "\"state\": null");
}

int main(void) {
    printf("{\"dut\": \"tcp-harness\", \"version\": %d, \"stack\": \"lwIP %s\"}\n", PROTOCOL_VERSION,
           LWIP_VERSION_STRING);
    fflush(stdout);
    char *line = NULL;
    size_t cap = 0;
    while (getline(&line, &cap, stdin) > 0) {
        long long id = num(line, "id", 0);
        char *op = str(line, "op");
        if (!op) {
            fprintf(stderr, "lwip-dut: a request without an op: %s", line);
            reply(id, "\"errno\": \"EINVAL\"");
            continue;
        }
        if (!strcmp(op, "quit")) {
            free(op);
            break;
        }
        wait_taken((unsigned long long)num(line, "sent", 0));
        if (!strcmp(op, "setup")) setup(id, line);
        else if (!strcmp(op, "socket")) call_socket(id, line);
        else if (!strcmp(op, "bind")) call_bind_connect(id, line, 0);
        else if (!strcmp(op, "connect")) call_bind_connect(id, line, 1);
        else if (!strcmp(op, "listen")) {
            if (lwip_listen((int)num(line, "fd", -1), (int)num(line, "backlog", 1)) < 0) fail(id, errno);
            else reply(id, "\"ok\": true");
        }
        else if (!strcmp(op, "accept")) call_accept(id, line);
        else if (!strcmp(op, "send")) call_send(id, line);
        else if (!strcmp(op, "recv")) call_recv(id, line);
        else if (!strcmp(op, "shutdown")) call_shutdown(id, line);
        else if (!strcmp(op, "close")) call_close(id, line);
        else if (!strcmp(op, "setsockopt")) call_sockopt(id, line, 1);
        else if (!strcmp(op, "getsockopt")) call_sockopt(id, line, 0);
        else if (!strcmp(op, "poll")) call_poll(id, line);
        else if (!strcmp(op, "state")) call_state(id, line);
        else if (!strcmp(op, "conn_state")) call_conn_state(id, line);
        else {
            fprintf(stderr, "lwip-dut: unknown op %s\n", op);
            fail(id, EOPNOTSUPP);
        }
        free(op);
    }
    free(line);
    return 0;
}
