/* SPDX-License-Identifier: MIT */
/* net.c - binding listeners and watching them from each loop. */
#include "net.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <arpa/inet.h>
#include <unistd.h>

#include "err.h"
#include "loop.h"
#include "str.h"

int
net_listen(const char *hostport, int *fd_r, char *err, size_t errlen)
{
	char host[256], port[16];
	const char *colon = strrchr(hostport, ':');
	struct addrinfo hints, *res = NULL;
	int fd = -1, one = 1;

	if (colon == NULL) {
		snprintf(err, errlen, "%s: expected host:port", hostport);
		return ERR_INVAL;
	}
	const char *h = hostport;
	size_t hlen = (size_t)(colon - hostport);
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (str_copyn(host, sizeof(host), h, hlen) < 0 ||
	    str_copy(port, sizeof(port), colon + 1) < 0) {
		snprintf(err, errlen, "%s: address too long", hostport);
		return ERR_LIMIT;
	}
	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	int gr = getaddrinfo(host[0] ? host : NULL, port, &hints, &res);
	if (gr != 0) {
		snprintf(err, errlen, "%s: %s", hostport, gai_strerror(gr));
		return ERR_INVAL;
	}
	fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd < 0)
		goto fail;
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one)) != 0)
		goto fail;
	if (res->ai_family == AF_INET6 &&
	    setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof(one)) != 0)
		goto fail;
	if (bind(fd, res->ai_addr, res->ai_addrlen) != 0)
		goto fail;
	if (listen(fd, 1024) != 0)
		goto fail;
	freeaddrinfo(res);
	*fd_r = fd;
	return 0;
fail:
	snprintf(err, errlen, "%s: %s", hostport, strerror(errno));
	if (fd >= 0)
		close(fd);
	freeaddrinfo(res);
	return ERR_IO;
}

struct evconnlistener *
net_attach(struct loop *l, int fd, evconnlistener_cb cb, void *arg)
{
	return evconnlistener_new(loop_base(l), cb, arg,
	    LEV_OPT_CLOSE_ON_EXEC, -1, fd);
}

void
net_addr_str(const struct sockaddr *sa, char *out, size_t size)
{
	const void *a = NULL;
	if (sa->sa_family == AF_INET)
		a = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
	else if (sa->sa_family == AF_INET6)
		a = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
	if (a == NULL || inet_ntop(sa->sa_family, a, out, (socklen_t)size)
	    == NULL)
		str_copy(out, size, "unknown");
}

void
net_nodelay(int fd)
{
	int one = 1;
	(void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
}
