/* SPDX-License-Identifier: MIT */
/*
 * net.h - listening sockets. A socket is bound once (so a second daemon on
 * the same port fails with "address in use" instead of silently sharing
 * it) and then watched by every event-loop thread; whichever loop is free
 * accepts, which balances load without SO_REUSEPORT.
 */
#ifndef MSS_CORE_NET_H
#define MSS_CORE_NET_H

#include <stddef.h>
#include <sys/socket.h>

#include <event2/listener.h>

struct loop;

/* net_listen - bind and listen on "host:port" or "[v6]:port". */
int net_listen(const char *hostport, int *fd_r, char *err, size_t errlen);
/* net_attach - watch fd (not owned; the caller closes it) on loop l. */
struct evconnlistener *net_attach(struct loop *l, int fd,
				  evconnlistener_cb cb, void *arg);
/* net_nodelay - no Nagle on a connected TCP socket: our replies are
 * written whole, and Nagle waiting for the peer's delayed ACK costs 40 ms
 * per pipelined exchange. Failure is harmless (a Unix socket). */
void net_nodelay(int fd);
/* net_addr_str - "127.0.0.1" or "::1" into out. */
void net_addr_str(const struct sockaddr *sa, char *out, size_t size);

#endif
